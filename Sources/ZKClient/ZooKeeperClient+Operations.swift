/// Blocking convenience calls, one per operation, for callers that do not pipeline.
import ZKCore
import ZKProtocol

extension ZooKeeperClient {
    /// Creates a node; returns its actual path (sequential nodes get a suffix).
    @discardableResult
    public func create(_ path: String, data: [UInt8]? = [], acl: [ACL] = ACL.openACLUnsafe,
                       mode: CreateMode = .persistent, ttl: Int64? = nil) throws(ZooKeeperError) -> String {
        guard case .created(let actual, _) = try call(.create(path: path, data: data, acl: acl, mode: mode, ttl: ttl, withStat: mode.isTTL)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return actual
    }

    /// Creates a node and returns its path and stat (create2).
    public func createWithStat(_ path: String, data: [UInt8]? = [], acl: [ACL] = ACL.openACLUnsafe,
                               mode: CreateMode = .persistent, ttl: Int64? = nil) throws(ZooKeeperError) -> (String, Stat) {
        guard case .created(let actual, let stat?) = try call(.create(path: path, data: data, acl: acl, mode: mode, ttl: ttl, withStat: true)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return (actual, stat)
    }

    public func delete(_ path: String, version: Int32 = -1) throws(ZooKeeperError) {
        _ = try call(.delete(path: path, version: version))
    }

    /// The node's stat, or nil if it does not exist (a watch is set either way).
    public func exists(_ path: String, watch: Watch = .none) throws(ZooKeeperError) -> Stat? {
        do {
            guard case .stat(let stat) = try call(.exists(path: path, watch: watch)) else { return nil }
            return stat
        } catch where error.code == .noNode {
            return nil
        }
    }

    public func getData(_ path: String, watch: Watch = .none) throws(ZooKeeperError) -> ([UInt8]?, Stat) {
        guard case .data(let data, let stat) = try call(.getData(path: path, watch: watch)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return (data, stat)
    }

    @discardableResult
    public func setData(_ path: String, data: [UInt8]?, version: Int32 = -1) throws(ZooKeeperError) -> Stat {
        guard case .stat(let stat) = try call(.setData(path: path, data: data, version: version)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return stat
    }

    public func getChildren(_ path: String, watch: Watch = .none) throws(ZooKeeperError) -> [String] {
        guard case .children(let children, _) = try call(.getChildren(path: path, watch: watch, withStat: false)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return children
    }

    public func getChildrenWithStat(_ path: String, watch: Watch = .none) throws(ZooKeeperError) -> ([String], Stat) {
        guard case .children(let children, let stat?) = try call(.getChildren(path: path, watch: watch, withStat: true)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return (children, stat)
    }

    public func getACL(_ path: String) throws(ZooKeeperError) -> ([ACL], Stat) {
        guard case .acl(let acl, let stat) = try call(.getACL(path: path)) else { throw ZooKeeperError(.marshallingError, path: path) }
        return (acl, stat)
    }

    @discardableResult
    public func setACL(_ path: String, acl: [ACL], version: Int32 = -1) throws(ZooKeeperError) -> Stat {
        guard case .stat(let stat) = try call(.setACL(path: path, acl: acl, version: version)) else {
            throw ZooKeeperError(.marshallingError, path: path)
        }
        return stat
    }

    public func sync(_ path: String) throws(ZooKeeperError) { _ = try call(.sync(path: path)) }

    /// Runs ops atomically. A failed multi throws the first failing op's error.
    public func multi(_ ops: [MultiOp]) throws(ZooKeeperError) -> [MultiResult] {
        guard case .multi(let results) = try call(.multi(ops)) else { throw ZooKeeperError(.marshallingError) }
        // Java throws the first error result that is not OK (the failing op; RUNTIMEINCONSISTENCY follows it).
        for case .error(let code) in results where code != .ok { throw ZooKeeperError(code) }
        return results
    }

    public func addAuth(scheme: String, auth: [UInt8]) throws(ZooKeeperError) {
        _ = try call(.addAuth(scheme: scheme, auth: auth))
    }

    public func addWatch(_ path: String, mode: AddWatchMode, watch: Watch = .default) throws(ZooKeeperError) {
        _ = try call(.addWatch(path: path, mode: mode, watch: watch))
    }

    public func removeWatches(_ path: String, type: WatcherType) throws(ZooKeeperError) {
        _ = try call(.removeWatches(path: path, type: type))
    }

    public func getEphemerals(prefix: String = "/") throws(ZooKeeperError) -> [String] {
        guard case .strings(let paths) = try call(.getEphemerals(prefix: prefix)) else { throw ZooKeeperError(.marshallingError) }
        return paths
    }

    public func getAllChildrenNumber(_ path: String) throws(ZooKeeperError) -> Int32 {
        guard case .count(let n) = try call(.getAllChildrenNumber(path: path)) else { throw ZooKeeperError(.marshallingError, path: path) }
        return n
    }

    public func whoAmI() throws(ZooKeeperError) -> [ClientInfo] {
        guard case .clientInfo(let infos) = try call(.whoAmI) else { throw ZooKeeperError(.marshallingError) }
        return infos
    }
}
