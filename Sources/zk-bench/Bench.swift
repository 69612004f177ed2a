/// The load generator: N connections on one epoll loop, each keeping `inFlight` requests
/// outstanding, encoded directly in the client protocol (no client library in the way), so the
/// benchmark is not the bottleneck. Latency is measured per request, from the write of the turn
/// that sent it to the reply, in microseconds.
import ZKCore
import ZKProtocol
import ZKPosix

final class BenchConnection {
    let fd: Int32
    var decoder = FrameDecoder(frameSizeBytesMax: 64 << 20)
    var output = JuteWriter(capacity: 64 * 1024)
    var pending: [(op: Operation, startNs: Int64, path: String?)] = []
    var pendingHead = 0
    var xid: Int32 = 1
    var created: [String] = []
    var sequence = 0
    let index: Int

    init(fd: Int32, index: Int) { self.fd = fd; self.index = index }
    var outstanding: Int { pending.count - pendingHead }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

final class Bench {
    let options: Options
    let loop: EventLoop
    var connections: [BenchConnection] = []
    var random = SeededRandom(seed: 0x5EED)
    let value: [UInt8]
    let weights: [(Operation, Int)]
    let totalWeight: Int
    var latenciesUs: [UInt32] = []
    var counts: [Operation: Int] = [:]
    var errors: [Int32: Int] = [:]
    var measuring = false
    var stopIssuing = false
    var completedInWindow = 0
    var measuredOps = 0
    var readBuffer = [UInt8](repeating: 0, count: 256 * 1024)

    init(options: Options) throws {
        self.options = options
        loop = try EventLoop(maxEventsPerWait: 64)
        value = [UInt8](repeating: 0x78, count: options.valueBytes)
        weights = options.mix.filter { $0.1 > 0 }
        totalWeight = weights.reduce(0) { $0 + $1.1 }
    }

    // MARK: Connecting

    func connectAll() throws {
        let host = try ConnectTarget(options.server)
        for index in 0..<options.connections {
            let fd = try Socket.connect(host: host.host, port: host.port)
            try handshake(fd)
            Socket.setNonBlocking(fd, true)
            try loop.register(fd, interest: .read, token: UInt64(index))
            connections.append(BenchConnection(fd: fd, index: index))
        }
    }

    private func handshake(_ fd: Int32) throws {
        let request = ConnectRequest(timeOut: options.sessionTimeoutMs)
        try writeAll(fd, FrameEncoder.frame { request.encode(to: &$0) })
        let response = try ConnectResponse(bytes: try readFrameBlocking(fd))
        guard response.timeOut > 0 else { throw BenchError("the server refused the session") }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            offset += try bytes.withUnsafeBytes { raw in try Socket.writeSome(fd, bytes: UnsafeRawBufferPointer(rebasing: raw[offset...])) }
        }
    }

    private func readFrameBlocking(_ fd: Int32) throws -> [UInt8] {
        var decoder = FrameDecoder(frameSizeBytesMax: 1 << 20)
        while true {
            if case .frame(let bytes)? = try decoder.next() { return bytes }
            var chunk: [UInt8] = []
            guard try Socket.readAvailable(fd, into: &chunk, maxBytes: 4096) > 0 else { throw BenchError("server closed the connection") }
            decoder.append(chunk)
        }
    }

    // MARK: Requests

    private func path(forKey key: Int) -> String { "\(options.prefix)/k\(key)" }

    func nextOperation() -> Operation {
        var pick = Int.random(in: 0..<totalWeight, using: &random)
        for (op, weight) in weights {
            if pick < weight { return op }
            pick -= weight
        }
        return weights[0].0
    }

