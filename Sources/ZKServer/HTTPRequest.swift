/// A minimal, strict HTTP/1.1 request reader for the AdminServer: a request line and headers, no
/// body beyond what Content-Length declares (bounded), one request at a time per connection. Enough
/// for curl, browsers, Prometheus and Kubernetes probes; anything else gets a clear 4xx.
struct HTTPRequest: Equatable {
    var method: String
    /// The path without the query string, percent-decoding not applied (command names are ASCII).
    var path: String
    /// `?a=b&c=d`, split (no decoding beyond `+` → space is applied; values are command arguments).
    var query: [(String, String)]
    var version: String
    /// Header names lowercased.
    var headers: [(String, String)]

    static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.path == b.path && a.version == b.version
            && a.query.map { "\($0)=\($1)" } == b.query.map { "\($0)=\($1)" }
            && a.headers.map { "\($0):\($1)" } == b.headers.map { "\($0):\($1)" }
    }

    func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }

    /// Whether the connection stays open after the answer (HTTP/1.1 default, unless `Connection: close`).
    var keepAlive: Bool {
        let connection = header("connection")?.lowercased()
        if version == "HTTP/1.0" { return connection == "keep-alive" }
        return connection != "close"
    }

    enum ParseError: Error, Equatable {
        /// 400: the request line or a header is malformed.
        case badRequest(String)
        /// 431/413: the head or the body is over its bound.
        case tooLarge
        /// 505.
        case unsupportedVersion
    }

    static let headBytesMax = 8 * 1024
    static let bodyBytesMax = 64 * 1024

    /// Parses one request from the front of `bytes`: the request and the bytes it used, nil if more
    /// bytes are needed, or an error (the connection is answered and closed).
    static func parse(_ bytes: ArraySlice<UInt8>) -> Result<(HTTPRequest, Int), ParseError>? {
        guard let headEnd = endOfHead(bytes) else {
            return bytes.count > headBytesMax ? .failure(.tooLarge) : nil
        }
        guard headEnd - bytes.startIndex <= headBytesMax else { return .failure(.tooLarge) }
        guard let head = String(validating: bytes[bytes.startIndex..<headEnd], as: UTF8.self) else {
            return .failure(.badRequest("the request head is not UTF-8"))
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") || parts[1] == "*" else {
            return .failure(.badRequest("malformed request line"))
        }
        guard parts[0].allSatisfy({ $0.isUppercase && $0.isASCII }) else { return .failure(.badRequest("malformed method")) }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else {
            return parts[2].hasPrefix("HTTP/") ? .failure(.unsupportedVersion) : .failure(.badRequest("malformed version"))
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(where: { $0 == " " || $0 == "\t" }) else {
                return .failure(.badRequest("malformed header line"))
            }
            let value = ConfigParser.trimmed(line[line.index(after: colon)...])
            headers.append((line[..<colon].lowercased(), value))
        }
        var used = headEnd + 4 - bytes.startIndex
        if let length = headers.first(where: { $0.0 == "content-length" })?.1 {
            guard let count = Int(length), count >= 0 else { return .failure(.badRequest("malformed Content-Length")) }
            guard count <= bodyBytesMax else { return .failure(.tooLarge) }
            guard bytes.count >= used + count else { return nil }
            used += count  // the body is read and ignored: no command takes one
        }
        if headers.contains(where: { $0.0 == "transfer-encoding" }) {
            return .failure(.badRequest("chunked request bodies are not accepted"))
        }
        let target = parts[1]
        let path: String
        var query: [(String, String)] = []
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { $0.replacingPluses() }
                query.append((kv[0], kv.count > 1 ? kv[1] : ""))
            }
        } else {
            path = target
        }
        return .success((HTTPRequest(method: parts[0], path: path, query: query, version: parts[2], headers: headers), used))
    }

    private static func endOfHead(_ bytes: ArraySlice<UInt8>) -> Int? {
        var index = bytes.startIndex
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }
}

/// One answer, rendered with the headers Apache's Jetty sends for the same requests.
struct HTTPResponse: Equatable {
    var status: Int
    var contentType: String
    var body: [UInt8]

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 413: return "Payload Too Large"
        case 431: return "Request Header Fields Too Large"
        case 505: return "HTTP Version Not Supported"
        default: return "Error"
        }
    }

    func serialized(keepAlive: Bool, headOnly: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (headOnly ? [] : body)
    }
}

extension Substring {
    fileprivate func replacingPluses() -> String { String(map { $0 == "+" ? " " : $0 }) }
}
