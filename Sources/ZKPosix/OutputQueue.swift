/// Frames waiting to be written to a non-blocking socket. `write(to:)` sends as many as the socket
/// takes with one `sendmsg` per 64 frames, remembering how far into the first frame it got. Written
/// frames are dropped by advancing a head index (not by shifting the array per frame), and the
/// storage is compacted once the written prefix dominates it.
public struct OutputQueue: Sendable {
    private var frames: [[UInt8]] = []
    private var head = 0
    /// Bytes of `frames[head]` already written.
    private var offset = 0
    /// Bytes queued and not yet written.
    public private(set) var byteCount = 0

    public init() {}

    public var isEmpty: Bool { head == frames.count }

    public mutating func append(_ frame: [UInt8]) {
        guard !frame.isEmpty else { return }  // an empty buffer would stall writev at 0 bytes
        frames.append(frame)
        byteCount += frame.count
    }

    public mutating func removeAll() {
        frames.removeAll()
        head = 0
        offset = 0
        byteCount = 0
    }

    /// Writes until the queue is empty (true) or the socket would block (false).
    public mutating func write(to fd: Int32) throws(SyscallError) -> Bool {
        while !isEmpty {
            let written: Int
            do {
                written = try Socket.writev(fd, arrays: frames[head...].prefix(Socket.writevBuffersMax), firstOffset: offset)
            } catch .wouldBlock {
                return false
            }
            if written == 0 { return false }
            consume(written)
        }
        return true
    }

    private mutating func consume(_ written: Int) {
        var remaining = written
        byteCount -= written
        while remaining > 0 {
            let available = frames[head].count - offset
            if remaining < available {
                offset += remaining
                return
            }
            remaining -= available
            head += 1
            offset = 0
        }
        if head == frames.count {
            frames.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= frames.count {
            frames.removeFirst(head)
            head = 0
        }
    }
}
