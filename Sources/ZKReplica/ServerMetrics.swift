/// Apache ZooKeeper's metric registry (`ServerMetrics`): its counters and summaries under its names,
/// reported by `mntr` and the AdminServer's `monitor` as its default provider does (`cnt_`, `sum_`,
/// `min_`, `max_`, `avg_`, and `p50_`…`p999_` for ADVANCED summaries) and by `/metrics` as its
/// Prometheus provider does (counters, and summaries with quantiles 0.5, or 0.5/0.9/0.99 for ADVANCED).
///
/// Every name of Apache 3.8's registry is reported. The ones this server measures are the cases of
/// `MetricCounter` and `MetricSummary`; the others name machinery this server does not have (the
/// commit processor's queues, response caches, Netty, TLS, the JVM's pauses, ensemble SASL) and stay
/// zero, which is what they would read on Apache with that machinery idle. docs/operations.md lists both.
///
/// Cheap on the request path: `count` and `observe` update fixed arrays in place; a summary's
/// histogram is allocated at its first observation and never again.
import ZKCore
import ZKDataTree
import ZKProtocol

/// The counters this server measures.
public enum MetricCounter: Int, CaseIterable, Sendable {
    case lookingCount, diffCount, snapCount, commitCount, connectionRequestCount, connectionRejected
    case bytesReceivedCount, responseBytes, watchBytes, proposalCount, learnerProposalReceivedCount
    case learnerCommitReceivedCount, revalidateCount, prepProcessorRequestQueued, syncProcessorRequestQueued
    case requestCommitQueued, sessionlessConnectionsExpired, unrecoverableErrorCount

    /// The measured counters by Apache's name (the registry's other names have no case).
    static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    public var name: String {
        switch self {
        case .lookingCount: return "looking_count"
        case .diffCount: return "diff_count"
        case .snapCount: return "snap_count"
        case .commitCount: return "commit_count"
        case .connectionRequestCount: return "connection_request_count"
        case .connectionRejected: return "connection_rejected"
        case .bytesReceivedCount: return "bytes_received_count"
        case .responseBytes: return "response_bytes"
        case .watchBytes: return "watch_bytes"
        case .proposalCount: return "proposal_count"
        case .learnerProposalReceivedCount: return "learner_proposal_received_count"
        case .learnerCommitReceivedCount: return "learner_commit_received_count"
        case .revalidateCount: return "revalidate_count"
        case .prepProcessorRequestQueued: return "prep_processor_request_queued"
        case .syncProcessorRequestQueued: return "sync_processor_request_queued"
        case .requestCommitQueued: return "request_commit_queued"
        case .sessionlessConnectionsExpired: return "sessionless_connections_expired"
        case .unrecoverableErrorCount: return "unrecoverable_error_count"
        }
    }
}

/// The summaries this server measures (milliseconds unless the name says otherwise).
public enum MetricSummary: Int, CaseIterable, Sendable {
    case fsyncTime, snapshotTime, dbInitTime, readLatency, updateLatency, propagationLatency
    case followerSyncTime, observerSyncTime, electionTime, nodeCreatedWatchCount, nodeDeletedWatchCount
    case nodeChangedWatchCount, nodeChildrenWatchCount, proposalLatency, quorumAckLatency
    case syncProcessorBatchSize, startupTxnsLoaded, startupTxnsLoadTime, startupSnapLoadTime

    /// The measured summaries by Apache's name.
    static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    public var name: String {
        switch self {
        case .fsyncTime: return "fsynctime"
        case .snapshotTime: return "snapshottime"
        case .dbInitTime: return "dbinittime"
        case .readLatency: return "readlatency"
        case .updateLatency: return "updatelatency"
        case .propagationLatency: return "propagation_latency"
        case .followerSyncTime: return "follower_sync_time"
        case .observerSyncTime: return "observer_sync_time"
        case .electionTime: return "election_time"
        case .nodeCreatedWatchCount: return "node_created_watch_count"
        case .nodeDeletedWatchCount: return "node_deleted_watch_count"
        case .nodeChangedWatchCount: return "node_changed_watch_count"
        case .nodeChildrenWatchCount: return "node_children_watch_count"
        case .proposalLatency: return "proposal_latency"
        case .quorumAckLatency: return "quorum_ack_latency"
        case .syncProcessorBatchSize: return "sync_processor_batch_size"
        case .startupTxnsLoaded: return "startup_txns_loaded"
        case .startupTxnsLoadTime: return "startup_txns_load_time"
        case .startupSnapLoadTime: return "startup_snap_load_time"
        }
    }
}

