/// The CLI's connection: a `ZooKeeperClient` made the way zkCli makes its `ZooKeeperAdmin`, with a
/// default watcher that prints `WATCHER::` and the event, and blocking calls with the Java client's
/// failure semantics: a request made while the client is not connected fails with ConnectionLoss as
/// soon as the next connection attempt fails (Java's `ClientCnxn` fails its queue then), instead of
/// waiting for a server that may never come.
import Dispatch
import Synchronization
import ZKClient
import ZKCore
import ZKPosix
import ZKProtocol

/// Counts failed connection attempts of one client (seen through its log lines).
final class ConnectionFailures: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }

    func record(_ message: String) {
        // ClientCore logs "<reason>, closing socket connection and attempting reconnect" for every
        // failed attempt and every lost connection.
        if message.hasSuffix("attempting reconnect") { count.withLock { $0 += 1 } }
    }
}

/// Whether watch events are printed (`printwatches on|off`); read on the client's event thread.
final class WatchPrinting: Sendable {
    private let enabled = Mutex(true)
    var isOn: Bool {
        get { enabled.withLock { $0 } }
        set { enabled.withLock { $0 = newValue } }
    }
}

final class Session {
    /// The connect string as given (`-server`, `connect`): zkCli shows it in the prompt.
    private(set) var host: String
    let timeoutMs: Int32
    let readOnly: Bool
    let printing: WatchPrinting
    private var client: ZooKeeperClient?
    private var failures = ConnectionFailures()

    init(host: String, timeoutMs: Int32, readOnly: Bool, printing: WatchPrinting) {
        self.host = host
        self.timeoutMs = timeoutMs
        self.readOnly = readOnly
        self.printing = printing
    }

    /// The chroot of the connect string, if any.
    var chroot: String? {
        guard let slash = host.firstIndex(of: "/") else { return nil }
        let root = String(host[slash...])
        return root == "/" ? nil : root
    }

    /// Java's `ZooKeeper.getState().toString()`; a client not made yet would be CONNECTING.
    var stateName: String { client?.state.javaName ?? "CONNECTING" }
    /// `States.isAlive()`.
    var isAlive: Bool { client?.state.isAlive ?? true }
    var isConnected: Bool {
        guard let state = client?.state else { return false }
        return state == .connected || state == .connectedReadOnly
    }

    /// Validates a connect string the way Java's `ConnectStringParser` does (its exceptions kill zkCli)
    /// and returns it in the form `ZooKeeperClient` reads.
    static func normalize(_ text: String) throws(JavaCrash) -> String {
        var hostsPart = Substring(text)
        var chroot = ""
        if let slash = text.firstIndex(of: "/") {
            let root = String(text[slash...])
            if root != "/" {
                if let error = JavaText.pathError(root) { throw .illegalArgument(error) }
                chroot = root
            }
            hostsPart = text[..<slash]
        }
        var hosts: [String] = []
        for piece in hostsPart.split(separator: ",") {
            let entry = piece.trimmingASCIISpaces
            if entry.isEmpty { continue }
            var host = entry
            var port: Int32 = 2181
            if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
                host = String(entry[entry.index(after: entry.startIndex)..<close])
                let rest = entry[entry.index(after: close)...]
                if rest.hasPrefix(":"), rest.count > 1 {
                    let parts = rest.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
                    if parts.count == 1 { port = try JavaText.parseInt(String(parts[0])) }
                }
            } else {
                let parts = JavaText.split(entry, ":")
                host = parts.first ?? ""
                if parts.count == 2 { port = try JavaText.parseInt(parts[1]) }
            }
            guard port >= 0 && port <= 65535 else { throw .illegalArgument("port out of range:\(port)") }
            hosts.append(host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        }
        if hosts.isEmpty { throw .illegalArgument("A HostProvider may not be empty!") }
        return hosts.joined(separator: ",") + chroot
    }

