/// Apache ZooKeeper 3.8's AdminServer commands (`server/admin/Commands.java`) as JSON, with Apache's
/// names, aliases, keys and value types (captures of Apache's answers are in
/// `Tests/integration/data/apache-3.8-adminserver-standalone/`). The shell serves them over HTTP;
/// this file only reads (and for the reset and trace-mask commands, changes) the replica's state.
///
/// `monitor` has the `mntr` figures (`Monitor.swift`).
import ZKCore
import ZKDataTree

public enum AdminCommand: String, CaseIterable, Sendable {
    case configuration = "configuration"
    case connectionStatReset = "connection_stat_reset"
    case connections = "connections"
    case dirs = "dirs"
    case dump = "dump"
    case environment = "environment"
    case getTraceMask = "get_trace_mask"
    case hash = "hash"
    case isReadOnly = "is_read_only"
    case leader = "leader"
    case ruok = "ruok"
    case serverStats = "server_stats"
    case setTraceMask = "set_trace_mask"
    case statReset = "stat_reset"
    case stats = "stats"
    case watchSummary = "watch_summary"
    case watches = "watches"
    case watchesByPath = "watches_by_path"
    case observers = "observers"
    case observerConnectionStatReset = "observer_connection_stat_reset"
    case votingView = "voting_view"
    case systemProperties = "system_properties"
    case lastSnapshot = "last_snapshot"
    case initialConfiguration = "initial_configuration"
    case monitor = "monitor"
    case zabState = "zabstate"

    /// Apache's other names for each command (the four-letter words among them).
    public var aliases: [String] {
        switch self {
        case .configuration: return ["conf", "config"]
        case .connectionStatReset: return ["crst"]
        case .connections: return ["cons"]
        case .dirs, .dump, .hash, .ruok, .zabState: return []
        case .environment: return ["env", "envi"]
        case .getTraceMask: return ["gtmk"]
        case .isReadOnly: return ["isro"]
        case .leader: return ["lead"]
        case .serverStats: return ["srvr"]
        case .setTraceMask: return ["stmk"]
        case .statReset: return ["srst"]
        case .stats: return ["stat"]
        case .watchSummary: return ["wchs"]
        case .watches: return ["wchc"]
        case .watchesByPath: return ["wchp"]
        case .observers: return ["obsr"]
        case .observerConnectionStatReset: return ["orst"]
        case .votingView: return []
        case .systemProperties: return ["sysp"]
        case .lastSnapshot: return ["lsnp"]
        case .initialConfiguration: return ["icfg"]
        case .monitor: return ["mntr"]
        }
    }

    /// The command a name or alias means.
    public init?(named name: String) {
        if let command = AdminCommand(rawValue: name) {
            self = command
            return
        }
        guard let command = AdminCommand.allCases.first(where: { $0.aliases.contains(name) }) else { return nil }
        self = command
    }

    /// Apache answers these only while the server runs (serves requests).
    var needsServingServer: Bool {
        switch self {
        case .environment, .getTraceMask, .ruok, .setTraceMask, .systemProperties: return false
        case .configuration, .connectionStatReset, .connections, .dirs, .dump, .hash, .isReadOnly, .leader,
             .serverStats, .statReset, .stats, .watchSummary, .watches, .watchesByPath, .observers,
             .observerConnectionStatReset, .votingView, .lastSnapshot, .initialConfiguration, .monitor, .zabState:
            return true
        }
    }
}

extension Replica {
    /// The answer to `/commands/<name>`, as Apache's `CommandResponse`: the command's entries, then
    /// `command` (its primary name) and `error` (null, or why it did not run).
    public func adminCommand(_ name: String, arguments: [(String, String)], host: HostSnapshot) -> JSONValue {
        guard let command = AdminCommand(named: name) else {
            return .object([("command", .string(name)), ("error", .string("Unknown command: \(name)"))])
        }
        if command.needsServingServer && !isServing {
            return .object([("command", .string(command.rawValue)),
                            ("error", .string("This ZooKeeper instance is not currently serving requests"))])
        }
        var entries = adminEntries(command, arguments: arguments, host: host)
        // A command that reports its own error keeps it where it put it (Apache's map order).
        if let index = entries.firstIndex(where: { $0.0 == "error" }) {
            entries.insert(("command", .string(command.rawValue)), at: index + 1)
            return .object(entries)
        }
        return .object(entries + [("command", .string(command.rawValue)), ("error", .null)])
    }

