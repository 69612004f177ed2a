import Testing
@testable import ZKServer

/// The AdminServer's request reader: strict, bounded, and never more than one request ahead.
@Suite struct HTTPRequestTests {
    private func parse(_ text: String) -> Result<(HTTPRequest, Int), HTTPRequest.ParseError>? {
        HTTPRequest.parse(Array(text.utf8)[...])
    }

    @Test func aCurlRequestWithAQuery() throws {
        let text = "GET /commands/set_trace_mask?traceMask=42&x=a+b HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n"
        guard case .success(let (request, used)) = parse(text + "GET /next") else {
            Issue.record("not parsed")
            return
        }
        #expect(used == text.utf8.count, "stops at the end of the first request")
        #expect(request.method == "GET" && request.path == "/commands/set_trace_mask" && request.version == "HTTP/1.1")
        #expect(request.query.map { "\($0)=\($1)" } == ["traceMask=42", "x=a b"])
        #expect(request.header("host") == "localhost:8080" && request.keepAlive)
    }

    @Test func incompleteRequestsWaitForMoreBytes() {
        #expect(parse("GET /commands HTTP/1.1\r\nHost: x\r\n") == nil)
        #expect(parse("POST /commands/ruok HTTP/1.1\r\nContent-Length: 5\r\n\r\nab") == nil)
        let withBody = "POST /commands/ruok HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
        guard case .success(let (_, used)) = parse(withBody + "GET") else {
            Issue.record("a request with a body was not parsed")
            return
        }
        #expect(used == withBody.utf8.count, "the body is consumed, the next request left")
    }

    @Test func keepAliveFollowsTheVersionAndTheConnectionHeader() throws {
        let close = try #require(try? parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?.get().0)
        #expect(!close.keepAlive)
        let old = try #require(try? parse("GET / HTTP/1.0\r\n\r\n")?.get().0)
        #expect(!old.keepAlive)
    }

    @Test func badRequestsAreRefusedWithAReason() {
        for bad in ["GARBAGE\r\n\r\n", "GET\r\n\r\n", "get / HTTP/1.1\r\n\r\n", "GET nopath HTTP/1.1\r\n\r\n",
                    "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                    "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"] {
            guard case .failure(.badRequest) = parse(bad) else {
                Issue.record("accepted: \(bad.debugDescription)")
                continue
            }
        }
        #expect(parse("GET / HTTP/2.0\r\n\r\n").map { if case .failure(.unsupportedVersion) = $0 { true } else { false } } == true)
    }

    @Test func headsAndBodiesAreBounded() {
        let longHead = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: HTTPRequest.headBytesMax) + "\r\n\r\n"
        #expect(parse(longHead).map { if case .failure(.tooLarge) = $0 { true } else { false } } == true)
        let endless = String(repeating: "a", count: HTTPRequest.headBytesMax + 1)
        #expect(parse(endless).map { if case .failure(.tooLarge) = $0 { true } else { false } } == true)
        let bigBody = "POST / HTTP/1.1\r\nContent-Length: \(HTTPRequest.bodyBytesMax + 1)\r\n\r\n"
        #expect(parse(bigBody).map { if case .failure(.tooLarge) = $0 { true } else { false } } == true)
    }

    @Test func responsesCarryLengthAndCloseWhenAsked() {
        let response = HTTPResponse(status: 200, contentType: "application/json", body: Array("{ }".utf8))
        #expect(String(decoding: response.serialized(keepAlive: true, headOnly: false), as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{ }")
        #expect(String(decoding: response.serialized(keepAlive: false, headOnly: true), as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: close\r\n\r\n")
    }
}
