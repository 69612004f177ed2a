import Testing
import ZKCore
@testable import ZKReplica

@Suite struct ServerMetricsTests {
    @Test func bucketsAreExactBelowSixteenThenWithinAnEighth() {
        for value in Int64(0)..<16 { #expect(MetricBuckets.representative(MetricBuckets.index(value)) == value) }
        var previous = -1
        var value: Int64 = 16
        while value < (Int64(1) << 42) {
            defer { value += 1 + value / 97 }  // every bucket boundary region, in ~3,000 steps
            let index = MetricBuckets.index(value)
            #expect(index >= previous && index < MetricBuckets.count, "buckets grow with the value (\(value))")
            previous = index
            if value < (Int64(1) << 41) {
                let estimate = Double(MetricBuckets.representative(index))
                #expect(abs(estimate - Double(value)) / Double(value) <= 0.125, "\(value) read back as \(estimate)")
            }
        }
        #expect(MetricBuckets.index(-5) == 0)
        #expect(MetricBuckets.index(.max) == MetricBuckets.count - 1)
    }

    @Test func summaryFiguresAsApachePrintsThem() {
        let slab = SummarySlab(count: 2)
        let empty = slab.value(0)
        #expect(empty.average == 0 && empty.min == 0 && empty.max == 0 && empty.percentile(0.5) == 0 && empty.recentQuantile(0.5) == nil)
        for v: Int64 in [1, 2, 2] { slab.add(0, v) }
        #expect(slab.value(1).count == 0, "summaries do not share cells")
        let s = slab.value(0)
        #expect(s.count == 3 && s.sum == 5 && s.min == 1 && s.max == 2)
        #expect(s.average == 1.6667)  // rounded half-up to four decimals, like AvgMinMaxCounter
        #expect(s.percentile(0.5) == 2 && s.percentile(0.0) == 1 && s.percentile(1.0) == 2)
    }

    @Test func percentilesFollowTheDistribution() {
        let slab = SummarySlab(count: 1)
        for v in Int64(1)...1000 { slab.add(0, v) }
        let s = slab.value(0)
        #expect(abs(Double(s.percentile(0.5)) - 500) <= 500 * 0.125)
        #expect(abs(Double(s.percentile(0.99)) - 990) <= 990 * 0.125)
        #expect(s.percentile(0.999) <= 1000, "clamped to the maximum")
    }

    @Test func resetKeepsLifetimeTotalsAndRotationAgesTheWindow() {
        let slab = SummarySlab(count: 1)
        slab.add(0, 7)
        slab.add(0, 9)
        slab.reset(0)
        let s = slab.value(0)
        #expect(s.count == 0 && s.sum == 0 && s.max == 0 && s.percentile(0.5) == 0)
        #expect(s.totalCount == 2 && s.totalSum == 16, "Prometheus' _count and _sum never go down")
        #expect(s.recentQuantile(0.5) == 7)
        slab.rotate()
        #expect(slab.value(0).recentQuantile(0.5) == 7, "the previous minute still counts")
        slab.add(0, 3)
        slab.rotate()
        #expect(slab.value(0).recentQuantile(0.5) == 3, "two minutes later the 7 and 9 are gone")
        slab.rotate()
        #expect(slab.value(0).recentQuantile(0.5) == nil)
    }

    @Test func namespacesAreTheFirstComponentAndBounded() {
        let m = ServerMetrics(nowMs: 0)
        m.observeWrite(path: "/app/a", bytes: 4)
        m.observeWrite(path: "/app", bytes: 0)
        m.observeWrite(path: "/other/x/y", bytes: 1)
        m.observeWrite(path: "/", bytes: 9)  // no namespace
        #expect(m.writesPerNamespace.names == ["app", "other"])
        #expect(m.writesPerNamespace.value("app")?.count == 2 && m.writesPerNamespace.value("app")?.sum == 6 + 4 + 4)
        for i in 0..<(ServerMetrics.namespacesMax + 10) { m.observeRead(path: "/n\(i)", bytes: 0) }
        #expect(m.readsPerNamespace.names.count == ServerMetrics.namespacesMax)
        m.observeRead(path: "/n0/child", bytes: 2)  // a known one still counts
        #expect(m.readsPerNamespace.value("n0")?.count == 2)
    }

    @Test func registryDumpHasEveryApacheName() {
        let m = ServerMetrics(nowMs: 0)
        m.count(.commitCount, by: 3)
        m.observe(.readLatency, 4)
        let dump = Dictionary(m.dump(), uniquingKeysWith: { a, _ in a })
        #expect(dump.count == ApacheRegistry.counters.count + ApacheRegistry.summaries.reduce(0) { $0 + ($1.advanced ? 9 : 5) })
        #expect(dump["commit_count"] == .int(3) && dump["jvm_pause_time_ms"] == nil && dump["cnt_jvm_pause_time_ms"] == .int(0))
        #expect(dump["cnt_readlatency"] == .int(1) && dump["p99_readlatency"] == .int(4) && dump["avg_readlatency"] == .double(4))
        #expect(dump["p50_fsynctime"] == nil, "a BASIC summary has no percentiles")
        m.reset()
        let after = Dictionary(m.dump(), uniquingKeysWith: { a, _ in a })
        #expect(after["commit_count"] == .int(0) && after["cnt_readlatency"] == .int(0))
        #expect(m.total(.commitCount) == 3)
        // Every measured name is one of Apache's, so nothing measured is left out of the dump.
        for counter in MetricCounter.allCases { #expect(ApacheRegistry.counters.contains(counter.name), "\(counter.name)") }
        for summary in MetricSummary.allCases {
            #expect(ApacheRegistry.summaries.contains { $0.name == summary.name }, "\(summary.name)")
        }
    }

    @Test func theReplicaMeasuresRequestsWatchesAndResets() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/a").err == .ok)
        #expect(h.getData(c, "/a", watch: true).err == .ok)
        #expect(h.setData(c, "/a", [1]).err == .ok)
        let metrics = h.replica.metrics
        #expect(metrics.summary(.updateLatency).count == 2 && metrics.summary(.readLatency).count == 1)
        #expect(metrics.summary(.nodeChangedWatchCount).count == 1 && metrics.summary(.nodeChangedWatchCount).sum == 1)
        #expect(metrics.total(.connectionRequestCount) == 1 && metrics.total(.requestCommitQueued) == 3)
        #expect(metrics.total(.bytesReceivedCount) > 0 && metrics.total(.responseBytes) > 0 && metrics.total(.watchBytes) > 0)
        #expect(metrics.total(.prepProcessorRequestQueued) == 3, "three requests after the connect")
        h.handle(.connectionRejected)
        #expect(h.replica.metrics.total(.connectionRejected) == 1)
        _ = h.fourLetterWord(h.open(), .srst)
        #expect(h.replica.metrics.summary(.updateLatency).count == 0 && h.replica.metrics.sinceReset(.connectionRejected) == 0)
        #expect(h.replica.metrics.total(.connectionRejected) == 1)
    }
}
