/// Quota accounting, as Apache ZooKeeper's `DataTree` does it: a quota on path P is the node
/// `/zookeeper/quota/P/zookeeper_limits`; the tree keeps `/zookeeper/quota/P/zookeeper_stats` up to
/// date with the number of nodes and data bytes under P (including P). Quotas are not enforced
/// (Apache's `zookeeper.enforceQuota` is off by default); `zkCli listquota` reads these nodes.
///
/// The stats are rewritten in place, without a txn of their own: every replica computes the same
/// values from the same txns, exactly as Apache does.
import ZKCore

public enum Quotas {
    public static let limitNode = "zookeeper_limits"
    public static let statNode = "zookeeper_stats"

    /// "/zookeeper/quota/a/b" → "/a/b" (`Quotas.trimQuotaPath`).
    static func trimQuotaPath(_ path: String) -> String {
        String(path.dropFirst(DataTree.quotaPath.count))
    }

    static func statPath(_ path: String) -> String { DataTree.quotaPath + path + "/" + statNode }
}

/// `StatsTrack`: "count=N,bytes=M", then any further keys, sorted, after a "=" that old parsers
/// ignore: "count=1,bytes=5=;byteHardLimit=10;countHardLimit=2".
struct QuotaStats {
    var values: [String: Int64] = [:]

    init?(_ data: [UInt8]?) {
        let text = String(decoding: data ?? [], as: UTF8.self)
        for pair in text.split(whereSeparator: { $0 == "," || $0 == ";" }) {
            // Java's split("=") drops trailing empty parts: "bytes=5=" is ["bytes", "5"].
            var parts = pair.split(separator: "=", omittingEmptySubsequences: false)
            while parts.count > 1 && parts.last?.isEmpty == true { parts.removeLast() }
            guard parts.count >= 2 else { return nil }
            guard let value = parts[1].isEmpty ? -1 : Int64(parts[1]) else { return nil }
            values[String(parts[0])] = value
        }
    }

    subscript(key: String) -> Int64 {
        get { values[key] ?? -1 }
        set { values[key] = newValue }
    }

    var bytes: [UInt8] {
        var text = "count=\(self["count"]),bytes=\(self["bytes"])"
        let others = values.keys.filter { $0 != "count" && $0 != "bytes" }.sorted()
        if !others.isEmpty {
            text += "="
            for key in others { text += ";\(key)=\(values[key]!)" }
        }
        return Array(text.utf8)
    }
}

extension DataTree {
    /// The deepest path with a quota that is `path` or one of its ancestors; nil for none or "/".
    func quotaPrefix(of path: String) -> String? {
        guard !quotaPaths.isEmpty else { return nil }
        var candidate = path
        while !candidate.isEmpty && candidate != "/" {
            if quotaPaths.contains(candidate) { return candidate }
            guard let parent = PathUtils.parent(of: candidate) else { return nil }
            candidate = parent
        }
        return nil
    }

    /// Adds to the stats of the quota covering `path`, if any.
    func updateQuotaStats(covering path: String, bytes: Int64, count: Int64) {
        guard let prefix = quotaPrefix(of: path), let node = node(Quotas.statPath(prefix)),
              var stats = QuotaStats(node.data) else { return }
        willChange(Quotas.statPath(prefix), node.id)
        stats["count"] = stats["count"] + count
        stats["bytes"] = stats["bytes"] + bytes
        replaceData(node.id, stats.bytes)
    }

    /// A node was created under /zookeeper/quota: a limits node starts a quota, a stats node is
    /// filled with the current totals of the subtree.
    func quotaNodeCreated(parent: String, name: String) {
        guard parent.hasPrefix(DataTree.quotaPath) else { return }
        let quotaPath = Quotas.trimQuotaPath(parent)
        if name == Quotas.limitNode { quotaPaths.insert(quotaPath) }
        if name == Quotas.statNode { recomputeQuotaStats(quotaPath) }
    }

    func quotaNodeDeleted(parent: String, name: String) {
        if parent.hasPrefix(DataTree.zookeeperPath) && name == Quotas.limitNode {
            quotaPaths.remove(Quotas.trimQuotaPath(parent))
        }
    }

    /// `updateQuotaForPath`: count the nodes and data bytes of the subtree at `path`.
    func recomputeQuotaStats(_ path: String) {
        var count: Int64 = 0
        var bytes: Int64 = 0
        var stack = [path]
        while let p = stack.popLast() {
            guard let n = node(p) else { continue }
            count += 1
            bytes += Int64(n.dataLength)
            for child in n.children { stack.append(p + "/" + child) }
        }
        guard let statNode = node(Quotas.statPath(path)) else { return }
        willChange(Quotas.statPath(path), statNode.id)
        var stats = QuotaStats(nil)!
        stats["count"] = count
        stats["bytes"] = bytes
        replaceData(statNode.id, stats.bytes)
    }
}
