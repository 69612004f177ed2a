/// Every bound the server enforces, in one place. Hitting a limit means backpressure or a clean
/// rejection, never unbounded growth. Values are passed in as configuration (no globals).
public struct Limits: Sendable, Equatable {
    /// `jute.maxbuffer`: the largest frame, string or buffer accepted on the client port.
    public var packetSizeBytesMax: Int = 0xFFFFF
    /// Extra room for records that wrap a full-size buffer (`zookeeper.jute.maxbuffer.extrasize`).
    public var juteExtraSizeBytes: Int { max(packetSizeBytesMax, 1024) }
    /// `maxClientCnxns`: concurrent connections from one IP address (0 = unlimited).
    public var connectionsPerAddressMax: Int = 60
    /// All client connections of the process (file descriptors are finite).
    public var connectionsMax: Int = 10_000
    /// `globalOutstandingLimit`: requests received but not yet answered, across all connections.
    /// Above it the shell stops reading from sockets until replies drain.
    public var outstandingRequestsMax: Int = 1000
    /// Bytes queued for one connection's socket before the shell stops reading its requests.
    public var bufferedOutputBytesPerConnectionMax: Int = 8 << 20
    /// Entries in one vector on the wire (ACL lists, children lists, multi ops, setWatches paths).
    public var vectorElementsMax: Int = 1 << 20
    /// Ops in one multi request.
    public var multiOpsMax: Int = 10_000

    public init() {}
}
