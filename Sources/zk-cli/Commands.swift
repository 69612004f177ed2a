/// The znode commands of zkCli 3.8 (`org.apache.zookeeper.cli.*Command`): the same argument checks in
/// the same order, the same output on the same stream, the same exception texts.
import ZKClient
import ZKCore
import ZKProtocol

extension Shell {
    func runCommand(_ cmd: String, _ args: [String]) throws {
        switch cmd {
        case "ls": try ls(args)
        case "get": try get(args)
        case "set": try set(args)
        case "create": try create(args)
        case "delete": try delete(args)
        case "deleteall": try deleteAll(args)
        case "stat": try stat(args)
        case "getAcl": try getAcl(args)
        case "setAcl": try setAcl(args)
        case "sync": try sync(args)
        case "addauth": try addAuth(args)
        case "close": session.close()
        case "config": try config(args)
        case "reconfig": try reconfig(args)
        case "removewatches": try removeWatches(args)
        case "getEphemerals": try getEphemerals(args)
        case "getAllChildrenNumber": try getAllChildrenNumber(args)
        case "addWatch": try addWatch(args)
        case "whoami": try whoAmI()
        case "version": try version(args)
        case "setquota": try setQuota(args)
        case "listquota": try listQuota(args)
        case "delquota": try delQuota(args)
        default: break  // history, redo, printwatches, connect, quit: done by the shell
        }
    }

    // MARK: Helpers shared by the commands

    func parse(_ specs: OptionSpecs, _ args: [String]) throws(CliFailure) -> ParsedCommandLine {
        do {
            return try OptionParser.parse(specs, args)
        } catch {
            throw CliFailure(message: error.description)
        }
    }

    func usageFailure(_ cmd: String) -> CliFailure { CliFailure(message: Shell.usageString(cmd)) }

    /// `MalformedPathException` for an invalid path (Java's client validates before sending).
    func validate(_ path: String) throws(CliFailure) {
        if let error = JavaText.pathError(path) { throw CliFailure(message: error) }
    }

    /// `KeeperException.getMessage()`.
    static func keeperMessage(_ error: ZooKeeperError) -> String {
        "KeeperErrorCode = \(error.code.javaName)" + (error.path.map { $0.isEmpty ? "" : " for \($0)" } ?? "")
    }

    /// `CliWrapperException`'s message for a KeeperException.
    static func wrapperMessage(_ error: ZooKeeperError) -> String {
        let path = error.path ?? "null"
        switch error.code {
        case .noNode: return "Node does not exist: \(path)"
        case .noChildrenForEphemerals: return "Ephemerals cannot have children: \(path)"
        case .nodeExists: return "Node already exists: \(path)"
        case .notEmpty: return "Node not empty: \(path)"
        case .notReadOnly: return "Not a read-only call: \(path)"
        case .invalidACL: return "Acl is not valid : \(path)"
        case .noAuth: return "Insufficient permission : \(path)"
        case .badArguments: return "Arguments are not valid : \(path)"
        case .badVersion: return "version No is not valid : \(path)"
        case .reconfigInProgress: return "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
        case .newConfigNoQuorum:
            return "No quorum of new config is connected and up-to-date with the leader of last commmitted config - try invoking reconfiguration after new servers are connected and synced"
        case .quotaExceeded: return "Quota has exceeded : \(path)"
        default: return keeperMessage(error)
        }
    }

    /// Sends a request; a server error becomes the command's CliWrapperException.
    func call(_ request: Request, errorPath: String?? = .none) throws -> Response {
        switch try session.call(request, errorPath: errorPath) {
        case .success(let response): return response
        case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
        }
    }

    func printStat(_ stat: Stat) {
        for line in JavaText.statLines(stat) { console.out(line) }
    }

    func getData(_ path: String, watch: Bool) throws -> ([UInt8]?, Stat) {
        guard case .data(let data, let stat) = try call(.getData(path: path, watch: watch ? .default : .none)) else {
            throw CliFailure(message: Shell.keeperMessage(ZooKeeperError(.marshallingError, path: path)))
        }
        return (data, stat)
    }

    func getChildren(_ path: String, watch: Bool, withStat: Bool = false) throws -> ([String], Stat?) {
        guard case .children(let children, let stat) = try call(.getChildren(path: path, watch: watch ? .default : .none, withStat: withStat)) else {
            throw CliFailure(message: Shell.keeperMessage(ZooKeeperError(.marshallingError, path: path)))
        }
        return (children, stat)
    }

