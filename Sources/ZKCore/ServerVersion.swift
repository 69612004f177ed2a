/// Which Apache ZooKeeper this server speaks, and our own version.
public enum ServerVersion {
    /// The Apache ZooKeeper release whose protocol we implement.
    public static let protocolVersion = "3.8.0"
    public static let ownVersion = "swift-zookeeper 0.1.0"
    /// Reported by `srvr`, `stat`, `mntr` and `envi`; starts like Apache's so version parsers work.
    public static let full = "\(protocolVersion)-\(ownVersion), built on 2026-11-21 00:00 UTC"
}