    /// Appends one request of `op` to the connection's output.
    func issue(_ op: Operation, on c: BenchConnection, nowNs: Int64) {
        var actual = op
        if op == .delete && c.created.isEmpty { actual = .create }
        let xid = c.xid
        c.xid = c.xid == Int32.max ? 1 : c.xid + 1
        let key = Int.random(in: 0..<options.keys, using: &random)
        var createdPath: String?
        let lengthAt = c.output.bytes.count
        c.output.writeInt(0)
        switch actual {
        case .get:
            RequestHeader(xid: xid, type: OpCode.getData.rawValue).encode(to: &c.output)
            PathWatchRequest(path: path(forKey: key), watch: false).encode(to: &c.output)
        case .exists:
            RequestHeader(xid: xid, type: OpCode.exists.rawValue).encode(to: &c.output)
            PathWatchRequest(path: path(forKey: key), watch: false).encode(to: &c.output)
        case .children:
            RequestHeader(xid: xid, type: OpCode.getChildren.rawValue).encode(to: &c.output)
            PathWatchRequest(path: path(forKey: key), watch: false).encode(to: &c.output)
        case .set:
            RequestHeader(xid: xid, type: OpCode.setData.rawValue).encode(to: &c.output)
            SetDataRequest(path: path(forKey: key), data: value, version: -1).encode(to: &c.output)
        case .create:
            c.sequence += 1
            let p = "\(options.prefix)/c\(c.index)-\(c.sequence)"
            createdPath = p
            RequestHeader(xid: xid, type: OpCode.create.rawValue).encode(to: &c.output)
            CreateRequest(path: p, data: value, acl: ACL.openACLUnsafe, flags: 0).encode(to: &c.output)
        case .delete:
            let p = c.created.removeLast()
            RequestHeader(xid: xid, type: OpCode.delete.rawValue).encode(to: &c.output)
            PathVersionRequest(path: p, version: -1).encode(to: &c.output)
        case .multi:
            let other = Int.random(in: 0..<options.keys, using: &random)
            RequestHeader(xid: xid, type: OpCode.multi.rawValue).encode(to: &c.output)
            MultiOp.encode([.setData(SetDataRequest(path: path(forKey: key), data: value, version: -1)),
                            .setData(SetDataRequest(path: path(forKey: other), data: value, version: -1))], to: &c.output)
        }
        c.output.patchInt(Int32(c.output.bytes.count - lengthAt - 4), at: lengthAt)
        c.pending.append((actual, nowNs, createdPath))
    }

    func flush(_ c: BenchConnection) throws {
        var offset = 0
        let bytes = c.output.bytes
        while offset < bytes.count {
            do {
                offset += try bytes.withUnsafeBytes { raw in try Socket.writeSome(c.fd, bytes: UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            } catch SyscallError.wouldBlock {
                // The server is not reading: wait until it does (a bounded pipeline cannot grow).
                var events: [EventLoop.Event] = []
                try loop.modify(c.fd, interest: [.read, .write], token: UInt64(c.index))
                try loop.wait(timeoutMs: 100, into: &events)
                try loop.modify(c.fd, interest: .read, token: UInt64(c.index))
            }
        }
        c.output.reset()
    }

    // MARK: Replies

    /// Reads what arrived and handles every complete reply; returns the number handled.
    func receive(_ c: BenchConnection, nowNs: Int64) throws -> Int {
        var handled = 0
        while true {
            let count: Int
            do {
                count = try readBuffer.withUnsafeMutableBytes { raw in try Socket.readSome(c.fd, into: raw) }
            } catch SyscallError.wouldBlock {
                return handled
            }
            guard count > 0 else { throw BenchError("the server closed connection \(c.index)") }
            readBuffer.withUnsafeBytes { c.decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            while case .frame(let frame)? = try c.decoder.next() {
                try reply(frame, on: c, nowNs: nowNs)
                handled += 1
            }
            if count < readBuffer.count { return handled }
        }
    }

    private func reply(_ frame: [UInt8], on c: BenchConnection, nowNs: Int64) throws {
        var r = JuteReader(frame)
        let header = try ReplyHeader(from: &r)
        if header.xid < 0 { return }  // notifications, pings
        guard c.pendingHead < c.pending.count else { throw BenchError("unexpected reply xid \(header.xid)") }
        let request = c.pending[c.pendingHead]
        c.pendingHead += 1
        if c.pendingHead == c.pending.count { c.pending.removeAll(keepingCapacity: true); c.pendingHead = 0 }
        if header.err == 0, request.op == .create, let p = request.path { c.created.append(p) }
        completedInWindow += 1
        guard measuring else { return }
        measuredOps += 1
        counts[request.op, default: 0] += 1
        if header.err != 0 && !(header.err == ErrorCode.nodeExists.rawValue && request.op == .create) {
            errors[header.err, default: 0] += 1
        }
        latenciesUs.append(UInt32(clamping: (nowNs - request.startNs) / 1000))
    }
}

/// host:port (the first host of a connect string).
struct ConnectTarget {
    var host: String
    var port: UInt16
    init(_ text: String) throws {
        let first = text.split(separator: ",").first.map(String.init) ?? text
        let trimmed = first.split(separator: "/").first.map(String.init) ?? first
        guard let colon = trimmed.lastIndex(of: ":"), let port = UInt16(trimmed[trimmed.index(after: colon)...]) else {
            host = trimmed
            self.port = 2181
            return
        }
        host = String(trimmed[..<colon]).trimmingCharacters(in: ["[", "]"])
        self.port = port
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
