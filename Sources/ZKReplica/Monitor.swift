/// The figures `mntr`, the AdminServer's `monitor` and Prometheus' `/metrics` report, gathered in one
/// place so the three agree: Apache's `dumpMonitorValues` (version and states), the gauges its
/// servers register (`ZooKeeperServer.registerMetrics`, `LeaderZooKeeperServer`, `FollowerZooKeeperServer`,
/// `QuorumZooKeeperServer`), then its registry (`ServerMetrics`).
import ZKCore

extension Replica {
    /// Everything `mntr` and `monitor` report, typed as Apache types it.
    func monitorEntries(_ host: HostSnapshot) -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [("version", .string(config.versionString)), ("server_state", .string(modeName))]
        if let peerState = detailedPeerState { out.append(("peer_state", .string(peerState))) }
        if let ensemble, ensemble.peer.state == .observing, let leader = ensemble.peer.leaderID {
            out.append(("observer_master_id", .int(Int64(leader.rawValue))))
        }
        return out + gauges(host) + metrics.dump()
    }

    /// Apache's `QuorumPeer.getDetailedPeerState`: "following - broadcast", nil when standalone.
    var detailedPeerState: String? {
        guard let ensemble else { return nil }
        let zab: String
        switch ensemble.peer.state {
        case .looking: zab = "election"
        case .leading, .following, .observing: zab = ensemble.peer.isServing ? "broadcast" : "synchronization"
        }
        return "\(ensemble.peer.state)".lowercased() + " - " + zab
    }

    /// The numeric gauges: Prometheus' gauge families and the first figures of `mntr`.
    func gauges(_ host: HostSnapshot) -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [
            ("avg_latency", .double(stats.averageLatencyValue)),
            ("max_latency", .int(stats.maxLatencyMs)),
            ("min_latency", .int(stats.minLatency)),
            ("packets_received", .int(stats.packetsReceived)),
            ("packets_sent", .int(stats.packetsSent)),
            ("num_alive_connections", .int(connections.count)),
            ("outstanding_requests", .int(outstandingRequests)),
            ("uptime", .int(now.monotonicMs - startedAtMs)),
            ("znode_count", .int(tree.nodeCount)),
            ("watch_count", .int(watches.dataWatches.watchCount + watches.childWatches.watchCount)),
            ("ephemerals_count", .int(tree.ephemeralsCount)),
            ("approximate_data_size", .int(Int64(tree.approximateDataSizeBytes))),
            ("global_sessions", .int(sessions.count)),
            ("local_sessions", .int(0)),
            ("open_file_descriptor_count", .int(host.openFileDescriptors)),
            ("max_file_descriptor_count", .int(host.maxFileDescriptors)),
            ("connection_drop_probability", .double(0)),
            ("last_client_response_size", .int(stats.lastResponseBytes)),
            ("max_client_response_size", .int(stats.maxResponseBytes)),
            ("min_client_response_size", .int(stats.minResponseBytes)),
            ("outstanding_tls_handshake", .int(0)),
            ("auth_failed_count", .int(stats.authFailedCount)),
            ("non_mtls_remote_conn_count", .int(0)),
            ("non_mtls_local_conn_count", .int(0)),
            // Not one of Apache's (it has the JVM's heap instead); operators size pods by it.
            ("resident_memory_bytes", .int(host.residentMemoryBytes)),
        ]
        guard let ensemble else { return out }
        out.append(("quorum_size", .int(ensemble.peer.config.verifier.voters.count)))
        if let leader = ensemble.peer.leader {
            out.append(("learners", .int(leader.learnerCount)))
            // Apache's name for the voters in sync, kept from before observers existed.
            out.append(("synced_followers", .int(leader.syncedFollowers.count)))
            out.append(("synced_non_voting_followers", .int(0)))
            out.append(("synced_observers", .int(leader.syncedObservers.count)))
            out.append(("pending_syncs", .int(leader.pendingSyncCount)))
            out.append(("leader_uptime", .int(roleStartedMs.map { now.monotonicMs - $0 } ?? 0)))
            out.append(("last_proposal_size", .int(stats.lastProposalBytes)))
            out.append(("max_proposal_size", .int(stats.maxProposalBytes)))
            out.append(("min_proposal_size", .int(stats.minProposalBytes)))
        }
        return out
    }
}

extension JSONValue {
    /// A scalar as `mntr` prints it (Java's `String.valueOf`); nil for arrays and objects.
    var plainText: String? {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value): return JSONValue.text(of: value)
        case .string(let value): return value
        case .array, .object: return nil
        }
    }
}
