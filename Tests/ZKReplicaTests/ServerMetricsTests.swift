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
        var s = SummaryValue()
        #expect(s.average == 0 && s.min == 0 && s.max == 0 && s.percentile(0.5) == 0 && s.recentQuantile(0.5) == nil)
        for v: Int64 in [1, 2, 2] { s.add(v) }
        #expect(s.count == 3 && s.sum == 5 && s.min == 1 && s.max == 2)
        #expect(s.average == 1.6667)  // rounded half-up to four decimals, like AvgMinMaxCounter
        #expect(s.percentile(0.5) == 2 && s.percentile(0.0) == 1 && s.percentile(1.0) == 2)
    }

    @Test func percentilesFollowTheDistribution() {
        var s = SummaryValue()
        for v in Int64(1)...1000 { s.add(v) }
        #expect(abs(Double(s.percentile(0.5)) - 500) <= 500 * 0.125)
        #expect(abs(Double(s.percentile(0.99)) - 990) <= 990 * 0.125)
        #expect(s.percentile(0.999) <= 1000, "clamped to the maximum")
    }

    @Test func resetKeepsLifetimeTotalsAndRotationAgesTheWindow() {
        var s = SummaryValue()
        s.add(7)
        s.add(9)
        s.reset()
        #expect(s.count == 0 && s.sum == 0 && s.max == 0 && s.percentile(0.5) == 0)
        #expect(s.totalCount == 2 && s.totalSum == 16, "Prometheus' _count and _sum never go down")
        #expect(s.recentQuantile(0.5) == 7)
        s.rotate()
        #expect(s.recentQuantile(0.5) == 7, "the previous minute still counts")
        s.rotate()
        #expect(s.recentQuantile(0.5) == nil, "two minutes later it is gone")
    }

    @Test func registryDumpHasEveryApacheName() {
        var m = ServerMetrics(nowMs: 0)
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