/// Apache 3.8's registry, in its declaration order: every counter, and every summary with its detail
/// level (ADVANCED summaries have percentiles).
enum ApacheRegistry {
    static let counters = [
        "looking_count", "diff_count", "snap_count", "commit_count", "connection_request_count",
        "connection_rejected", "bytes_received_count", "unrecoverable_error_count", "add_dead_watcher_stall_time",
        "dead_watchers_queued", "dead_watchers_cleared", "response_packet_cache_hits", "response_packet_cache_misses",
        "response_packet_get_children_cache_hits", "response_packet_get_children_cache_misses",
        "ensemble_auth_success", "ensemble_auth_fail", "ensemble_auth_skip", "prep_processor_request_queued",
        "outstanding_changes_queued", "outstanding_changes_removed", "revalidate_count", "connection_drop_count",
        "connection_revalidate_count", "sessionless_connections_expired", "stale_sessions_expired",
        "request_commit_queued", "throttled_ops", "learner_proposal_received_count", "learner_commit_received_count",
        "sync_processor_request_queued", "proposal_count", "quit_leading_due_to_disloyal_voter", "stale_requests",
        "stale_requests_dropped", "stale_replies", "request_throttle_wait_count", "large_requests_rejected",
        "digest_mismatches_count", "unsuccessful_handshake", "insecure_admin_count", "tls_handshake_exceeded",
        "cnxn_closed_without_zk_server_running", "skip_learner_request_to_next_processor_count",
        "requests_not_forwarded_to_commit_processor", "response_bytes", "watch_bytes",
    ]

    static let summaries: [(name: String, advanced: Bool)] = [
        ("fsynctime", false), ("snapshottime", false), ("dbinittime", false), ("readlatency", true),
        ("updatelatency", true), ("propagation_latency", true), ("follower_sync_time", false),
        ("observer_sync_time", false), ("election_time", false), ("connection_token_deficit", false),
        ("inflight_snap_count", false), ("inflight_diff_count", false), ("node_created_watch_count", false),
        ("node_deleted_watch_count", false), ("node_changed_watch_count", false), ("node_children_watch_count", false),
        ("dead_watchers_cleaner_latency", true), ("prep_processor_queue_time_ms", true),
        ("prep_processor_queue_size", false), ("prep_process_time", false), ("proposal_process_time", false),
        ("close_session_prep_time", true), ("unavailable_time", false), ("leader_unavailable_time", false),
        ("requests_in_session_queue", false), ("pending_session_queue_size", false),
        ("reads_after_write_in_session_queue", false), ("reads_issued_from_session_queue", false),
        ("session_queues_drained", false), ("time_waiting_empty_pool_in_commit_processor_read_ms", false),
        ("write_batch_time_in_commit_processor", false), ("concurrent_request_processing_in_commit_processor", false),
        ("read_commit_proc_req_queued", false), ("write_commit_proc_req_queued", false),
        ("commit_commit_proc_req_queued", false), ("read_commit_proc_issued", false),
        ("write_commit_proc_issued", false), ("read_commitproc_time_ms", true), ("write_commitproc_time_ms", true),
        ("local_write_committed_time_ms", true), ("server_write_committed_time_ms", true),
        ("commit_process_time", false), ("om_proposal_process_time_ms", true), ("om_commit_process_time_ms", true),
        ("read_final_proc_time_ms", true), ("write_final_proc_time_ms", true), ("proposal_latency", true),
        ("proposal_ack_creation_latency", true), ("commit_propagation_latency", true),
        ("startup_txns_loaded", false), ("startup_txns_load_time", false), ("startup_snap_load_time", false),
        ("sync_processor_queue_and_flush_time_ms", true), ("sync_processor_queue_size", false),
        ("sync_processor_queue_time_ms", true), ("sync_processor_queue_flush_time_ms", true),
        ("sync_process_time", false), ("sync_processor_batch_size", false), ("quorum_ack_latency", true),
        ("request_throttle_queue_time_ms", true),
        ("netty_queued_buffer_capacity", false), ("learner_request_processor_queue_size", false),
        ("socket_closing_time", false), ("jvm_pause_time_ms", true),
    ]
}

