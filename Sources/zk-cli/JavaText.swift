/// The bits of Java's standard library whose exact behaviour shows in zkCli's output: `String.split`,
/// `Integer.parseInt`/`decode` and their NumberFormatException texts, string ordering, `List.toString`,
/// `PathUtils.validatePath`, and the formats of `StatPrinter`, `Id.toString()` and `ZKUtil.getPermString`.
import ZKCore
import ZKProtocol

/// An uncaught Java exception: zkCli dies with `Exception in thread "main" <class>: <message>`, exit 1.
struct JavaCrash: Error {
    var exceptionClass: String
    var message: String
    var line: String { "Exception in thread \"main\" \(exceptionClass): \(message)" }

    static func numberFormat(_ message: String) -> JavaCrash {
        JavaCrash(exceptionClass: "java.lang.NumberFormatException", message: message)
    }
    static func illegalArgument(_ message: String) -> JavaCrash {
        JavaCrash(exceptionClass: "java.lang.IllegalArgumentException", message: message)
    }
}

enum JavaText {
    /// `s.split(String.valueOf(separator))`: trailing empty strings are dropped; no match gives `[s]`.
    static func split(_ s: String, _ separator: Character) -> [String] {
        guard s.contains(separator) else { return [s] }
        var parts = s.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        while let last = parts.last, last.isEmpty { parts.removeLast() }
        return parts
    }

    static func inputStringMessage(_ s: String, radix: Int = 10) -> String {
        "For input string: \"\(s)\"" + (radix == 10 ? "" : " under radix \(radix)")
    }

    /// `Long.parseLong(s, radix)`; nil where Java throws NumberFormatException.
    static func parseLong(_ s: String, radix: Int = 10) -> Int64? {
        var body = Substring(s)
        var negative = false
        if let first = body.first, first == "-" || first == "+" {
            negative = first == "-"
            body = body.dropFirst()
        }
        guard !body.isEmpty else { return nil }
        var value: Int64 = 0  // accumulated negatively, like Java, so Long.MIN_VALUE parses
        for c in body {
            guard let digit = c.hexDigitValue, digit < radix, c.isASCII else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: Int64(radix))
            let (d, o2) = m.subtractingReportingOverflow(Int64(digit))
            if o1 || o2 { return nil }
            value = d
        }
        if negative { return value }
        return value == Int64.min ? nil : -value
    }

    /// `Integer.parseInt(s)`, throwing Java's NumberFormatException.
    static func parseInt(_ s: String) throws(JavaCrash) -> Int32 {
        guard let v = parseLong(s), let i = Int32(exactly: v) else { throw .numberFormat(inputStringMessage(s)) }
        return i
    }

    /// `Integer.decode(s)` (redo's index): sign, then 0x/0X/# for hex or a leading 0 for octal.
    static func decodeInt(_ s: String) throws(JavaCrash) -> Int32 {
        guard !s.isEmpty else { throw .numberFormat("Zero length string") }
        var index = s.startIndex
        var negative = false
        if s[index] == "-" || s[index] == "+" {
            negative = s[index] == "-"
            index = s.index(after: index)
        }
        var radix = 10
        let rest = s[index...]
        if rest.hasPrefix("0x") || rest.hasPrefix("0X") {
            radix = 16
            index = s.index(index, offsetBy: 2)
        } else if rest.hasPrefix("#") {
            radix = 16
            index = s.index(after: index)
        } else if rest.hasPrefix("0") && rest.count > 1 {
            radix = 8
            index = s.index(after: index)
        }
        let digits = String(s[index...])
        if digits.hasPrefix("-") || digits.hasPrefix("+") { throw .numberFormat("Sign character in wrong position") }
        let constant = negative ? "-" + digits : digits
        guard let v = parseLong(constant, radix: radix), let i = Int32(exactly: v) else {
            throw .numberFormat(inputStringMessage(constant, radix: radix))
        }
        return i
    }

    /// Java's `String.compareTo` order (UTF-16 code units), used by `Collections.sort`.
    static func less(_ a: String, _ b: String) -> Bool {
        a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    /// `List<String>.toString()`.
    static func list(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

    static func hex(_ v: Int64) -> String { String(UInt64(bitPattern: v), radix: 16) }

    /// `PathUtils.validatePath`: nil if valid, else the IllegalArgumentException message.
    static func pathError(_ path: String) -> String? {
        let chars = Array(path.utf16)
        if chars.isEmpty { return "Path length must be > 0" }
        if chars[0] != 0x2F { return "Path must start with / character" }
        if chars.count == 1 { return nil }
        if chars[chars.count - 1] == 0x2F { return "Path must not end with / character" }
        var reason: String?
        var last: UInt16 = 0x2F
        var i = 1
        while i < chars.count {
            let c = chars[i]
            let dot: UInt16 = 0x2E
            let endsComponent = i + 1 == chars.count || chars[i + 1] == 0x2F
            if c == 0 {
                reason = "null character not allowed @\(i)"
            } else if c == 0x2F && last == 0x2F {
                reason = "empty node name specified @\(i)"
            } else if c == dot && last == dot {
                if chars[i - 2] == 0x2F && endsComponent { reason = "relative paths not allowed @\(i)" }
            } else if c == dot {
                if chars[i - 1] == 0x2F && endsComponent { reason = "relative paths not allowed @\(i)" }
            } else if (c > 0 && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) || (c >= 0xD800 && c <= 0xF8FF) || c >= 0xFFF0 {
                reason = "invalid character @\(i)"
            }
            if reason != nil { break }
            last = c
            i += 1
        }
        return reason.map { "Invalid path string \"\(path)\" caused by \($0)" }
    }

    /// `StatPrinter.print`.
    static func statLines(_ stat: Stat) -> [String] {
        [
            "cZxid = 0x\(hex(stat.czxid))",
            "ctime = \(JavaDate.string(fromEpochMs: stat.ctime))",
            "mZxid = 0x\(hex(stat.mzxid))",
            "mtime = \(JavaDate.string(fromEpochMs: stat.mtime))",
            "pZxid = 0x\(hex(stat.pzxid))",
            "cversion = \(stat.cversion)",
            "dataVersion = \(stat.version)",
            "aclVersion = \(stat.aversion)",
            "ephemeralOwner = 0x\(hex(stat.ephemeralOwner))",
            "dataLength = \(stat.dataLength)",
            "numChildren = \(stat.numChildren)",
        ]
    }

    /// `ZKUtil.getPermString`: the letters in the order c, d, r, w, a.
    static func permString(_ perms: Int32) -> String {
        var s = ""
        if perms & Permissions.create.rawValue != 0 { s += "c" }
        if perms & Permissions.delete.rawValue != 0 { s += "d" }
        if perms & Permissions.read.rawValue != 0 { s += "r" }
        if perms & Permissions.write.rawValue != 0 { s += "w" }
        if perms & Permissions.admin.rawValue != 0 { s += "a" }
        return s
    }

    /// The jute-generated `Id.toString()` (ToStringOutputArchive): `'scheme,'id` and a newline.
    static func idString(_ id: Id) -> String {
        "\(juteString(id.scheme)),\(juteString(id.id))\n"
    }

    private static func juteString(_ s: String) -> String {
        var result = "'"
        for c in s.unicodeScalars {
            switch c {
            case "\0": result += "%00"
            case "\n": result += "%0A"
            case "\r": result += "%0D"
            case ",": result += "%2C"
            case "}": result += "%7D"
            case "%": result += "%25"
            default: result.unicodeScalars.append(c)
            }
        }
        return result
    }

    /// `new String(bytes, UTF_8)`.
    static func utf8(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
