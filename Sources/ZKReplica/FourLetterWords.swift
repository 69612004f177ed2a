/// The four-letter words, in Apache ZooKeeper 3.8's output formats (`server/command/*`). The answer
/// is written and the connection closed; a word that is not whitelisted says so.
import ZKCore
import ZKProtocol
import ZKDataTree

extension Replica {
    func answerFourLetterWord(_ word: FourLetterWord, argument: Int64?, host: HostSnapshot, on connection: Connection) {
        log(.info, "NIOServerCnxn", "Processing \(word.rawValue) command from \(connection.remote.javaDescription)")
        // Counted as Apache counts it: one packet received before the answer is rendered (so `stat`
        // lists its own connection as `[0](queued=0,recved=1,sent=0)`), one sent once it is written.
        connection.stats.packetsReceived += 1
        stats.packetsReceived += 1
        connection.answeringFourLetterWord = true
        let text: String
        if !config.fourLetterWordWhitelist.contains(word) {
            text = "\(word.rawValue) is not executed because it is not in the whitelist.\n"
        } else {
            text = fourLetterWordText(word, argument: argument, host: host)
        }
        effects.append(.send(connection.id, Array(text.utf8)))
        stats.packetsSent += 1
        close(connection, reason: "four-letter word answered")
    }

    private func fourLetterWordText(_ word: FourLetterWord, argument: Int64?, host: HostSnapshot) -> String {
        if !isServing {
            switch word {
            case .srvr, .stat, .mntr, .conf, .cons, .dump, .wchs, .wchc, .wchp, .crst, .srst:
                return "This ZooKeeper instance is not currently serving requests\n"
            case .ruok, .isro, .envi, .dirs, .gtmk, .stmk, .hash:
                break
            }
        }
        switch word {
        case .ruok: return "imok"
        case .isro: return "rw"
        case .srvr: return statText(withClients: false)
        case .stat: return statText(withClients: true)
        case .conf: return ensemble == nil ? host.conf.map { $0 + "\n" }.joined() : host.conf.joined(separator: "\n")
        case .cons: return connectionLines(brief: false).map { $0 + "\n" }.joined() + "\n"
        case .crst:
            for connection in connections.values { connection.stats.reset() }
            return "Connection stats reset.\n"
        case .srst:
            stats.reset()
            metrics.reset()
            if ensemble?.isLeader == true { stats.resetProposalSizes() }
            return "Server stats reset.\n"
        case .dump: return dumpText()
        case .envi: return enviText(host)
        case .mntr: return mntrText(host)
        case .wchs:
            let table = watches.dataWatches
            return "\(table.pathsByWatcher.count) connections watching \(table.pathCount) paths\nTotal watches:\(table.watchCount)\n"
        case .wchc: return watchesBySession() + "\n"
        case .wchp: return watchesByPath() + "\n"
        case .dirs: return "datadir_size: \(host.dataDirSizeBytes)\nlogdir_size: \(host.dataLogDirSizeBytes)\n"
        case .gtmk: return String(traceMask)
        case .stmk:
            traceMask = argument ?? traceMask
            return String(traceMask)
        case .hash:
            // Apache lists the digests it logged for recent zxids; a standalone server logs none.
            return ""
        }
    }

    private func statText(withClients: Bool) -> String {
        var out = "Zookeeper version: \(config.versionString)\n"
        if withClients {
            out += "Clients:\n"
            for line in connectionLines(brief: true) { out += line + "\n" }
            out += "\n"
        }
        out += "Latency min/avg/max: \(stats.minLatency)/\(stats.averageLatency)/\(stats.maxLatencyMs)\n"
        out += "Received: \(stats.packetsReceived)\nSent: \(stats.packetsSent)\n"
        out += "Connections: \(connections.count)\nOutstanding: \(outstandingRequests)\n"
        out += "Zxid: 0x\(tree.lastProcessedZxid.hex)\nMode: \(modeName)\nNode count: \(tree.nodeCount)\n"
        return out
    }

