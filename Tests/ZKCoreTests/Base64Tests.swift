import Testing
@testable import ZKCore

@Suite struct Base64Tests {
    /// RFC 4648 section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func allByteValuesRoundTrip() {
        let bytes = (0..<256).map { UInt8($0) } + [0xFF, 0xFE, 0x00]
        for length in 0...bytes.count {
            let slice = Array(bytes.prefix(length))
            #expect(Base64.decode(Base64.encode(slice)) == slice)
        }
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
    }

    @Test(arguments: ["Zg", "Zg=", "Z===", "Zm9v\n", "Zm 9", "Zm=v", "Zh==", "Zm9=", "Zg==Zg==", "Zm9v!A==", "é==="])
    func rejectsMalformed(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
