import ZKCore
import ZKPosix

/// The HTTP/1.1 server under the AdminServer and Prometheus' `/metrics`, on the event loop: keep-alive,
/// one request at a time per connection, every buffer bounded: a request head over 8 KiB, a body over
/// 64 KiB or a malformed request gets a 4xx and the connection is closed; at most `connectionsMax`
/// connections, the oldest idle one closed for a new one; a connection idle for `idleTimeoutMs` is
/// closed (a slow or silent client holds nothing). Answers are rendered at once by `respond`, so a
/// slow reader costs only its own output queue. Each server owns a range of event-loop tokens.
final class HTTPServer {
    /// The token ranges: [adminTokens) for the AdminServer, [metricsTokens) for `/metrics`, below
    /// the peer network's.
    static let adminTokens: Range<UInt64> = (1 << 61)..<((1 << 61) + (1 << 60))
    static let metricsTokens: Range<UInt64> = ((1 << 61) + (1 << 60))..<PeerNetwork.tokenBase
    static let connectionsMax = 64
    static let idleTimeoutMs: Int64 = 30_000
    static let outputBytesMax = 16 * 1024 * 1024

    static func owns(_ token: UInt64) -> Bool { adminTokens.contains(token) || metricsTokens.contains(token) }

    private final class HTTPConnection {
        let fd: Int32
        let token: UInt64
        var input: [UInt8] = []
        var output = OutputQueue()
        var lastActiveMs: Int64
        var closeAfterWrite = false
        init(fd: Int32, token: UInt64, nowMs: Int64) {
            self.fd = fd
            self.token = token
            self.lastActiveMs = nowMs
        }
    }

    private let name: String
    private let listener: TCPListener
    private let loop: EventLoop
    private let logger: Logger
    private let tokens: Range<UInt64>
    private let respond: (HTTPRequest) -> HTTPResponse
    private var connections: [UInt64: HTTPConnection] = [:]
    private var nextToken: UInt64

    /// `name` is for log lines ("AdminServer"); `tokens` a range of its own (the first is the listener's).
    init(name: String, host: String, port: Int, tokens: Range<UInt64>, loop: EventLoop, logger: Logger,
         respond: @escaping (HTTPRequest) -> HTTPResponse) throws(SyscallError) {
        listener = try TCPListener(host: host, port: UInt16(port))
        try loop.register(listener.fd, interest: .read, token: tokens.lowerBound)
        self.name = name
        self.loop = loop
        self.logger = logger
        self.tokens = tokens
        self.respond = respond
        nextToken = tokens.lowerBound
    }

    func owns(_ token: UInt64) -> Bool { tokens.contains(token) }

    var localPort: UInt16 { listener.localPort }
    var localAddress: SocketAddress { listener.localAddress }

    func stop() {
        for connection in Array(connections.values) { close(connection) }
        try? loop.unregister(listener.fd)
        listener.close()
    }

    func handle(_ event: EventLoop.Event, readBuffer: inout [UInt8], nowMs: Int64) {
        if event.token == tokens.lowerBound { return accept(nowMs: nowMs) }
        guard let connection = connections[event.token] else { return }
        if event.readable || event.hangup || event.error {
            read(connection, readBuffer: &readBuffer, nowMs: nowMs)
        }
        if event.writable, connections[connection.token] != nil { write(connection) }
    }

    /// Closes connections idle for too long.
    func tick(nowMs: Int64) {
        for connection in connections.values.sorted(by: { $0.token < $1.token })
        where nowMs - connection.lastActiveMs > HTTPServer.idleTimeoutMs {
            close(connection)
        }
    }

    private func accept(nowMs: Int64) {
        while let accepted = try? listener.accept() {
            if connections.count >= HTTPServer.connectionsMax,
               let oldest = connections.values.min(by: { ($0.lastActiveMs, $0.token) < ($1.lastActiveMs, $1.token) }) {
                close(oldest)
            }
            // Tokens are never reused within a range of 2^60: a server would need centuries to run out.
            nextToken += 1
            invariant(tokens.contains(nextToken), "\(name) ran out of event-loop tokens")
            let connection = HTTPConnection(fd: accepted.fd, token: nextToken, nowMs: nowMs)
            do { try loop.register(accepted.fd, interest: .read, token: connection.token) } catch {
                Socket.close(accepted.fd)
                continue
            }
            connections[connection.token] = connection
        }
    }