    /// `exists`: nil for a node that does not exist.
    func exists(_ path: String, watch: Bool = false) throws -> Stat? {
        switch try session.call(.exists(path: path, watch: watch ? .default : .none)) {
        case .success(.stat(let stat)): return stat
        case .success: return nil
        case .failure(let error) where error.code == .noNode: return nil
        case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
        }
    }

    /// `ZKUtil.visitSubTreeDFS`: the node, then each level's children sorted, depth first.
    func visitSubTree(_ path: String, watch: Bool, _ visit: (String) throws -> Void) throws {
        try validate(path)
        _ = try getData(path, watch: watch)
        try visit(path)
        try visitChildren(path, watch: watch, visit)
    }

    private func visitChildren(_ path: String, watch: Bool, _ visit: (String) throws -> Void) throws {
        let children: [String]
        switch try session.call(.getChildren(path: path, watch: watch ? .default : .none, withStat: false)) {
        case .success(.children(let list, _)): children = list.sorted(by: JavaText.less)
        case .success: children = []
        case .failure(let error) where error.code == .noNode: return  // deleted meanwhile
        case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
        }
        let base = path == "/" ? "/" : path + "/"
        for child in children { try visit(base + child) }
        for child in children { try visitChildren(base + child, watch: watch, visit) }
    }

    /// Java's `getData(...)` text: the bytes as UTF-8, or "null".
    static func text(_ data: [UInt8]?) -> String { data.map(JavaText.utf8) ?? "null" }

    /// `retainCompatibility` of ls/get/stat: a third argument is the old `watch` flag; zkCli
    /// overwrites the third token with -w and parses again.
    func retainWatchCompatibility(_ cmd: String, _ specs: OptionSpecs, _ tokens: [String], _ parsed: ParsedCommandLine,
                                  newUsage: String) throws(CliFailure) -> ParsedCommandLine {
        guard parsed.args.count > 2 else { return parsed }
        var rewritten = tokens
        rewritten[2] = "-w"
        console.err("'\(cmd) path [watch]' has been deprecated. Please use '\(newUsage)' instead.")
        return try parse(specs, rewritten)
    }

    // MARK: Commands

    static let lsSpecs = OptionSpecs([OptionSpec(name: "?", hasArg: false, description: "help"),
                                      OptionSpec(name: "s", hasArg: false, description: "stat"),
                                      OptionSpec(name: "w", hasArg: false, description: "watch"),
                                      OptionSpec(name: "R", hasArg: false, description: "recurse")])

    func ls(_ tokens: [String]) throws {
        var cl = try parse(Shell.lsSpecs, tokens)
        if cl.has("?") {
            for line in ["usage: ls [options] path", " -?   help", " -R   recurse", " -s   stat", " -w   watch"] { console.out(line) }
        }
        cl = try retainWatchCompatibility("ls", Shell.lsSpecs, tokens, cl, newUsage: "ls [-w] path")
        guard cl.args.count >= 2 else { throw usageFailure("ls") }
        let path = cl.args[1]
        let watch = cl.has("w")
        if cl.has("R") {
            try visitSubTree(path, watch: watch) { console.out($0) }
            return
        }
        try validate(path)
        let (children, stat) = try getChildren(path, watch: watch, withStat: cl.has("s"))
        console.outRaw(JavaText.list(children.sorted(by: JavaText.less)) + "\n")
        if cl.has("s"), let stat { printStat(stat) }
    }

    static let getSpecs = OptionSpecs([OptionSpec(name: "s", hasArg: false, description: "stats"),
                                       OptionSpec(name: "w", hasArg: false, description: "watch")])

    func get(_ tokens: [String]) throws {
        var cl = try parse(Shell.getSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("get") }
        cl = try retainWatchCompatibility("get", Shell.getSpecs, tokens, cl, newUsage: "get [-s] [-w] path")
        let path = cl.args[1]
        try validate(path)
        let (data, stat) = try getData(path, watch: cl.has("w"))
        console.out(Shell.text(data))
        if cl.has("s") || compat34 { printStat(stat) }
    }

