/// zkCli's quota commands over `/zookeeper/quota` (`SetQuotaCommand`, `ListQuotaCommand`,
/// `DelQuotaCommand`, `Quotas`, `StatsTrack`): a quota on /a lives in
/// /zookeeper/quota/a/zookeeper_limits, and the server keeps the usage in .../zookeeper_stats.
import ZKClient
import ZKProtocol

/// `StatsTrack`: `count=N,bytes=N` and, when set, `=;byteHardLimit=N;countHardLimit=N` (sorted keys).
struct StatsTrack {
    var values: [String: Int64] = [:]

    init() {}

    init(_ text: String) {
        for pair in text.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            let kv = JavaText.split(String(pair), "=")
            guard kv.count >= 1 else { continue }
            values[kv[0]] = kv.count > 1 ? (JavaText.parseLong(kv[1]) ?? -1) : -1
        }
    }

    subscript(key: String) -> Int64 {
        get { values[key] ?? -1 }
        set { values[key] = newValue }
    }

    var description: String {
        var s = "count=\(self["count"]),bytes=\(self["bytes"])"
        let others = values.keys.filter { $0 != "count" && $0 != "bytes" }.sorted(by: JavaText.less)
        if !others.isEmpty {
            s += "="
            for key in others { s += ";\(key)=\(values[key]!)" }
        }
        return s
    }

    var bytes: [UInt8] { Array(description.utf8) }
}

enum Quotas {
    static let procZookeeper = "/zookeeper"
    static let quotaZookeeper = "/zookeeper/quota"
    static let limitNode = "zookeeper_limits"
    static let statNode = "zookeeper_stats"
    static func quotaPath(_ path: String) -> String { quotaZookeeper + path }
    static func limitPath(_ path: String) -> String { quotaZookeeper + path + "/" + limitNode }
    static func statPath(_ path: String) -> String { quotaZookeeper + path + "/" + statNode }
    static func trimQuotaPath(_ path: String) -> String { String(path.dropFirst(quotaZookeeper.count)) }
}

extension Shell {
    static let setQuotaSpecs = OptionSpecs([OptionSpec(name: "n", hasArg: true, description: "num soft quota"),
                                            OptionSpec(name: "b", hasArg: true, description: "bytes soft quota"),
                                            OptionSpec(name: "N", hasArg: true, description: "num hard quota"),
                                            OptionSpec(name: "B", hasArg: true, description: "bytes hard quota")],
                                           group: (["n", "b", "N", "B"], true))

    func setQuota(_ tokens: [String]) throws {
        let cl = try parse(Shell.setQuotaSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("setquota") }
        let path = cl.args[1]
        if path.hasPrefix(Quotas.quotaZookeeper) {
            console.err("cannot set a quota under the path: \(Quotas.quotaZookeeper)")
            return
        }
        var quota = StatsTrack()
        quota["count"] = -1
        quota["bytes"] = -1
        quota["countHardLimit"] = -1
        quota["byteHardLimit"] = -1
        for (option, key, isCount) in [("n", "count", true), ("b", "bytes", false), ("N", "countHardLimit", true), ("B", "byteHardLimit", false)] {
            guard let text = cl.value(option) else { continue }
            guard let value = JavaText.parseLong(text), !isCount || Int32(exactly: value) != nil else {
                console.err("NumberFormatException happens when parsing the option value")
                return
            }
            if isCount && value <= 0 {
                console.err("the num quota must be greater than zero")
                return
            }
            if !isCount && value < 0 {
                console.err("the bytes quota must be greater than or equal to zero")
                return
            }
            quota[key] = value
        }
        try createQuota(path, quota)
    }

    /// `SetQuotaCommand.createQuota`.
    private func createQuota(_ path: String, _ quota: StatsTrack) throws {
        try validate(path)
        guard try exists(path) != nil else { throw CliFailure(message: "\(path) does not exist.") }
        try checkIfChildQuota(path)
        try checkIfParentQuota(path)
        if try exists(Quotas.quotaZookeeper) == nil {
            // Java creates both in one try block: /zookeeper exists, so /zookeeper/quota is skipped.
            if try createIgnoringExisting(Quotas.procZookeeper) {
                _ = try createIgnoringExisting(Quotas.quotaZookeeper)
            }
        }
        var quotaPath = Quotas.quotaZookeeper
        for component in JavaText.split(path, "/").dropFirst() {
            quotaPath += "/" + component
            if try exists(quotaPath) == nil { _ = try createIgnoringExisting(quotaPath) }
        }
        let statPath = quotaPath + "/" + Quotas.statNode
        let limitPath = quotaPath + "/" + Quotas.limitNode
        if try exists(limitPath) == nil {
            _ = try call(.create(path: limitPath, data: quota.bytes, acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false))
            var stats = StatsTrack()
            stats["count"] = 0
            stats["bytes"] = 0
            _ = try call(.create(path: statPath, data: stats.bytes, acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false))
            let limits = StatsTrack(Shell.text(try getData(limitPath, watch: false).0))
            let current = StatsTrack(Shell.text(try getData(statPath, watch: false).0))
            checkQuota(limits, current)
        } else {
            var limits = StatsTrack(Shell.text(try getData(limitPath, watch: false).0))
            for key in ["count", "bytes", "countHardLimit", "byteHardLimit"] where quota[key] > -1 { limits[key] = quota[key] }
            let current = StatsTrack(Shell.text(try getData(statPath, watch: false).0))
            checkQuota(limits, current)
            _ = try call(.setData(path: limitPath, data: limits.bytes, version: -1))
        }
    }