    private func read(_ connection: HTTPConnection, readBuffer: inout [UInt8], nowMs: Int64) {
        let count: Int
        do {
            count = try readBuffer.withUnsafeMutableBytes { raw in try Socket.readSome(connection.fd, into: raw) }
        } catch SyscallError.wouldBlock {
            return
        } catch {
            return close(connection)
        }
        if count == 0 { return close(connection) }
        connection.lastActiveMs = nowMs
        guard !connection.closeAfterWrite else { return }  // an error was answered: nothing more is read
        connection.input += readBuffer[0..<count]
        while let parsed = HTTPRequest.parse(connection.input[...]) {
            switch parsed {
            case .failure(let error):
                let (status, why) = HTTPServer.describe(error)
                logger.warn("\(name): \(why) from a client; closing its connection")
                send(HTTPResponse(status: status, contentType: "text/plain", body: Array((why + "\n").utf8)),
                        on: connection, keepAlive: false, headOnly: false)
                connection.input.removeAll()
                return
            case .success(let (request, used)):
                connection.input.removeFirst(used)
                send(respond(request), on: connection, keepAlive: request.keepAlive, headOnly: request.method == "HEAD")
                if connection.closeAfterWrite { return }
            }
        }
    }

    static func describe(_ error: HTTPRequest.ParseError) -> (Int, String) {
        switch error {
        case .badRequest(let why): return (400, "bad request: \(why)")
        case .tooLarge: return (431, "request too large")
        case .unsupportedVersion: return (505, "HTTP version not supported")
        }
    }

    private func send(_ response: HTTPResponse, on connection: HTTPConnection, keepAlive: Bool, headOnly: Bool) {
        connection.output.append(response.serialized(keepAlive: keepAlive, headOnly: headOnly))
        if !keepAlive { connection.closeAfterWrite = true }
        if connection.output.byteCount > HTTPServer.outputBytesMax { return close(connection) }
        write(connection)
    }

    private func write(_ connection: HTTPConnection) {
        let drained: Bool
        do { drained = try connection.output.write(to: connection.fd) } catch {
            return close(connection)
        }
        if drained && connection.closeAfterWrite { return close(connection) }
        try? loop.modify(connection.fd, interest: drained ? .read : [.read, .write], token: connection.token)
    }

    private func close(_ connection: HTTPConnection) {
        guard connections.removeValue(forKey: connection.token) != nil else { return }
        try? loop.unregister(connection.fd)
        Socket.close(connection.fd)
    }
}

/// Apache's AdminServer routes: `GET admin.commandURL` lists the commands (as Apache's HTML links),
/// `GET admin.commandURL/<name>?key=value` answers a command in JSON, anything else is a 404.
struct AdminRoutes {
    let commandURL: String
    let commandNames: [String]
    let answer: (_ name: String, _ arguments: [(String, String)]) -> JSONValue

    init(commandURL: String, commandNames: [String], answer: @escaping (_ name: String, _ arguments: [(String, String)]) -> JSONValue) {
        self.commandURL = commandURL.hasSuffix("/") ? String(commandURL.dropLast()) : commandURL
        self.commandNames = commandNames.sorted()
        self.answer = answer
    }

    func response(to request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" || request.method == "POST" else {
            return HTTPResponse(status: 405, contentType: "text/plain", body: Array("method not allowed\n".utf8))
        }
        if request.path == commandURL || request.path == commandURL + "/" {
            // Apache's list: one link per primary name, each followed by a <br/>.
            let links = commandNames.map { "<a href=\"\(commandURL)/\($0)\">\($0)</a>\n<br/>\n" }.joined()
            return HTTPResponse(status: 200, contentType: "text/html", body: Array(links.utf8))
        }
        if request.path.hasPrefix(commandURL + "/") {
            let name = String(request.path.dropFirst(commandURL.count + 1))
            let body = answer(name, request.query).rendered
            return HTTPResponse(status: 200, contentType: "application/json", body: Array(body.utf8))
        }
        return HTTPServer.notFound
    }
}

/// Prometheus' endpoint: `GET /metrics` in the text format, a 404 elsewhere (Apache's servlet path).
struct MetricsRoutes {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    let render: () -> String

    func response(to request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return HTTPResponse(status: 405, contentType: "text/plain", body: Array("method not allowed\n".utf8))
        }
        guard request.path == "/metrics" || request.path == "/metrics/" else { return HTTPServer.notFound }
        return HTTPResponse(status: 200, contentType: MetricsRoutes.contentType, body: Array(render().utf8))
    }
}

extension HTTPServer {
    static let notFound = HTTPResponse(status: 404, contentType: "text/html", body: Array("<h2>404 Not Found</h2>\n".utf8))
}