/// Value buckets for percentiles: 0…15 exactly, then four buckets per power of two (a quarter of an
/// octave, so an estimate is within 12.5% of the true value), values past 2^40 in the last bucket.
public enum MetricBuckets {
    static let exact: Int64 = 16
    static let perOctave = 4
    static let topOctave = 40
    public static let count = Int(exact) + (topOctave - 4 + 1) * perOctave

    @inline(__always)
    public static func index(_ value: Int64) -> Int {
        if value < exact { return value < 0 ? 0 : Int(value) }
        let octave = min(63 - value.leadingZeroBitCount, topOctave)  // ≥ 4
        if octave == topOctave && value >= (Int64(1) << (topOctave + 1)) { return count - 1 }
        let quarter = Int((value >> (octave - 2)) & 3)
        return Int(exact) + (octave - 4) * perOctave + quarter
    }

    /// The value a bucket stands for: the exact value, or the middle of its range.
    public static func representative(_ index: Int) -> Int64 {
        if index < Int(exact) { return Int64(index) }
        let octave = (index - Int(exact)) / perOctave + 4
        let quarter = Int64((index - Int(exact)) % perOctave)
        let low = (Int64(1) << octave) + quarter * (Int64(1) << (octave - 2))
        return low + (Int64(1) << (octave - 2)) / 2
    }
}

/// A summary as read at one moment (`SummarySlab.value`): count/sum/min/max since the last `srst`
/// (Apache's default provider resets them), lifetime count and sum (Prometheus' `_count` and `_sum`
/// never go down), and bucket counts since the last reset (mntr's percentiles) and for the current
/// and previous minute (Prometheus' quantiles cover the last one to two minutes, as Apache's rotating
/// summaries do).
public struct SummaryValue: Sendable {
    public var count: Int64 = 0
    public var sum: Int64 = 0
    var minimum = Int64.max
    var maximum = Int64.min
    public var totalCount: Int64 = 0
    public var totalSum: Int64 = 0
    var sinceReset: [UInt32] = []
    var window: [UInt32] = []
    var previousWindow: [UInt32] = []

    public init() {}

    public var min: Int64 { count == 0 ? 0 : minimum }
    public var max: Int64 { count == 0 ? 0 : maximum }

    /// Apache's average: the mean rounded half-up to four decimals, 0 before the first value.
    public var average: Double {
        guard count > 0 else { return 0 }
        return (Double(sum) / Double(count) * 10_000).rounded(.toNearestOrAwayFromZero) / 10_000
    }

    /// The q-quantile (0…1) of the values since the last reset, like Apache's `Math.round` of its
    /// reservoir's percentile; 0 before the first value.
    public func percentile(_ q: Double) -> Int64 {
        quantile(q, of: [sinceReset]).map { Swift.min(Swift.max($0, min), max) } ?? 0
    }

    /// The q-quantile of the last one to two minutes, nil when nothing was observed in them.
    public func recentQuantile(_ q: Double) -> Int64? {
        quantile(q, of: [window, previousWindow])
    }