    static let setSpecs = OptionSpecs([OptionSpec(name: "s", hasArg: false, description: "stats"),
                                       OptionSpec(name: "v", hasArg: true, description: "version")])

    func set(_ tokens: [String]) throws {
        let cl = try parse(Shell.setSpecs, tokens)
        guard cl.args.count >= 3 else { throw usageFailure("set") }
        let path = cl.args[1]
        let data = Array(cl.args[2].utf8)
        // zkCli 3.4: `set path data [version]`, and the stat block always follows.
        let positionalVersion = compat34 && cl.args.count >= 4 ? cl.args[3] : nil
        let version = try (cl.value("v") ?? positionalVersion).map(JavaText.parseInt) ?? -1
        try validate(path)
        guard case .stat(let stat) = try call(.setData(path: path, data: data, version: version)) else { return }
        if cl.has("s") || compat34 { printStat(stat) }
    }

    static let statSpecs = OptionSpecs([OptionSpec(name: "w", hasArg: false, description: "watch")])

    func stat(_ tokens: [String]) throws {
        var cl = try parse(Shell.statSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("stat") }
        cl = try retainWatchCompatibility("stat", Shell.statSpecs, tokens, cl, newUsage: "stat [-w] path")
        let path = cl.args[1]
        try validate(path)
        guard let stat = try exists(path, watch: cl.has("w")) else {
            throw CliFailure(message: Shell.wrapperMessage(ZooKeeperError(.noNode, path: path)))
        }
        printStat(stat)
    }

    static let deleteSpecs = OptionSpecs([OptionSpec(name: "v", hasArg: true, description: "version")])

    func delete(_ tokens: [String]) throws {
        let cl = try parse(Shell.deleteSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("delete") }
        if cl.args.count > 2 {
            console.err("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.")
        }
        let path = cl.args[1]
        let version = try cl.value("v").map(JavaText.parseInt) ?? -1
        try validate(path)
        _ = try call(.delete(path: path, version: version))
    }

    static let deleteAllSpecs = OptionSpecs([OptionSpec(name: "b", hasArg: true, description: "batch size")])

    func deleteAll(_ tokens: [String]) throws {
        let cl = try parse(Shell.deleteAllSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("deleteall") }
        var batchSize: Int32 = 1000
        if let b = cl.value("b") {
            guard let v = JavaText.parseLong(b), let i = Int32(exactly: v) else {
                throw CliFailure(message: "-b argument must be an int value")
            }
            batchSize = i
        }
        let path = cl.args[1]
        try validate(path)
        // ZKUtil.deleteRecursive: list the tree breadth first, delete it leaves first in multis.
        var tree = [path]
        var next = 0
        while next < tree.count {
            let node = tree[next]
            next += 1
            let (children, _) = try getChildren(node, watch: false)
            for child in children { tree.append((node == "/" ? "" : node) + "/" + child) }
        }
        var ops: [MultiOp] = []
        var success = true
        for i in stride(from: tree.count - 1, through: 0, by: -1) {
            ops.append(.delete(PathVersionRequest(path: tree[i], version: -1)))
            if ops.count == Int(batchSize) || i == 0 {
                if !success { break }
                success = multiSucceeded(ops)
                ops = []
            }
        }
        if !success { console.err("Failed to delete some node(s) in the subtree!") }
    }

    private func multiSucceeded(_ ops: [MultiOp]) -> Bool {
        guard case .success(.multi(let results))? = try? session.call(.multi(ops)) else { return false }
        return !results.contains { if case .error(let code) = $0 { return code != .ok } else { return false } }
    }

    static let createSpecs = OptionSpecs([OptionSpec(name: "e", hasArg: false, description: "ephemeral"),
                                          OptionSpec(name: "s", hasArg: false, description: "sequential"),
                                          OptionSpec(name: "c", hasArg: false, description: "container"),
                                          OptionSpec(name: "t", hasArg: true, description: "ttl")])

