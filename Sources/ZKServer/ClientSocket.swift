/// One accepted client socket: the bytes read but not yet framed, and the bytes queued for writing.
import ZKCore
import ZKProtocol
import ZKPosix

final class ClientSocket {
    let fd: Int32
    let id: ConnectionID
    let remote: SocketAddress
    var decoder: FrameDecoder
    /// Frames waiting to be written; `outputOffset` bytes of the first are already written.
    var output: [[UInt8]] = []
    var outputOffset = 0
    var outputBytes = 0
    /// The replica asked to close once the output is flushed.
    var closeAfterFlush = false
    var interest: EventLoop.Interest = .read

    init(fd: Int32, id: ConnectionID, remote: SocketAddress, frameSizeBytesMax: Int) {
        self.fd = fd
        self.id = id
        self.remote = remote
        decoder = FrameDecoder(frameSizeBytesMax: frameSizeBytesMax)
    }

    func enqueue(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }  // an empty buffer would stall writev at 0 bytes
        output.append(bytes)
        outputBytes += bytes.count
    }

    /// Writes as much queued output as the socket takes. Returns true when everything is written.
    func flush() throws(SyscallError) -> Bool {
        while !output.isEmpty {
            let batch = output.prefix(Socket.writevBuffersMax)
            let written: Int
            do {
                written = try Socket.writev(fd, arrays: batch, firstOffset: outputOffset)
            } catch .wouldBlock {
                return false
            }
            if written == 0 { return false }
            consume(written)
        }
        return true
    }

    private func consume(_ written: Int) {
        var remaining = written
        outputBytes -= written
        while remaining > 0 {
            let available = output[0].count - outputOffset
            if remaining >= available {
                remaining -= available
                output.removeFirst()
                outputOffset = 0
            } else {
                outputOffset += remaining
                remaining = 0
            }
        }
    }
}
