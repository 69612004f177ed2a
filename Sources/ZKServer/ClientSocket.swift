/// One accepted client socket: the bytes read but not yet framed, and the bytes queued for writing.
import ZKCore
import ZKProtocol
import ZKPosix

final class ClientSocket {
    let fd: Int32
    let id: ConnectionID
    let remote: SocketAddress
    var decoder: FrameDecoder
    var output = OutputQueue()
    /// The replica asked to close once the output is flushed.
    var closeAfterFlush = false
    /// When the server first saw `closeAfterFlush` still waiting (its tick), for `dropStalledCloses`.
    var closeRequestedMs: Int64?
    var interest: EventLoop.Interest = .read

    init(fd: Int32, id: ConnectionID, remote: SocketAddress, frameSizeBytesMax: Int) {
        self.fd = fd
        self.id = id
        self.remote = remote
        decoder = FrameDecoder(frameSizeBytesMax: frameSizeBytesMax)
    }

    func enqueue(_ bytes: [UInt8]) { output.append(bytes) }

    /// Writes as much queued output as the socket takes. Returns true when everything is written.
    func flush() throws(SyscallError) -> Bool { try output.write(to: fd) }
}