    private func quantile(_ q: Double, of histograms: [[UInt32]]) -> Int64? {
        guard let first = histograms.first, !first.isEmpty else { return nil }
        var total: Int64 = 0
        for h in histograms { for c in h { total += Int64(c) } }
        guard total > 0 else { return nil }
        // The rank Dropwizard's snapshot reads (nearest rank, 1-based), at least the first value.
        let rank = Swift.max(1, Int64((q * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for i in 0..<first.count {
            for h in histograms { seen += Int64(h[i]) }
            if seen >= rank { return MetricBuckets.representative(i) }
        }
        return MetricBuckets.representative(first.count - 1)
    }
}

/// Storage for `count` summaries, written through pointers allocated once: an observation is a few
/// adds in place, with no allocation, no copy-on-write check and no exclusivity check (a class's
/// `var` arrays would pay both on every request).
public final class SummarySlab {
    // Per summary: count, sum, min, max, total count, total sum; then three histograms
    // (since the last reset, this minute, the minute before).
    private static let scalars = 6
    private static let histograms = 3
    public let count: Int
    private let cells: UnsafeMutablePointer<Int64>
    private let buckets: UnsafeMutablePointer<UInt32>

    public init(count: Int) {
        precondition(count > 0, "an empty slab")
        self.count = count
        cells = .allocate(capacity: count * SummarySlab.scalars)
        cells.initialize(repeating: 0, count: count * SummarySlab.scalars)
        buckets = .allocate(capacity: count * SummarySlab.histograms * MetricBuckets.count)
        buckets.initialize(repeating: 0, count: count * SummarySlab.histograms * MetricBuckets.count)
        for i in 0..<count { resetScalars(i) }
    }

    deinit {
        cells.deallocate()
        buckets.deallocate()
    }

    @inline(__always)
    public func add(_ index: Int, _ value: Int64) {
        invariant(index >= 0 && index < count, "summary \(index) of \(count)")
        let c = cells + index * SummarySlab.scalars
        c[0] &+= 1
        c[1] &+= value
        if value < c[2] { c[2] = value }
        if value > c[3] { c[3] = value }
        c[4] &+= 1
        c[5] &+= value
        let bucket = MetricBuckets.index(value)
        let h = buckets + index * SummarySlab.histograms * MetricBuckets.count
        h[bucket] &+= 1
        h[MetricBuckets.count + bucket] &+= 1
    }

    /// `srst`: the resettable figures start over; the lifetime ones (Prometheus) do not.
    public func reset(_ index: Int) {
        resetScalars(index)
        (buckets + index * SummarySlab.histograms * MetricBuckets.count).update(repeating: 0, count: MetricBuckets.count)
    }

    private func resetScalars(_ index: Int) {
        let c = cells + index * SummarySlab.scalars
        c[0] = 0
        c[1] = 0
        c[2] = .max
        c[3] = .min
    }

    /// A new minute: the current window becomes the previous one.
    public func rotate() {
        for index in 0..<count {
            let window = buckets + index * SummarySlab.histograms * MetricBuckets.count + MetricBuckets.count
            (window + MetricBuckets.count).update(from: window, count: MetricBuckets.count)
            window.update(repeating: 0, count: MetricBuckets.count)
        }
    }

    public func value(_ index: Int) -> SummaryValue {
        let c = cells + index * SummarySlab.scalars
        let h = buckets + index * SummarySlab.histograms * MetricBuckets.count
        var v = SummaryValue()
        (v.count, v.sum, v.minimum, v.maximum, v.totalCount, v.totalSum) = (c[0], c[1], c[2], c[3], c[4], c[5])
        v.sinceReset = Array(UnsafeBufferPointer(start: h, count: MetricBuckets.count))
        v.window = Array(UnsafeBufferPointer(start: h + MetricBuckets.count, count: MetricBuckets.count))
        v.previousWindow = Array(UnsafeBufferPointer(start: h + 2 * MetricBuckets.count, count: MetricBuckets.count))
        return v
    }
}

/// Apache's summary sets `write_per_namespace` and `read_per_namespace`: bytes per top-level znode
/// (`/app/...` counts under `app`), at most `ServerMetrics.namespacesMax` of them (the rest go
/// uncounted). The last namespace seen is remembered, so a run of requests under one namespace
/// compares bytes instead of hashing the name.
public final class NamespaceSummaries {
    private var slabs: [String: SummarySlab] = [:]
    /// The last namespace's UTF-8 bytes and its slab (pointer-held: the hot path takes no exclusive
    /// access to the class).
    private let lastName = UnsafeMutablePointer<[UInt8]>.allocate(capacity: 1)
    private let lastSlab = UnsafeMutablePointer<SummarySlab?>.allocate(capacity: 1)

    init() {
        lastName.initialize(to: [])
        lastSlab.initialize(to: nil)
    }

    deinit {
        lastName.deinitialize(count: 1)
        lastName.deallocate()
        lastSlab.deinitialize(count: 1)
        lastSlab.deallocate()
    }

    func observe(path: String, _ value: Int64) {
        // Native strings are contiguous UTF-8; a bridged one (never here) takes the slow path.
        let done = path.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard let range = NamespaceSummaries.topNamespace(bytes) else { return true }
            guard let slab = lastSlab.pointee else { return false }
            let hit = lastName.pointee.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: bytes[range]).elementsEqual($0) }
            if hit { slab.add(0, value) }
            return hit
        } ?? false
        if !done { observeSlowly(path: path, value) }
    }

