import Testing
@testable import ZKCore

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

@Suite struct JavaRandomTests {
    /// `java.util.Random(sessionId ^ 0xB3415C00L).nextBytes(new byte[16])` on OpenJDK 17.
    @Test(arguments: [
        (Int64(0x0100_0000_0000_0000), "f22acd4a97e69d6d20a49bb638eadb38"),
        (Int64(0x0100_0A1B_2C3D_0000), "99540115b2ac339b9f3f41ba4b39270b"),
        (Int64(0x1), "054cc74a37327db215e702e20c73f005"),
    ])
    func sessionPasswordsMatchApache(session: Int64, expected: String) {
        #expect(hex(sessionPassword(for: SessionID(session))) == expected)
    }

    /// `new Random(42).nextInt()` is -1170105035 (a well-known Java value).
    @Test func nextIntMatchesJava() {
        var random = JavaRandom(seed: 42)
        #expect(random.nextInt() == -1_170_105_035)
        #expect(random.nextInt() == 234_785_527)
    }
}