    private func adminEntries(_ command: AdminCommand, arguments: [(String, String)], host: HostSnapshot) -> [(String, JSONValue)] {
        switch command {
        case .ruok: return []
        case .serverStats: return serverStatsEntries(host)
        case .stats:
            return serverStatsEntries(host) + [("connections", .array(connectionInfos(brief: true))),
                                                ("secure_connections", .array([]))]
        case .connections:
            return [("connections", .array(connectionInfos(brief: false))), ("secure_connections", .array([]))]
        case .configuration: return host.adminConfiguration
        case .environment:
            return [("zookeeper.version", .string(config.versionString))] + host.environment.map { ($0.0, .string($0.1)) }
        case .dirs:
            return [("datadir_size", .int(host.dataDirSizeBytes)), ("logdir_size", .int(host.dataLogDirSizeBytes))]
        case .isReadOnly: return [("read_only", .bool(false))]
        case .getTraceMask: return [("tracemask", .int(traceMask))]
        case .setTraceMask:
            guard let text = arguments.first(where: { $0.0 == "traceMask" })?.1, let mask = Int64(text) else {
                return [("error", .string("setTraceMask requires long traceMask argument"))]
            }
            traceMask = mask
            return [("tracemask", .int(mask))]
        case .connectionStatReset:
            for connection in connections.values { connection.stats.reset() }
            return []
        case .statReset:
            stats.reset()
            metrics.reset()
            return []
        case .watchSummary:
            let table = watches.dataWatches
            return [("num_connections", .int(table.pathsByWatcher.count)), ("num_paths", .int(table.pathCount)),
                    ("num_total_watches", .int(table.watchCount))]
        case .watches:
            return [("session_id_to_watched_paths", .object(dataWatchesBySession().map { session, paths in
                (String(session.rawValue), .array(paths.map { .string($0) }))
            }))]
        case .watchesByPath:
            return [("path_to_session_ids", .object(dataWatchersByPath().map { path, sessions in
                (path, .array(sessions.map(\.rawValue).sorted().map { .int($0) }))
            }))]
        case .observers:
            // A leader's synced observers; a follower serves none here (no observer masters).
            let synced = ensemble?.peer.leader?.syncedObserverLinks ?? []
            return [("synced_observers", .int(synced.count)),
                    ("observers", .array(synced.map { link in
                        let stats = ensemble?.learnerLinks[link.id] ?? LearnerLinkStats(remote: "<null>", establishedWallMs: 0)
                        return .object([
                            ("remote_socket_address", .string(stats.remote)), ("sid", .int(link.sid.rawValue)),
                            ("established", .int(stats.establishedWallMs)), ("queued_packets", .int(0)),
                            ("queued_packets_size", .int(0)), ("packets_received", .int(stats.packetsReceived)),
                            ("packets_sent", .int(stats.packetsSent)), ("requests", .int(stats.requests)),
                            ("last_zxid", .int(stats.lastZxid.rawValue)),
                        ])
                    }))]
        case .observerConnectionStatReset:
            if let ensemble { for id in ensemble.learnerLinks.keys { ensemble.learnerLinks[id]!.reset() } }
            return []
        case .lastSnapshot:
            // Long.toHexString of the zxid (-1, all ones, when there is none) and seconds.
            return [("zxid", .string(String(UInt64(bitPattern: lastSnapshot?.zxid.rawValue ?? -1), radix: 16))),
                    ("timestamp", .int(lastSnapshot?.seconds ?? -1))]
        case .initialConfiguration: return [("initial_configuration", .string(host.initialConfiguration))]
        case .monitor: return monitorEntries(host)
        case .votingView:
            // QuorumServerView: the voters' quorum, election and client addresses.
            let voters = ensemble?.peer.config.verifier.members.filter { $0.role == .participant } ?? []
            return [("current_config", .object(voters.map { member in
                (String(member.id.rawValue), .object([
                    ("server_addresses", .array([.string(member.delimitedHost + ":" + String(member.quorumPort))])),
                    ("election_addresses", .array([.string(member.electionAddress)])),
                    // Apache knows only its own client address (and those a dynamic configuration gives).
                    ("client_address", .string(member.dynamicClientAddress
                        ?? (member.id == ensemble?.peer.config.myID ? host.clientAddress : ""))),
                    ("learner_type", .string("participant")),
                ]))
            }))]
        case .systemProperties:
            // No JVM: the properties this process has an answer for, with Java's names.
            return host.environment.filter { !$0.1.hasPrefix("<NA>") }.map { ($0.0, .string($0.1)) }
                + [("file.separator", .string("/")), ("line.separator", .string("\n")), ("path.separator", .string(":"))]
        case .dump: return dumpEntries()
        case .hash: return [("digests", .array([]))]  // no txn digests are kept (see docs/FORMATS.md)
        case .leader: return leaderEntries()
        case .zabState: return zabStateEntries(host)
        }
    }