    /// The bytes of `PathUtils.getTopNamespace`: the first component, nil for `/` (or no leading slash).
    static func topNamespace(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard bytes.count > 1, bytes[0] == UInt8(ascii: "/") else { return nil }
        var end = 1
        while end < bytes.count && bytes[end] != UInt8(ascii: "/") { end += 1 }
        return end > 1 ? 1..<end : nil
    }

    private func observeSlowly(path: String, _ value: Int64) {
        let bytes = Array(path.utf8)
        guard let range = bytes.withUnsafeBufferPointer({ NamespaceSummaries.topNamespace($0) }) else { return }
        let name = String(decoding: bytes[range], as: UTF8.self)
        let slab: SummarySlab
        if let known = slabs[name] {
            slab = known
        } else {
            guard slabs.count < ServerMetrics.namespacesMax else { return }
            slab = SummarySlab(count: 1)
            slabs[name] = slab
        }
        lastName.pointee = Array(bytes[range])
        lastSlab.pointee = slab
        slab.add(0, value)
    }

    public var names: [String] { slabs.keys.sorted() }
    public func value(_ name: String) -> SummaryValue? { slabs[name]?.value(0) }
    func reset() { for slab in slabs.values { slab.reset(0) } }
    func rotate() { for slab in slabs.values { slab.rotate() } }
}

/// The registry: one slot per measured counter and summary, in memory allocated once.
public final class ServerMetrics {
    public static let rotationIntervalMs: Int64 = 60_000
    public static let namespacesMax = 1024
    /// Apache's `DataTree.STAT_OVERHEAD_BYTES`, counted with every read.
    static let statOverheadBytes: Int64 = 6 * 8 + 5 * 4
    /// Lifetime totals (Prometheus), then the totals at the last `srst` (mntr shows the difference).
    private let counters: UnsafeMutablePointer<Int64>
    private let summaries = SummarySlab(count: MetricSummary.allCases.count)
    public let writesPerNamespace = NamespaceSummaries()
    public let readsPerNamespace = NamespaceSummaries()
    private var lastRotationMs: Int64

    public init(nowMs: Int64) {
        lastRotationMs = nowMs
        counters = .allocate(capacity: 2 * MetricCounter.allCases.count)
        counters.initialize(repeating: 0, count: 2 * MetricCounter.allCases.count)
    }

    deinit { counters.deallocate() }

    /// Recovery's figures (`ZKDatabase.loadDataBase`, `FileTxnSnapLog.restore`), once at startup.
    public func recordStartup(dbInitMs: Int64, snapshotLoadMs: Int64, replayMs: Int64, txnsReplayed: Int) {
        observe(.dbInitTime, dbInitMs)
        observe(.startupSnapLoadTime, snapshotLoadMs)
        observe(.startupTxnsLoadTime, replayMs)
        observe(.startupTxnsLoaded, Int64(txnsReplayed))
    }

    @inline(__always)
    public func count(_ counter: MetricCounter, by delta: Int64 = 1) {
        counters[counter.rawValue] &+= delta
    }

    @inline(__always)
    public func observe(_ summary: MetricSummary, _ value: Int64) {
        summaries.add(summary.rawValue, value)
    }

    /// The counter's lifetime total (Prometheus).
    public func total(_ counter: MetricCounter) -> Int64 { counters[counter.rawValue] }
    /// The counter since the last `srst` (mntr, monitor).
    public func sinceReset(_ counter: MetricCounter) -> Int64 {
        counters[counter.rawValue] - counters[MetricCounter.allCases.count + counter.rawValue]
    }
    public func summary(_ summary: MetricSummary) -> SummaryValue { summaries.value(summary.rawValue) }