    /// Creates a node with no data; false if it already existed.
    private func createIgnoringExisting(_ path: String) throws -> Bool {
        switch try session.call(.create(path: path, data: nil, acl: ACL.openACLUnsafe, mode: .persistent, ttl: nil, withStat: false)) {
        case .success: return true
        case .failure(let error) where error.code == .nodeExists: return false
        case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
        }
    }

    private func checkQuota(_ limits: StatsTrack, _ current: StatsTrack) {
        let count = current["count"]
        if (limits["count"] > -1 && limits["count"] < count) || (limits["countHardLimit"] > -1 && limits["countHardLimit"] < count) {
            console.out("[Warning]: the count quota you create is less than the existing count:\(count)")
        }
        let bytes = current["bytes"]
        if (limits["bytes"] > -1 && limits["bytes"] < bytes) || (limits["byteHardLimit"] > -1 && limits["byteHardLimit"] < bytes) {
            console.out("[Warning]: the bytes quota you create is less than the existing bytes:\(bytes)")
        }
    }

    private func checkIfChildQuota(_ path: String) throws {
        let realPath = Quotas.quotaPath(path)
        do {
            try visitSubTree(realPath, watch: false) { quotaPath in
                let children: [String]
                switch try session.call(.getChildren(path: quotaPath, watch: .none, withStat: false)) {
                case .success(.children(let list, _)): children = list
                case .success, .failure: return
                }
                for child in children where quotaPath != Quotas.quotaZookeeper + path && child == Quotas.limitNode {
                    throw CliFailure(message: "\(path) has a child \(Quotas.trimQuotaPath(quotaPath)) which has a quota")
                }
            }
        } catch let failure as CliFailure where failure.message.hasPrefix("Node does not exist: ") {
            return  // no quota below this path
        }
    }

    private func checkIfParentQuota(_ path: String) throws {
        let splits = JavaText.split(path, "/")
        var quotaPath = Quotas.quotaZookeeper
        guard splits.count > 2 else { return }
        for i in 1..<(splits.count - 1) {
            quotaPath += "/" + splits[i]
            let children: [String]
            switch try session.call(.getChildren(path: quotaPath, watch: .none, withStat: false)) {
            case .success(.children(let list, _)): children = list
            case .success: children = []
            case .failure(let error) where error.code == .noNode: return
            case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
            }
            if children.isEmpty { return }
            for child in children where quotaPath != Quotas.quotaPath(path) && child == Quotas.limitNode {
                throw CliFailure(message: "\(path) has a parent \(Quotas.trimQuotaPath(quotaPath)) which has a quota")
            }
        }
    }

    func listQuota(_ tokens: [String]) throws {
        let cl = try parse(OptionSpecs([]), tokens)
        guard cl.args.count >= 2 else { throw usageFailure("listquota") }
        let path = cl.args[1]
        console.err("absolute path is \(Quotas.limitPath(path))")
        var tracks: [StatsTrack] = []
        for node in [Quotas.limitPath(path), Quotas.statPath(path)] {
            try validate(node)
            switch try session.call(.getData(path: node, watch: .none)) {
            case .success(.data(let data, _)): tracks.append(StatsTrack(Shell.text(data)))
            case .success: break
            case .failure(let error) where error.code == .noNode:
                console.err("quota for \(path) does not exist.")
                return
            case .failure(let error): throw CliFailure(message: Shell.wrapperMessage(error))
            }
        }
        for (i, track) in tracks.enumerated() {
            console.out("Output \(i == 0 ? "quota" : "stat") for \(path) \(track.description)")
        }
    }

    static let delQuotaSpecs = OptionSpecs([OptionSpec(name: "n", hasArg: false, description: "num soft quota"),
                                            OptionSpec(name: "b", hasArg: false, description: "bytes soft quota"),
                                            OptionSpec(name: "N", hasArg: false, description: "num hard quota"),
                                            OptionSpec(name: "B", hasArg: false, description: "bytes hard quota")],
                                           group: (["n", "b", "N", "B"], false))

    func delQuota(_ tokens: [String]) throws {
        let cl = try parse(Shell.delQuotaSpecs, tokens)
        guard cl.args.count >= 2 else { throw usageFailure("delquota") }
        let path = cl.args[1]
        let keys = [("n", "count"), ("b", "bytes"), ("N", "countHardLimit"), ("B", "byteHardLimit")].filter { cl.has($0.0) }.map(\.1)
        do {
            try deleteQuota(path, keys.isEmpty ? nil : keys)
        } catch let failure as CliFailure where failure.message.hasPrefix("Node does not exist: ") {
            console.err("quota for \(path) does not exist.")
        }
    }

    /// `DelQuotaCommand.delQuota`: all of the quota (nil) or some of its limits.
    private func deleteQuota(_ path: String, _ keys: [String]?) throws {
        let parentPath = Quotas.quotaPath(path)
        let limitPath = Quotas.limitPath(path)
        try validate(limitPath)
        guard try exists(limitPath) != nil else {
            console.out("Quota does not exist for \(path)")
            return
        }
        var limits = StatsTrack(Shell.text(try getData(limitPath, watch: false).0))
        guard let keys else {
            try validate(parentPath)
            for child in try getChildren(parentPath, watch: false).0 {
                _ = try call(.delete(path: parentPath + "/" + child, version: -1))
            }
            try trimProcQuotas(parentPath)
            return
        }
        for key in keys { limits[key] = -1 }
        _ = try call(.setData(path: limitPath, data: limits.bytes, version: -1))
    }

    private func trimProcQuotas(_ path: String) throws {
        if path == Quotas.quotaZookeeper { return }
        try validate(path)
        if try getChildren(path, watch: false).0.isEmpty {
            _ = try call(.delete(path: path, version: -1))
            let parent = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
            try trimProcQuotas(parent)
        }
    }
}