    /// `ZooKeeperServer.getServerStats` / `ServerStats` fields, in Apache's order.
    private func serverStatsEntries(_ host: HostSnapshot) -> [(String, JSONValue)] {
        let buffers: JSONValue = .object([("last_buffer_size", .int(stats.lastResponseBytes)),
                                          ("min_buffer_size", .int(stats.minResponseBytes)),
                                          ("max_buffer_size", .int(stats.maxResponseBytes))])
        let serverStats: JSONValue = .object([
            ("packets_sent", .int(stats.packetsSent)),
            ("packets_received", .int(stats.packetsReceived)),
            ("fsync_threshold_exceed_count", .int(0)),
            ("client_response_stats", buffers),
            ("data_dir_size", .int(host.dataDirSizeBytes)),
            ("log_dir_size", .int(host.dataLogDirSizeBytes)),
            ("provider_null", .bool(false)),
            ("server_state", .string(modeName)),
            ("last_processed_zxid", .int(tree.lastProcessedZxid.rawValue)),
            ("outstanding_requests", .int(outstandingRequests)),
            ("avg_latency", .double(stats.averageLatencyValue)),  // rounded to four decimals, as Apache's
            ("max_latency", .int(stats.maxLatencyMs)),
            ("min_latency", .int(stats.minLatency)),
            ("num_alive_client_connections", .int(connections.count)),
            ("uptime", .int(now.monotonicMs - startedAtMs)),
            ("auth_failed_count", .int(stats.authFailedCount)),
            ("non_mtlsremote_conn_count", .int(0)),
            ("non_mtlslocal_conn_count", .int(0)),
        ])
        return [("version", .string(config.versionString)), ("read_only", .bool(false)),
                ("server_stats", serverStats), ("client_response", buffers)]
            + (ensemble?.isLeader == true ? [("proposal_stats", .object([
                ("last_buffer_size", .int(stats.lastProposalBytes)), ("min_buffer_size", .int(stats.minProposalBytes)),
                ("max_buffer_size", .int(stats.maxProposalBytes))]))] : [])
            + [("node_count", .int(tree.nodeCount))]
    }

    /// `ServerCnxn.getConnectionInfo(brief)`, connections in id order.
    private func connectionInfos(brief: Bool) -> [JSONValue] {
        connections.values.sorted { $0.id < $1.id }.map { c in
            var info: [(String, JSONValue)] = [
                ("remote_socket_address", .string("\(c.remote.javaDescription.dropFirst())")),
                ("interest_ops", .int(c.answeringFourLetterWord ? 0 : 1)),
                ("outstanding_requests", .int(c.outstandingCount)),
                ("packets_received", .int(c.stats.packetsReceived)),
                ("packets_sent", .int(c.stats.packetsSent)),
            ]
            if !brief, let session = c.session {
                let s = c.stats
                info += [("session_id", .int(session.rawValue)), ("last_operation", .string(s.lastOp)),
                         ("established", .int(s.establishedWallMs)), ("session_timeout", .int(Int(c.negotiatedTimeoutMs))),
                         ("last_cxid", .int(Int64(s.lastCxid))), ("last_zxid", .int(s.lastZxid.rawValue)),
                         ("last_response_time", .int(s.lastResponseWallMs)), ("last_latency", .int(s.lastLatencyMs)),
                         ("min_latency", .int(s.latencyCount == 0 ? 0 : s.minLatencyMs)),
                         ("avg_latency", .int(s.latencyCount == 0 ? 0 : s.totalLatencyMs / s.latencyCount)),
                         ("max_latency", .int(s.maxLatencyMs))]
            }
            return .object(info)
        }
    }