    func create(_ tokens: [String]) throws {
        let cl = try parse(Shell.createSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("create") }
        let (hasE, hasS, hasC, hasT) = (cl.has("e"), cl.has("s"), cl.has("c"), cl.has("t"))
        if hasC && (hasE || hasS) {
            throw CliFailure(message: "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.")
        }
        var ttl: Int64 = 0
        if hasT {
            guard let t = JavaText.parseLong(cl.value("t") ?? "") else { throw CliFailure(message: "-t argument must be a long value") }
            ttl = t
        }
        if hasT && hasE { throw CliFailure(message: "TTLs cannot be used with Ephemeral znodes") }
        if hasT && hasC { throw CliFailure(message: "TTLs cannot be used with Container znodes") }
        let mode: CreateMode
        if hasE && hasS {
            mode = .ephemeralSequential
        } else if hasE {
            mode = .ephemeral
        } else if hasS {
            mode = hasT ? .persistentSequentialWithTTL : .persistentSequential
        } else if hasC {
            mode = .container
        } else {
            mode = hasT ? .persistentWithTTL : .persistent
        }
        if hasT && (ttl <= 0 || ttl > EphemeralOwner.ttlMax) {
            throw CliFailure(message: "ttl must be positive and cannot be larger than: \(EphemeralOwner.ttlMax)")
        }
        let path = cl.args[1]
        let data = cl.args.count > 2 ? Array(cl.args[2].utf8) : nil
        let acl = cl.args.count > 3 ? parseACL(cl.args[3]) : ACL.openACLUnsafe
        try validate(mode.isSequential ? path + "1" : path)
        if acl.isEmpty {
            console.err("KeeperErrorCode = InvalidACL")
            throw CliFailure(message: "Acl is not valid : null")
        }
        switch try session.call(.create(path: path, data: data, acl: acl, mode: mode, ttl: hasT ? ttl : nil, withStat: hasT)) {
        case .success(.created(let actual, _)):
            console.err("Created \(actual)")
        case .success:
            break
        case .failure(let error):
            if error.code == .ephemeralOnLocalSession { console.err("Unable to create ephemeral node on a local session") }
            if error.code == .invalidACL { console.err(Shell.keeperMessage(error)) }
            throw CliFailure(message: Shell.wrapperMessage(error))
        }
    }

    /// `AclParser.parse`: `scheme:id:perms` entries separated by commas; malformed entries and
    /// unknown permission letters are reported on stderr and skipped.
    func parseACL(_ text: String) -> [ACL] {
        var result: [ACL] = []
        for entry in JavaText.split(text, ",") {
            guard let first = entry.firstIndex(of: ":"), let last = entry.lastIndex(of: ":"), first != last else {
                console.err("\(entry) does not have the form scheme:id:perm")
                continue
            }
            var perms: Int32 = 0
            for c in entry[entry.index(after: last)...] {
                switch c {
                case "r": perms |= Permissions.read.rawValue
                case "w": perms |= Permissions.write.rawValue
                case "c": perms |= Permissions.create.rawValue
                case "d": perms |= Permissions.delete.rawValue
                case "a": perms |= Permissions.admin.rawValue
                default: console.err("Unknown perm type: \(c)")
                }
            }
            let id = Id(scheme: String(entry[..<first]), id: String(entry[entry.index(after: first)..<last]))
            result.append(ACL(perms: perms, id: id))
        }
        return result
    }

    static let getAclSpecs = OptionSpecs([OptionSpec(name: "s", hasArg: false, description: "stats")])

    func getAcl(_ tokens: [String]) throws {
        let cl = try parse(Shell.getAclSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("getAcl") }
        let path = cl.args[1]
        try validate(path)
        guard case .acl(let acl, let stat) = try call(.getACL(path: path)) else { return }
        for entry in acl { console.out(JavaText.idString(entry.id) + ": " + JavaText.permString(entry.perms)) }
        if cl.has("s") { printStat(stat) }
    }

    static let setAclSpecs = OptionSpecs([OptionSpec(name: "s", hasArg: false, description: "stats"),
                                          OptionSpec(name: "v", hasArg: true, description: "version"),
                                          OptionSpec(name: "R", hasArg: false, description: "recursive")])

    func setAcl(_ tokens: [String]) throws {
        let cl = try parse(Shell.setAclSpecs, tokens)
        guard cl.args.count >= 3 else { throw usageFailure("setAcl") }
        let path = cl.args[1]
        let acl = parseACL(cl.args[2])
        let version = try cl.value("v").map(JavaText.parseInt) ?? -1
        if cl.has("R") {
            try visitSubTree(path, watch: false) { node in
                if acl.isEmpty {
                    console.outRaw("KeeperErrorCode = InvalidACL")
                } else if case .failure(let error) = try session.call(.setACL(path: node, acl: acl, version: version)) {
                    console.outRaw(Shell.keeperMessage(error))
                }
            }
            return
        }
        try validate(path)
        if acl.isEmpty { throw CliFailure(message: "Acl is not valid : null") }
        guard case .stat(let stat) = try call(.setACL(path: path, acl: acl, version: version)) else { return }
        if cl.has("s") { printStat(stat) }
    }

