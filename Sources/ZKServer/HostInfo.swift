/// What the four-letter words report about the host and the configuration (`envi`, `conf`, `dirs`,
/// `mntr`), sampled by the shell because the core cannot read the system.
import ZKCore
import ZKReplica
import ZKPosix

extension Server {
    func hostSnapshot() -> HostSnapshot {
        var host = HostSnapshot()
        host.openFileDescriptors = (try? SystemInfo.openFileDescriptorCount()) ?? -1
        host.maxFileDescriptors = Int(SystemInfo.maxFileDescriptorCount())
        host.residentMemoryBytes = Int((try? SystemInfo.residentMemoryBytes()) ?? 0)
        // Apache 3.8.0 reports the txn log directory's size as the data dir size and the snapshot
        // directory's as the log dir size (its FileTxnSnapLog calls the log directory "dataDir");
        // 3.8.4 swapped them back. We match the reference server, 3.8.0.
        host.dataDirSizeBytes = Int((try? FileSystem.directorySizeBytes(config.dataLogDir + "/version-2")) ?? 0)
        host.dataLogDirSizeBytes = Int((try? FileSystem.directorySizeBytes(config.dataDir + "/version-2")) ?? 0)
        host.conf = confLines(dataDirSize: host.dataDirSizeBytes, dataLogSize: host.dataLogDirSizeBytes)
        host.environment = environment()
        host.metrics = storageMetrics
        return host
    }

    /// `ZooKeeperServer.dumpConf`, standalone form.
    func confLines(dataDirSize: Int, dataLogSize: Int) -> [String] {
        [
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
            "serverId=0",
        ]
    }

    /// `envi`: Apache's keys where they mean something for a native process; the Java ones say
    /// `<NA>` (there is no JVM), followed by our own process facts.
    func environment() -> [(String, String)] {
        let os = SystemInfo.operatingSystem()
        let rss = (try? SystemInfo.residentMemoryBytes()) ?? 0
        return [
            ("host.name", SystemInfo.canonicalHostName()),
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
            ("user.name", SystemInfo.userName() ?? "<NA>"),
            ("user.home", SystemInfo.homeDirectory() ?? "<NA>"),
            ("user.dir", (try? SystemInfo.currentDirectory()) ?? "<NA>"),
            ("os.memory.free", "<NA>"),
            ("os.memory.max", "<NA>"),
            ("os.memory.total", "\(rss / (1024 * 1024))MB"),
            ("process.id", String(SystemInfo.processID())),
        ]
    }
}