    /// `DataTree.updateWriteStat`: a create, setData or delete of `path` with `bytes` of data.
    public func observeWrite(path: String, bytes: Int) {
        writesPerNamespace.observe(path: path, Int64(path.utf8.count + bytes))
    }

    /// The writes a committed txn makes (a closeSession deletes its ephemerals).
    public func observeWrites(of txn: Txn) {
        switch txn {
        case .create(let path, let data, _, _, _), .createContainer(let path, let data, _, _), .createTTL(let path, let data, _, _, _),
             .setData(let path, let data, _):
            observeWrite(path: path, bytes: data?.count ?? 0)
        case .delete(let path): observeWrite(path: path, bytes: 0)
        case .closeSession(let paths): for path in paths { observeWrite(path: path, bytes: 0) }
        case .multi(let ops): for op in ops { observeWrites(of: op.txn) }
        case .createSession, .setACL, .checkVersion, .error: break
        }
    }

    /// `DataTree.updateReadStat`: a getData, exists or getChildren of `path` answering `bytes`.
    public func observeRead(path: String, bytes: Int) {
        readsPerNamespace.observe(path: path, Int64(path.utf8.count + bytes) + ServerMetrics.statOverheadBytes)
    }

    /// `srst` (Apache's `ServerStats.reset` resets the whole registry of its default provider).
    public func reset() {
        (counters + MetricCounter.allCases.count).update(from: counters, count: MetricCounter.allCases.count)
        for i in 0..<summaries.count { summaries.reset(i) }
        writesPerNamespace.reset()
        readsPerNamespace.reset()
    }

    /// Rotates the Prometheus quantile windows once a minute (called on the tick).
    public func tick(nowMs: Int64) {
        guard nowMs - lastRotationMs >= ServerMetrics.rotationIntervalMs else { return }
        lastRotationMs = nowMs
        summaries.rotate()
        writesPerNamespace.rotate()
        readsPerNamespace.rotate()
    }

    /// The registry as Apache's default provider dumps it into `mntr` and `monitor`: every counter,
    /// then every summary's five (BASIC) or nine (ADVANCED) figures, then the sets' keys.
    public func dump() -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = []
        out.reserveCapacity(ApacheRegistry.counters.count + ApacheRegistry.summaries.count * 9)
        for name in ApacheRegistry.counters {
            out.append((name, .int(MetricCounter.byName[name].map { sinceReset($0) } ?? 0)))
        }
        for (name, advanced) in ApacheRegistry.summaries {
            ServerMetrics.dump(MetricSummary.byName[name].map { summary($0) } ?? SummaryValue(), name, advanced: advanced, into: &out)
        }
        // A set's keys, as AvgMinMaxCounterSet names them: `avg_<namespace>_write_per_namespace`.
        for (set, name) in [(writesPerNamespace, "write_per_namespace"), (readsPerNamespace, "read_per_namespace")] {
            for key in set.names { ServerMetrics.dump(set.value(key)!, "\(key)_\(name)", advanced: false, into: &out) }
        }
        return out
    }

    private static func dump(_ value: SummaryValue, _ name: String, advanced: Bool, into out: inout [(String, JSONValue)]) {
        out.append(("avg_\(name)", .double(value.average)))
        out.append(("min_\(name)", .int(value.min)))
        out.append(("max_\(name)", .int(value.max)))
        out.append(("cnt_\(name)", .int(value.count)))
        out.append(("sum_\(name)", .int(value.sum)))
        if advanced {
            out.append(("p50_\(name)", .int(value.percentile(0.5))))
            out.append(("p95_\(name)", .int(value.percentile(0.95))))
            out.append(("p99_\(name)", .int(value.percentile(0.99))))
            out.append(("p999_\(name)", .int(value.percentile(0.999))))
        }
    }
}

extension TreeChange {
    /// The summary counting the watches a change of this kind fires (`WatchManager.triggerWatch`).
    var watchCountSummary: MetricSummary {
        switch self {
        case .created: return .nodeCreatedWatchCount
        case .deleted: return .nodeDeletedWatchCount
        case .dataChanged: return .nodeChangedWatchCount
        case .childrenChanged: return .nodeChildrenWatchCount
        }
    }
}
