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

    // Storage: the queues between the event loop and the storage threads are bounded by these.
    /// Txns handed to the log and not yet durable. At the limit the replica stops taking requests
    /// (the shell stops reading) until syncs catch up.
    public var txnsInFlightMax: Int = 20_000
    /// Nodes serialized per snapshot chunk, so requests keep flowing meanwhile.
    public var snapshotChunkNodesMax: Int = 4096
    /// Bytes per snapshot chunk: with the nodes' bound, what keeps a chunk's serialization (and its
    /// checksums) to a fraction of a millisecond whatever the nodes' sizes (4,096 nodes of 1 MiB
    /// would otherwise be 4 GiB in one turn).
    public var snapshotChunkBytesMax: Int = 128 << 10
    /// Snapshot chunks handed to the snapshot thread and not yet written: a slow disk slows the
    /// snapshot, it does not grow memory. A chunk is made only when one is written, so a loop turn
    /// serializes at most this many chunks. One: with four, a turn that found four written made four,
    /// and requests got a third of the loop while a large tree was written (1 KiB creates: slowest
    /// second 0.35 of the median; with one, 0.8).
    public var snapshotChunksInFlightMax: Int = 1
    /// And a chunk ends once its serialization took this long (where the shell gives a clock).
    public var snapshotChunkMicrosecondsMax: Int = 500
    /// Snapshot bytes written between syncs: syncing as it goes keeps a whole snapshot of dirty
    /// pages from piling up, whose final flush would stall the log's group commits.
    public var snapshotSyncStepBytes: Int = 4 << 20
    /// Zeros written ahead of the log's write position, in steps of this size.
    public var logZeroStepBytes: Int = 1 << 20

    // The POSIX shell.
    /// Reads from one socket per loop turn, so one busy client cannot starve the others.
    public var readsPerSocketPerTurnMax: Int = 16
    /// The shell's socket read buffer.
    public var readBufferBytes: Int = 64 << 10
    /// The client listener's accept backlog.
    public var listenBacklog: Int = 128

    public init() {}
}