    /// `dump`: sessions by expiry time (Apache's expiry buckets; ours are exact times) and ephemerals.
    private func dumpEntries() -> [(String, JSONValue)] {
        var byExpiry: [Int64: [Int64]] = [:]
        for session in sessions.sessions.values {
            byExpiry[session.expiresAtMs ?? now.monotonicMs, default: []].append(session.id.rawValue)
        }
        let expiry: [(String, JSONValue)] = byExpiry.keys.sorted().map { time in
            (String(time), .array(byExpiry[time]!.sorted().map { .int($0) }))
        }
        let ephemerals: [(String, JSONValue)] = tree.ephemerals.keys.sorted().map { owner in
            (String(owner), .array((tree.ephemerals[owner] ?? ChildSet()).sorted().map { .string($0) }))
        }
        return [("expiry_time_to_session_ids", .object(expiry)), ("session_id_to_ephemeral_paths", .object(ephemerals))]
    }

    private func leaderEntries() -> [(String, JSONValue)] {
        guard let ensemble else { return [("error", .string("server is not initialized"))] }
        let leader = ensemble.peer.leaderID
        let address = leader.flatMap { ensemble.peer.config.verifier.member($0) }.map { "\($0.host):\($0.quorumPort)" }
        return [("is_leader", .bool(ensemble.isLeader)), ("leader_id", .int(leader?.rawValue ?? -1)),
                ("leader_ip", .string(address ?? ""))]
    }

    private func zabStateEntries(_ host: HostSnapshot) -> [(String, JSONValue)] {
        guard let ensemble else { return [("voting", .bool(false)), ("zabstate", .string(""))] }
        let me = ensemble.peer.config.verifier.members.first { $0.id == ensemble.peer.config.myID }
        let voting = ensemble.peer.config.verifier.isVoter(ensemble.peer.config.myID)
        // Apache's QuorumPeer.ZabState, lowercased: election, discovery/synchronization, broadcast.
        let state: String
        switch ensemble.peer.state {
        case .looking: state = "election"
        case .leading, .following, .observing: state = ensemble.peer.isServing ? "broadcast" : "synchronization"
        }
        let zxid = tree.lastProcessedZxid
        return [
            ("myid", .int(ensemble.peer.config.myID.rawValue)), ("is_leader", .bool(ensemble.isLeader && ensemble.peer.isServing)),
            ("quorum_address", Replica.multipleAddresses(me?.host ?? "", me?.quorumPort ?? 0)),
            ("election_address", Replica.multipleAddresses(me?.host ?? "", me?.electionPort ?? 0)),
            ("client_address", .string(host.clientAddress)), ("voting", .bool(voting)),
            ("last_zxid", .string("0x" + String(UInt64(bitPattern: zxid.rawValue), radix: 16))),
            ("zab_epoch", .int(Int64(zxid.epoch.rawValue))), ("zab_counter", .int(Int64(zxid.counter))),
            ("zabstate", .string(state)),
        ]
    }

    /// Apache's `MultipleAddresses` as Jackson writes the bean (one address here: no multiAddress).
    static func multipleAddresses(_ host: String, _ port: Int) -> JSONValue {
        let address: JSONValue = .string("\(host.contains(":") ? "[\(host)]" : host):\(port)")
        return .object([
            ("empty", .bool(false)), ("all_addresses", .array([address])), ("all_reachable_addresses", .array([address])),
            ("one", address), ("reachable_address", address), ("wildcard_addresses", .array([.string("0.0.0.0:\(port)")])),
            ("all_ports", .array([.int(port)])), ("all_host_strings", .array([.string(host)])),
            ("all_reachable_addresses_or_all", .array([address])), ("reachable_or_one", address),
        ])
    }
}