    func sync(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        guard cl.args.count >= 2 else { throw usageFailure("sync") }
        let path = cl.args[1]
        try validate(path)
        switch try session.call(.sync(path: path)) {
        case .success: console.out("Sync is OK")
        case .failure(let error): console.out("Sync has failed. rc=\(error.code.rawValue)")
        }
    }

    func addAuth(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        guard cl.args.count >= 2 else { throw usageFailure("addauth") }
        try session.addAuth(scheme: cl.args[1], auth: cl.args.count >= 3 ? Array(cl.args[2].utf8) : [])
    }

    static let removeWatchesSpecs = OptionSpecs([OptionSpec(name: "c", hasArg: false, description: "child watcher type"),
                                                 OptionSpec(name: "d", hasArg: false, description: "data watcher type"),
                                                 OptionSpec(name: "a", hasArg: false, description: "any watcher type"),
                                                 OptionSpec(name: "l", hasArg: false, description: "remove locally when there is no server connection")])

    func removeWatches(_ tokens: [String]) throws {
        let cl = try parse(Shell.removeWatchesSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("removewatches") }
        let path = cl.args[1]
        let type: WatcherType = cl.has("c") ? .children : cl.has("d") ? .data : .any
        try validate(path)
        _ = try call(.removeWatches(path: path, type: type))
    }

    func getEphemerals(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        let prefix = cl.args.count < 2 ? "/" : cl.args[1]
        try validate(prefix)
        guard let chroot = session.chroot else {
            guard case .strings(let paths) = try call(.getEphemerals(prefix: prefix), errorPath: .some(nil)) else { return }
            console.out(JavaText.list(paths))
            return
        }
        // Java 3.8 sends the prefix without the chroot and prints the server's paths as they are. A chrooted
        // session's ephemerals all lie in its chroot: ask for all of them and filter like the server would.
        guard case .strings(let paths) = try call(.getEphemerals(prefix: "/"), errorPath: .some(nil)) else { return }
        let serverPaths = paths.map { $0 == "/" ? chroot : chroot + $0 }
        console.out(JavaText.list(serverPaths.filter { $0.hasPrefix(prefix) }))
    }

    func getAllChildrenNumber(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        guard cl.args.count >= 2 else { throw usageFailure("getAllChildrenNumber") }
        let path = cl.args[1]
        try validate(path)
        guard case .count(let count) = try call(.getAllChildrenNumber(path: path)) else { return }
        console.out("\(count)")
    }

    static let addWatchSpecs = OptionSpecs([OptionSpec(name: "m", hasArg: true, description: "")])

    func addWatch(_ tokens: [String]) throws {
        let cl = try parse(Shell.addWatchSpecs, tokens)
        guard cl.args.count == 2 else { throw usageFailure("addWatch") }
        if let m = cl.value("m") {
            switch m.uppercased() {
            case "PERSISTENT": addWatchMode = .persistent
            case "PERSISTENT_RECURSIVE": addWatchMode = .persistentRecursive
            default: throw usageFailure("addWatch")
            }
        }
        let path = cl.args[1]
        // AddWatchCommand does not catch IllegalArgumentException: a bad path kills zkCli.
        if let error = JavaText.pathError(path) { throw JavaCrash.illegalArgument(error) }
        _ = try call(.addWatch(path: path, mode: addWatchMode, watch: .default))
    }

    func whoAmI() throws {
        let infos: [ClientInfo]
        switch try session.call(.whoAmI) {
        case .success(.clientInfo(let list)): infos = list
        case .success, .failure: infos = []  // Java ignores the reply's error and prints no entries
        }
        console.out("Auth scheme: User")
        for info in infos { console.out("\(info.authScheme): \(info.user)") }
    }

    func version(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        guard cl.args.count <= 1 else { throw usageFailure("version") }
        console.out("ZooKeeper CLI version: \(Shell.versionString)")
    }

    static let versionString = ServerVersion.full
}
