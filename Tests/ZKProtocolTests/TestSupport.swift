import Testing
@testable import ZKCore
@testable import ZKProtocol

/// "00 0a ff" → [0x00, 0x0a, 0xff]; spaces are ignored.
func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd hex string")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

func hex(_ b: [UInt8]) -> String {
    b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
}

func encoded(_ body: (inout JuteWriter) -> Void) -> [UInt8] {
    var w = JuteWriter()
    body(&w)
    return w.bytes
}

/// Encodes, decodes, and checks the decoded value equals the original and every byte was read.
func expectRoundTrip<T: JuteRecord & Equatable>(_ value: T, size: Int? = nil,
                                                sourceLocation: SourceLocation = #_sourceLocation) throws {
    let b = value.serialized()
    if let size { #expect(b.count == size, sourceLocation: sourceLocation) }
    var r = JuteReader(b)
    let decoded = try T(from: &r)
    #expect(decoded == value, sourceLocation: sourceLocation)
    #expect(r.isAtEnd, "bytes left after decoding \(T.self)", sourceLocation: sourceLocation)
}