    /// `ServerCnxn.dumpConnectionInfo`, one line per connection in id order.
    private func connectionLines(brief: Bool) -> [String] {
        connections.values.sorted { $0.id < $1.id }.map { c in
            var line = " \(c.remote.javaDescription)[\(c.interestOps)](queued=\(c.outstandingCount),recved=\(c.stats.packetsReceived),sent=\(c.stats.packetsSent)"
            if !brief, let session = c.session {
                let s = c.stats
                line += ",sid=0x\(session.hex),lop=\(s.lastOp),est=\(s.establishedWallMs),to=\(c.negotiatedTimeoutMs)"
                if s.lastCxid >= 0 { line += ",lcxid=0x\(String(UInt32(bitPattern: s.lastCxid), radix: 16))" }
                line += ",lzxid=0x\(s.lastZxid.hex),lresp=\(s.lastResponseWallMs),llat=\(s.lastLatencyMs)"
                line += ",minlat=\(s.latencyCount == 0 ? 0 : s.minLatencyMs),avglat=\(s.latencyCount == 0 ? 0 : s.totalLatencyMs / s.latencyCount),maxlat=\(s.maxLatencyMs)"
            }
            return line + ")"
        }
    }

    private func dumpText() -> String {
        var out = "SessionTracker dump:\n"
        let all = sessions.sessions.values.sorted { $0.id < $1.id }
        out += "Session Sets (\(all.isEmpty ? 0 : 1))/(\(all.count)):\n"
        for session in all {
            let remainingMs = (session.expiresAtMs ?? now.monotonicMs) - now.monotonicMs
            out += "1 expire at \(JavaDate.string(fromEpochMs: now.wallMs + remainingMs)):\n\t0x\(session.id.hex)\n"
        }
        out += "ephemeral nodes dump:\n"
        let owners = tree.ephemerals.keys.sorted()
        out += "Sessions with Ephemerals (\(owners.count)):\n"
        for owner in owners {
            out += "0x\(SessionID(owner).hex):\n"
            for path in tree.ephemerals[owner] ?? ChildSet() { out += "\t\(path)\n" }
        }
        out += "Connections dump:\n"
        // `NIOServerCnxn.toString`: "ip: /addr:port sessionId: 0x…", grouped under one expiry time.
        let open = connections.values.sorted { $0.id < $1.id }
        out += "Connections Sets (\(open.isEmpty ? 0 : 1))/(\(open.count)):\n"
        if !open.isEmpty { out += "\(open.count) expire at \(JavaDate.string(fromEpochMs: now.wallMs)):\n" }
        for c in open { out += "\tip: \(c.remote.javaDescription) sessionId: 0x\(c.session?.hex ?? "0")\n" }
        return out
    }

    private func enviText(_ host: HostSnapshot) -> String {
        var out = "Environment:\nzookeeper.version=\(config.versionString)\n"
        for (key, value) in host.environment { out += "\(key)=\(value)\n" }
        return out
    }

    private func mntrText(_ host: HostSnapshot) -> String {
        monitorEntries(host).compactMap { key, value in value.plainText.map { "zk_\(key)\t\($0)\n" } }.joined()
    }

    private func watchesBySession() -> String {
        dataWatchesBySession().map { session, paths in
            "0x\(session.hex)\n" + paths.map { "\t\($0)\n" }.joined()
        }.joined()
    }

    private func watchesByPath() -> String {
        dataWatchersByPath().map { path, sessions in
            path + "\n" + sessions.map { "\t0x\($0.hex)\n" }.joined()
        }.joined()
    }

    /// Data watches by watching session (sessions and paths sorted): `wchc` and the AdminServer's `watches`.
    func dataWatchesBySession() -> [(session: SessionID, paths: [String])] {
        var bySession: [SessionID: [String]] = [:]
        for (watcher, paths) in watches.dataWatches.pathsByWatcher {
            bySession[connections[watcher]?.session ?? SessionID(0), default: []] += paths
        }
        return bySession.keys.sorted().map { ($0, bySession[$0]!.sorted()) }
    }

    /// Each watched path (sorted) with its watchers' sessions in connection order: `wchp` and `watches_by_path`.
    func dataWatchersByPath() -> [(path: String, sessions: [SessionID])] {
        let table = watches.dataWatches.watchers
        return table.keys.sorted().map { path in
            (path, table[path]!.keys.sorted().map { connections[$0]?.session ?? SessionID(0) })
        }
    }
}
