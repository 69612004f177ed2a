/// Server-wide counters that `srvr`, `stat` and `mntr` report (`ServerStats`).
struct ServerStats {
    var packetsReceived = 0
    var packetsSent = 0
    /// Requests refused for bad credentials (`auth_failed_count`).
    var authFailedCount = 0
    var minLatencyMs: Int64 = Int64.max
    var maxLatencyMs: Int64 = 0
    var totalLatencyMs: Int64 = 0
    var latencyCount: Int64 = 0
    /// Sizes of the responses sent (without the length prefix); -1 before the first.
    var lastResponseBytes = -1
    var minResponseBytes = -1
    var maxResponseBytes = -1

    /// Sizes of the txns this leader proposed (Apache's `Leader.proposalStats`); -1 before the first.
    var lastProposalBytes = -1
    var minProposalBytes = -1
    var maxProposalBytes = -1

    mutating func recordResponse(bytes: Int) {
        ServerStats.record(bytes, &lastResponseBytes, &minResponseBytes, &maxResponseBytes)
    }

    mutating func recordProposal(bytes: Int) {
        ServerStats.record(bytes, &lastProposalBytes, &minProposalBytes, &maxProposalBytes)
    }

    /// Apache's `BufferStats.setLastBufferSize`.
    private static func record(_ bytes: Int, _ last: inout Int, _ minimum: inout Int, _ maximum: inout Int) {
        last = bytes
        minimum = minimum < 0 ? bytes : min(minimum, bytes)
        maximum = max(maximum, bytes)
    }

    mutating func recordLatency(_ ms: Int64) {
        minLatencyMs = min(minLatencyMs, ms)
        maxLatencyMs = max(maxLatencyMs, ms)
        totalLatencyMs += ms
        latencyCount += 1
    }

    var minLatency: Int64 { latencyCount == 0 ? 0 : minLatencyMs }
    /// Apache's average: a double rounded to 4 decimals ("0.0", "0.3333").
    var averageLatency: String { formatAverage(totalLatencyMs, latencyCount) }
    /// The same average as a number (`mntr`'s and `server_stats`' avg_latency).
    var averageLatencyValue: Double {
        latencyCount == 0 ? 0 : Double((totalLatencyMs * 10000 + latencyCount / 2) / latencyCount) / 10000
    }

    /// `srst`: latency, packet counts and response sizes start over (`ServerStats.reset`); the
    /// failed-auth count and the leader's proposal sizes (reset only by the four-letter word, below) stay.
    mutating func reset() {
        let kept = self
        self = ServerStats()
        authFailedCount = kept.authFailedCount
        (lastProposalBytes, minProposalBytes, maxProposalBytes) = (kept.lastProposalBytes, kept.minProposalBytes, kept.maxProposalBytes)
    }

    /// The `srst` four-letter word on a leader also resets its proposal sizes.
    mutating func resetProposalSizes() {
        (lastProposalBytes, minProposalBytes, maxProposalBytes) = (-1, -1, -1)
    }
}

/// Java's rendering of `Math.round(x * 10000) / 10000.0` for a non-negative ratio.
func formatAverage(_ total: Int64, _ count: Int64) -> String {
    guard count > 0 else { return "0.0" }
    let scaled = (total * 10000 + count / 2) / count
    let whole = scaled / 10000
    var fraction = String(scaled % 10000)
    fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
    while fraction.count > 1 && fraction.hasSuffix("0") { fraction.removeLast() }
    return "\(whole).\(fraction)"
}
