// SocketAddress: literal parsing, Java-style formatting, IPv4 bytes for ACL checks.
import Testing
import ZKPosix

@Suite struct SocketAddressTests {
    @Test(arguments: [
        ("127.0.0.1", UInt16(52740), "/127.0.0.1:52740", "127.0.0.1:52740"),
        ("10.0.0.255", UInt16(2181), "/10.0.0.255:2181", "10.0.0.255:2181"),
        ("::1", UInt16(2181), "/[0:0:0:0:0:0:0:1]:2181", "[::1]:2181"),
        ("[fe80::1:ab]", UInt16(1), "/[fe80:0:0:0:0:0:1:ab]:1", "[fe80::1:ab]:1"),
        ("::", UInt16(0), "/[0:0:0:0:0:0:0:0]:0", "[::]:0"),
    ])
    func formatsLikeJava(ip: String, port: UInt16, java: String, plain: String) throws {
        let address = try #require(SocketAddress(ip: ip, port: port))
        #expect(address.javaDescription == java)
        #expect(address.description == plain)
        #expect(address.port == port)
    }

    @Test func ipv4BytesForACLs() throws {
        let ipv4 = try #require(SocketAddress(ip: "192.168.1.20", port: 5))
        #expect(ipv4.family == .ipv4)
        #expect(ipv4.ipv4Bytes == [192, 168, 1, 20])
        let ipv6 = try #require(SocketAddress(ip: "::1", port: 5))
        #expect(ipv6.ipv4Bytes == nil)
        #expect(ipv6.isLoopback)
        #expect(ipv4.isLoopback == false)
    }

    @Test func ipv4MappedIPv6BecomesIPv4() throws {
        let mapped = try #require(SocketAddress(ip: "::ffff:127.0.0.1", port: 2181))
        #expect(mapped.family == .ipv4)
        #expect(mapped.ip == "127.0.0.1")
        #expect(mapped.javaDescription == "/127.0.0.1:2181")
        #expect(mapped == SocketAddress(ip: "127.0.0.1", port: 2181))
    }

    @Test func hostNamesAreNotLiterals() throws {
        #expect(SocketAddress(ip: "localhost", port: 1) == nil)
        #expect(SocketAddress(ip: "300.1.1.1", port: 1) == nil)
        let resolved = try SocketAddress.resolve(host: "127.0.0.1", port: 9)
        #expect(resolved == [SocketAddress(ip: "127.0.0.1", port: 9)!])
    }

    @Test func errorsDescribeThemselves() {
        #expect(SyscallError.connectionReset.description.contains("Connection reset by peer"))
        #expect(SyscallError(errno: 11, call: "read") == .wouldBlock)  // EAGAIN
        let other = SyscallError(errno: 28 /* ENOSPC */, call: "write")
        #expect(other == .noSpace)
        let unknown = SyscallError(errno: 5 /* EIO */, call: "fsync")
        #expect(unknown == .other(errno: 5, call: "fsync"))
        #expect(unknown.description == "fsync: Input/output error (errno 5)")
    }
}
