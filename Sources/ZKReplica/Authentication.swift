/// Authentication providers and ACL checks, as Apache ZooKeeper's `digest` and `ip` providers,
/// `ZooKeeperServer.checkACL` and `PrepRequestProcessor.fixupACL` define them.
///
/// A connection's identities (`authInfo`) start with `ip:<client address>`; `addauth digest u:p` adds
/// `digest:u:base64(sha1(u:p))`, and `super:` when that digest equals the configured superDigest.
import ZKCore
import ZKProtocol

public enum Authentication {
    /// The schemes with a server-side provider. `world` and `auth` are handled by the ACL code itself.
    static func isKnownScheme(_ scheme: String) -> Bool { scheme == "digest" || scheme == "ip" }

    /// `isAuthenticated()` of the provider: identities that `auth` ACLs expand to.
    static func isAuthenticatedScheme(_ scheme: String) -> Bool { scheme == "digest" }

    /// Handles an AuthPacket. Returns the identities to add, or nil for AUTHFAILED.
    static func authenticate(scheme: String, auth: [UInt8], remoteIP: String, superDigest: String?) -> [Id]? {
        switch scheme {
        case "digest":
            let text = String(decoding: auth, as: UTF8.self)
            let id = digestId(text)
            var ids = [Id(scheme: "digest", id: id)]
            if let superDigest, id == superDigest { ids.append(Id(scheme: "super", id: "")) }
            return ids
        case "ip":
            return [Id(scheme: "ip", id: remoteIP)]
        default: // over String
            return nil
        }
    }

    /// `user:password` → `user:base64(sha1(user:password))` (`DigestAuthenticationProvider.generateDigest`).
    public static func digestId(_ userPassword: String) -> String {
        let user = userPassword.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return user + ":" + Base64.encode(SHA1.hash(Array(userPassword.utf8)))
    }

    /// The user a whoAmI reply names (`AuthenticationProvider.getUserName`): digest ids drop their hash.
    static func userName(_ id: Id) -> String {
        guard id.scheme == "digest" else { return id.id }
        return String(id.id.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }

    /// Whether an ACL id is well formed for its scheme (`isValid` of the provider).
    static func isValidId(scheme: String, id: String) -> Bool {
        switch scheme {
        case "digest":
            // Java's `id.split(":").length == 2`: trailing empty parts are dropped.
            var parts = id.split(separator: ":", omittingEmptySubsequences: false)
            while parts.last?.isEmpty == true { parts.removeLast() }
            return parts.count == 2
        case "ip":
            return IPAddress.parseACLExpression(id) != nil
        default: // over String
            return false
        }
    }

    /// Whether an authenticated identity satisfies an ACL id of the same scheme.
    static func matches(scheme: String, authId: String, aclId: String) -> Bool {
        switch scheme {
        case "digest": return authId == aclId
        case "ip":
            guard let (network, bits) = IPAddress.parseACLExpression(aclId),
                  let address = IPAddress.parse(authId), address.count == network.count else { return false }
            return IPAddress.matches(address, network: network, prefixBits: bits)
        default: return false // over String
        }
    }

    /// `checkACL`: nil if allowed, NOAUTH otherwise. An empty ACL allows everything; `super` is
    /// allowed everything; a node's entry grants `perm` if any requested bit is in its perms.
    static func check(_ acl: [ACL], perm: Permissions, authInfo: [Id], skipACL: Bool) -> ErrorCode? {
        if skipACL || acl.isEmpty { return nil }
        if authInfo.contains(where: { $0.scheme == "super" }) { return nil }
        for entry in acl where entry.perms & perm.rawValue != 0 {
            if entry.id.scheme == "world" && entry.id.id == "anyone" { return nil }
            guard isKnownScheme(entry.id.scheme) else { continue }
            for auth in authInfo where auth.scheme == entry.id.scheme {
                if matches(scheme: auth.scheme, authId: auth.id, aclId: entry.id.id) { return nil }
            }
        }
        return .noAuth
    }

    /// `fixupACL`: removes duplicates, expands `auth` entries to the caller's authenticated ids and
    /// rejects empty lists and malformed ids with INVALIDACL.
    static func fixup(_ acl: [ACL], authInfo: [Id]) -> Result<[ACL], ErrorCode> {
        var unique: [ACL] = []
        for entry in acl where !unique.contains(entry) { unique.append(entry) }
        if unique.isEmpty { return .failure(.invalidACL) }
        var fixed: [ACL] = []
        for entry in unique {
            if entry.id.scheme == "world" && entry.id.id == "anyone" {
                fixed.append(entry)
            } else if entry.id.scheme == "auth" {
                let ids = authInfo.filter { isAuthenticatedScheme($0.scheme) }
                if ids.isEmpty { return .failure(.invalidACL) }
                for id in ids { fixed.append(ACL(perms: entry.perms, id: id)) }
            } else {
                guard isKnownScheme(entry.id.scheme), isValidId(scheme: entry.id.scheme, id: entry.id.id) else {
                    return .failure(.invalidACL)
                }
                fixed.append(entry)
            }
        }
        return .success(fixed)
    }

    /// getACL without ADMIN permission masks digest ids to `user:x`.
    static func masked(_ acl: [ACL]) -> [ACL] {
        acl.map { entry in
            guard entry.id.scheme == "digest" else { return entry }
            let user = entry.id.id.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return ACL(perms: entry.perms, id: Id(scheme: "digest", id: user + ":x"))
        }
    }
}

/// IPv4/IPv6 literal parsing and prefix matching for `ip` ACLs (`IPAuthenticationProvider`).
enum IPAddress {
    /// 4 or 16 bytes, or nil if `text` is not an address literal.
    static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseIPv6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, let v = Int(p), (0...255).contains(v) else { return nil }
            bytes.append(UInt8(v))
        }
        return bytes
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// `addr[/bits]` → (address bytes, prefix bits).
    static func parseACLExpression(_ expression: String) -> ([UInt8], Int)? {
        let parts = expression.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = parse(String(parts[0])) else { return nil }
        var bits = address.count * 8
        if parts.count == 2 {
            guard let b = Int(parts[1]), b >= 0, b <= address.count * 8 else { return nil }
            bits = b
        }
        return (address, bits)
    }

    static func matches(_ address: [UInt8], network: [UInt8], prefixBits: Int) -> Bool {
        var remaining = prefixBits
        for i in 0..<address.count where remaining > 0 {
            let maskBits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - maskBits))
            if address[i] & mask != network[i] & mask { return false }
            remaining -= maskBits
        }
        return true
    }
}

extension String {
    /// A tiny stdlib-only `components(separatedBy:)` for multi-character separators.
    func components(separatedBy separator: String) -> [String] {
        var result: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            result.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        result.append(String(rest))
        return result
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
