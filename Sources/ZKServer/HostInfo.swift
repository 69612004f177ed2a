/// What the four-letter words report about the host and the configuration (`envi`, `conf`, `dirs`,
/// `mntr`), sampled by the shell because the core cannot read the system. The facts that cost IO
/// come from a `HostFactsSampler` thread, so a word (a liveness probe's `ruok`) never waits for them.
import ZKCore
import ZKReplica
import ZKPosix

extension Server {
    /// How often four-letter words may cause a fresh sample, and how often one is taken anyway.
    static let hostFactsRefreshIntervalMs: Int64 = 1_000
    static let hostFactsPeriodicIntervalMs: Int64 = 5_000

    /// The sampler for this configuration; the server starts it in `start()`, stops it in `shutdown()`.
    static func makeHostFactsSampler(config: ServerConfig) throws(ServerError) -> HostFactsSampler {
        try HostFactsSampler(refreshIntervalMs: hostFactsRefreshIntervalMs,
                             periodicIntervalMs: hostFactsPeriodicIntervalMs) { previous in
            sampleHostFacts(config: config, previous: previous)
        }
    }

    /// Runs on the sampler thread: everything here may wait on the disk, /proc, DNS or NSS.
    static func sampleHostFacts(config: ServerConfig, previous: HostFacts) -> HostFacts {
        var facts = HostFacts()
        facts.sampleProcess()
        // Apache 3.8.0 reports the txn log directory's size as the data dir size and the snapshot
        // directory's as the log dir size (its FileTxnSnapLog calls the log directory "dataDir");
        // 3.8.4 swapped them back. We match the reference server, 3.8.0.
        // Apache 3.8's swap, kept: its `dirs` and `conf` report the log directory's size as the data
        // directory's and the other way round (HostFactsTests).
        facts.dataDirSizeBytes = Int((try? FileSystem.directorySizeBytes(config.dataLogDir + "/version-2")) ?? 0)
        facts.dataLogDirSizeBytes = Int((try? FileSystem.directorySizeBytes(config.dataDir + "/version-2")) ?? 0)
        // Looked up once: a DNS answer that is slow every time would otherwise delay every sample.
        // Not in the very first sample, so the cheap figures are there at once even when DNS takes
        // seconds (the sampler takes the next sample straight away).
        if !previous.isSampled {
            facts.namesPending = true
        } else if !previous.namesPending {
            facts.hostName = previous.hostName
            facts.userName = previous.userName
            facts.homeDirectory = previous.homeDirectory
        } else {
            facts.hostName = SystemInfo.canonicalHostName()
            facts.userName = SystemInfo.userName()
            facts.homeDirectory = SystemInfo.homeDirectory()
        }
        return facts
    }

    /// Runs on the event loop for every four-letter word, so it does no IO: the slow facts come from
    /// the sampler's cache (and a fresh sample is asked for, for the next word); the rest are
    /// syscalls that never wait (getrlimit, uname, getcwd, getpid, gethostname).
    func hostSnapshot(facts sampler: HostFactsSampler) -> HostSnapshot {
        sampler.requestRefresh()
        return hostSnapshot(sampled: sampler.latest)
    }

    private func hostSnapshot(sampled: HostFacts) -> HostSnapshot {
        var facts = sampled
        if !facts.isSampled {
            // Asked for in the first milliseconds, before the sampler's first sample: the two cheap
            // reads (/proc/self/statm, /proc/self/fd) are done here once rather than reporting zeros
            // (a first Prometheus scrape would graph the memory as 0).
            facts.sampleProcess()
        }
        var host = HostSnapshot()
        host.openFileDescriptors = facts.openFileDescriptors
        host.maxFileDescriptors = Int(SystemInfo.maxFileDescriptorCount())
        host.residentMemoryBytes = facts.residentMemoryBytes
        host.virtualMemoryBytes = facts.virtualMemoryBytes
        host.cpuSeconds = Double(SystemInfo.cpuTime().totalMicroseconds) / 1_000_000
        host.startTimeSeconds = Double(startWallMs) / 1000
        let clientHost = config.clientPortAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "0.0.0.0"
        host.clientAddress = "\(clientHost):\(clientPort)"
        host.dataDirSizeBytes = facts.dataDirSizeBytes
        host.dataLogDirSizeBytes = facts.dataLogDirSizeBytes
        host.conf = confLines(dataDirSize: host.dataDirSizeBytes, dataLogSize: host.dataLogDirSizeBytes)
        host.environment = environment(facts)
        host.adminConfiguration = [
            ("client_port", .int(Int(clientPort))),
            ("data_dir", .string("\(FileSystem.absolutePath(config.dataDir))/version-2")),
            ("data_log_dir", .string("\(FileSystem.absolutePath(config.dataLogDir))/version-2")),
            ("tick_time", .int(config.tickTimeMs)),
            ("max_client_cnxns", .int(config.maxClientCnxns)),
            ("min_session_timeout", .int(config.minSessionTimeoutMs)),
            ("max_session_timeout", .int(config.maxSessionTimeoutMs)),
            ("server_id", .int(Int64(config.myID?.rawValue ?? 0))),
            ("client_port_listen_backlog", .int(-1)),
        ]
        host.initialConfiguration = config.initialConfiguration
        return host
    }

