/// Turning `Request`s into frames and reply bodies into `Response`s, with the chroot applied.
import ZKCore
import ZKProtocol

enum RequestCodec {
    /// The opcode Java's client uses for a request.
    static func opCode(_ request: Request) -> OpCode {
        switch request {
        case .create(_, _, _, let mode, _, let withStat):
            if mode.isContainer { return .createContainer }
            if mode.isTTL { return .createTTL }
            return withStat ? .create2 : .create
        case .delete: return .delete
        case .exists: return .exists
        case .getData, .getConfig: return .getData
        case .setData: return .setData
        case .getACL: return .getACL
        case .setACL: return .setACL
        case .getChildren(_, _, let withStat): return withStat ? .getChildren2 : .getChildren
        case .sync: return .sync
        case .check: return .check
        case .multi: return .multi
        case .multiRead: return .multiRead
        case .checkWatches: return .checkWatches
        case .removeWatches: return .removeWatches
        case .addWatch: return .addWatch
        case .getEphemerals: return .getEphemerals
        case .getAllChildrenNumber: return .getAllChildrenNumber
        case .whoAmI: return .whoAmI
        case .reconfig: return .reconfig
        case .addAuth: return .auth
        }
    }

    /// The record after the request header.
    static func body(_ request: Request, _ root: ConnectString) -> [UInt8] {
        var w = JuteWriter()
        let p = { (path: String) in root.serverPath(path) }
        switch request {
        case .create(let path, let data, let acl, let mode, let ttl, _):
            if mode.isTTL {
                CreateTTLRequest(path: p(path), data: data, acl: acl, flags: mode.rawValue, ttl: ttl ?? -1).encode(to: &w)
            } else {
                CreateRequest(path: p(path), data: data, acl: acl, flags: mode.rawValue).encode(to: &w)
            }
        case .delete(let path, let version), .check(let path, let version):
            PathVersionRequest(path: p(path), version: version).encode(to: &w)
        case .exists(let path, let watch), .getData(let path, let watch), .getChildren(let path, let watch, _):
            PathWatchRequest(path: p(path), watch: watch.isSet).encode(to: &w)
        case .getConfig(let watch):
            PathWatchRequest(path: "/zookeeper/config", watch: watch.isSet).encode(to: &w)
        case .setData(let path, let data, let version):
            SetDataRequest(path: p(path), data: data, version: version).encode(to: &w)
        case .getACL(let path), .sync(let path), .getAllChildrenNumber(let path):
            PathRecord(path: p(path)).encode(to: &w)
        case .getEphemerals(let prefix):
            PathRecord(path: root.chroot == nil ? prefix : p(prefix == "" ? "/" : prefix)).encode(to: &w)
        case .setACL(let path, let acl, let version):
            SetACLRequest(path: p(path), acl: acl, version: version).encode(to: &w)
        case .multi(let ops), .multiRead(let ops):
            MultiOp.encode(ops.map { chrooted($0, root) }, to: &w)
        case .checkWatches(let path, let type), .removeWatches(let path, let type):
            PathTypeRequest(path: p(path), type: type.rawValue).encode(to: &w)
        case .addWatch(let path, let mode, _):
            PathTypeRequest(path: p(path), type: mode.rawValue).encode(to: &w)
        case .whoAmI:
            break
        case .reconfig(let joining, let leaving, let newMembers, let fromConfig):
            w.writeString(joining); w.writeString(leaving); w.writeString(newMembers); w.writeLong(fromConfig)
        case .addAuth(let scheme, let auth):
            AuthPacket(scheme: scheme, auth: auth).encode(to: &w)
        }
        return w.bytes
    }

    private static func chrooted(_ op: MultiOp, _ root: ConnectString) -> MultiOp {
        func p(_ s: String) -> String { root.serverPath(s) }
        switch op {
        case .create(let code, var r): r.path = p(r.path); return .create(code, r)
        case .createTTL(var r): r.path = p(r.path); return .createTTL(r)
        case .delete(var r): r.path = p(r.path); return .delete(r)
        case .check(var r): r.path = p(r.path); return .check(r)
        case .setData(var r): r.path = p(r.path); return .setData(r)
        case .getChildren(var r): r.path = p(r.path); return .getChildren(r)
        case .getData(var r): r.path = p(r.path); return .getData(r)
        }
    }

    /// Decodes a successful reply's body.
    static func response(_ request: Request, _ op: OpCode, _ r: inout JuteReader, _ root: ConnectString) throws -> Response {
        switch request {
        case .create:
            let path = root.clientPath(try r.readNonNullString())
            let stat: Stat? = (op == .create2 || op == .createTTL || op == .createContainer) && r.remaining >= 68 ? try Stat(from: &r) : nil
            return .created(path: path, stat: stat)
        case .delete, .checkWatches, .removeWatches, .addAuth:
            return .none
        case .exists, .setData, .setACL, .check:
            return r.remaining >= 68 ? .stat(try Stat(from: &r)) : .none
        case .getData, .getConfig, .reconfig:
            return .data(try r.readBuffer(), try Stat(from: &r))
        case .getACL:
            return .acl(try r.readVector(ACL.self) ?? [], try Stat(from: &r))
        case .getChildren(_, _, let withStat):
            let children = try r.readStringVector() ?? []
            return .children(children, withStat ? try Stat(from: &r) : nil)
        case .sync:
            return .path(root.clientPath(try r.readNonNullString()))
        case .multi, .multiRead:
            return .multi(try MultiResult.decode(from: &r).map { unchrooted($0, root) })
        case .addWatch:
            return .none
        case .getEphemerals:
            return .strings((try r.readStringVector() ?? []).map(root.clientPath))
        case .getAllChildrenNumber:
            return .count(try r.readInt())
        case .whoAmI:
            return .clientInfo(try r.readVector(ClientInfo.self) ?? [])
        }
    }

    private static func unchrooted(_ result: MultiResult, _ root: ConnectString) -> MultiResult {
        switch result {
        case .create(let path): return .create(path: root.clientPath(path))
        case .create2(let path, let stat): return .create2(path: root.clientPath(path), stat: stat)
        case .delete, .setData, .check, .getChildren, .getData, .error: return result
        }
    }
}