    /// zkCli's `connectToZK` at start-up: validates the connect string (a bad one kills zkCli) and makes
    /// the client now (`eager`) or when a command first needs it.
    func begin(eager: Bool) throws(JavaCrash) {
        _ = try Session.normalize(host)
        if eager { try start() }
    }

    /// The `connect` command: closes a live session (Java's client always exists, so a deferred one is
    /// made and closed), then starts a new one on `newHost`.
    func connect(to newHost: String) throws(JavaCrash) {
        close()
        host = newHost
        client = nil
        try start()
    }

    /// Makes the client if it was deferred (one-command mode makes it when a command first needs it,
    /// the moment Java's would have finished connecting at the earliest).
    func start() throws(JavaCrash) {
        guard client == nil else { return }
        let connectString = try Session.normalize(host)
        let failures = ConnectionFailures()
        let printing = self.printing
        let watcher: Watcher = { event in
            guard printing.isOn else { return }
            Console.shared.out("\nWATCHER::")
            Console.shared.out("\n\(event)")
        }
        do {
            client = try ZooKeeperClient(connectString: connectString, sessionTimeoutMs: timeoutMs, canBeReadOnly: readOnly,
                                         watcher: watcher, logger: { failures.record($0) })
        } catch {
            throw .illegalArgument("\(error)")
        }
        self.failures = failures
    }

    /// Waits until connected; nil, or the error a request made now would get (Java: ConnectionLoss
    /// when the attempt under way fails).
    func awaitConnection(timeoutMs: Int? = nil) -> ErrorCode? {
        guard let client else { return .connectionLoss }
        let start = failures.value
        let deadline = timeoutMs.map { monotonicMilliseconds() + Int64($0) }
        while true {
            if client.waitUntilConnected(timeoutMs: 5) { return nil }
            switch client.state {
            case .expired: return .sessionExpired
            case .authFailed: return .authFailed
            case .closed: return .sessionExpired
            case .connecting, .disconnected, .connected, .connectedReadOnly: break
            }
            if failures.value > start { return .connectionLoss }
            if let deadline, monotonicMilliseconds() > deadline { return .connectionLoss }
        }
    }

    /// Sends a request and waits for its reply. `errorPath` is the path Java's exception carries.
    func call(_ request: Request, errorPath: String?? = .none) throws(JavaCrash) -> Result<Response, ZooKeeperError> {
        try start()
        let path = errorPath ?? request.path
        if let code = awaitConnection() { return .failure(ZooKeeperError(code, path: path)) }
        guard let client else { return .failure(ZooKeeperError(.connectionLoss, path: path)) }
        let start = failures.value
        let semaphore = DispatchSemaphore(value: 0)
        let box = Mutex<Result<Response, ZooKeeperError>?>(nil)
        client.submit(request) { result in
            box.withLock { if $0 == nil { $0 = result } }
            semaphore.signal()
        }
        while semaphore.wait(timeout: .now() + .milliseconds(10)) == .timedOut {
            // Queued behind a lost connection: Java fails it when the next attempt fails.
            if failures.value > start && !isConnected { break }
        }
        let result = box.withLock { $0 } ?? .failure(ZooKeeperError(.connectionLoss))
        switch result {
        case .success: return result
        case .failure(let error): return .failure(ZooKeeperError(error.code, path: path))
        }
    }

    /// `addAuthInfo`: recorded and sent without waiting for the server.
    func addAuth(scheme: String, auth: [UInt8]) throws(JavaCrash) {
        try start()
        client?.submit(.addAuth(scheme: scheme, auth: auth)) { _ in }
    }

    /// `ZooKeeper.close()`: like Java, it waits for the connection to send closeSession, and the
    /// Closed event is printed before it returns.
    func close() {
        if client == nil { try? start() }  // Java's client exists from the start
        guard let client, client.state.isAlive else { return }
        _ = awaitConnection()
        client.close()
    }
}