    /// `ZooKeeperServer.dumpConf`, and in an ensemble `QuorumZooKeeperServer.dumpConf`'s quorum lines
    /// and membership (the replica ends the text without a newline after `version=`, as Apache does).
    func confLines(dataDirSize: Int, dataLogSize: Int) -> [String] {
        var lines = [
            "clientPort=\(clientPort)",
            "secureClientPort=-1",
            "dataDir=\(FileSystem.absolutePath(config.dataDir))/version-2",
            "dataDirSize=\(dataDirSize)",
            "dataLogDir=\(FileSystem.absolutePath(config.dataLogDir))/version-2",
            "dataLogSize=\(dataLogSize)",
            "tickTime=\(config.tickTimeMs)",
            "maxClientCnxns=\(config.maxClientCnxns)",
            "minSessionTimeout=\(config.minSessionTimeoutMs)",
            "maxSessionTimeout=\(config.maxSessionTimeoutMs)",
            "clientPortListenBacklog=-1",
            "serverId=\(myID?.rawValue ?? 0)",
        ]
        guard let myID, let me = config.quorumServer(myID) else { return lines }
        lines += [
            "initLimit=\(config.initLimitTicks)",
            "syncLimit=\(config.syncLimitTicks)",
            "electionAlg=\(config.electionAlg)",
            "electionPort=\(me.electionPort)",
            "quorumPort=\(me.quorumPort)",
            "peerType=\(me.learnerType == .observer ? 1 : 0)",
            "membership: ",
        ]
        for server in config.servers.sorted(by: { $0.id < $1.id }) {
            let host = server.host.contains(":") ? "[\(server.host)]" : server.host
            lines.append("server.\(server.id.rawValue)=\(host):\(server.quorumPort):\(server.electionPort):\(server.learnerType.rawValue)")
        }
        lines.append("version=0")
        return lines
    }

    /// `envi`: Apache's keys where they mean something for a native process; the Java ones say
    /// `<NA>` (there is no JVM), followed by our own process facts.
    /// Before the first sample the host name is the kernel's (gethostname, no lookup).
    func environment(_ facts: HostFacts) -> [(String, String)] {
        let os = SystemInfo.operatingSystem()
        return [
            ("host.name", facts.hostName ?? SystemInfo.hostName()),
            ("java.version", "<NA>"),
            ("java.vendor", "<NA>"),
            ("java.home", "<NA>"),
            ("java.class.path", "<NA>"),
            ("java.library.path", "<NA>"),
            ("java.io.tmpdir", "/tmp"),
            ("java.compiler", "<NA>"),
            ("os.name", os.name),
            ("os.arch", os.javaArchitecture),
            ("os.version", os.version),
            ("user.name", facts.userName ?? "<NA>"),
            ("user.home", facts.homeDirectory ?? "<NA>"),
            ("user.dir", (try? SystemInfo.currentDirectory()) ?? "<NA>"),
            ("os.memory.free", "<NA>"),
            ("os.memory.max", "<NA>"),
            ("os.memory.total", "\(facts.residentMemoryBytes / (1024 * 1024))MB"),
            ("process.id", String(SystemInfo.processID())),
        ]
    }
}
