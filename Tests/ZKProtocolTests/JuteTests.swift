import Testing
@testable import ZKCore
@testable import ZKProtocol

@Suite struct JutePrimitiveTests {
    @Test(arguments: [
        (Int32(0), "00 00 00 00"),
        (Int32(1), "00 00 00 01"),
        (Int32(-1), "ff ff ff ff"),
        (Int32(0x0102_0304), "01 02 03 04"),
        (Int32.min, "80 00 00 00"),
        (Int32.max, "7f ff ff ff"),
    ])
    func intIsBigEndian(value: Int32, expected: String) throws {
        let b = encoded { $0.writeInt(value) }
        #expect(b == bytes(expected))
        var r = JuteReader(b)
        #expect(try r.readInt() == value)
        #expect(r.isAtEnd)
    }

    @Test(arguments: [
        (Int64(0), "00 00 00 00 00 00 00 00"),
        (Int64(-2), "ff ff ff ff ff ff ff fe"),
        (Int64(0x0102_0304_0506_0708), "01 02 03 04 05 06 07 08"),
        (Int64(0x0000_0000_8000_0000), "00 00 00 00 80 00 00 00"),
        (Int64.min, "80 00 00 00 00 00 00 00"),
        (Int64.max, "7f ff ff ff ff ff ff ff"),
    ])
    func longIsBigEndian(value: Int64, expected: String) throws {
        let b = encoded { $0.writeLong(value) }
        #expect(b == bytes(expected))
        var r = JuteReader(b)
        #expect(try r.readLong() == value)
        #expect(r.isAtEnd)
    }

    @Test func boolWritesZeroOrOneAndReadsNonZeroAsTrue() throws {
        #expect(encoded { $0.writeBool(true) } == [1])
        #expect(encoded { $0.writeBool(false) } == [0])
        var r = JuteReader([0, 1, 2, 0xff])
        #expect(try r.readBool() == false)
        #expect(try r.readBool() == true)
        #expect(try r.readBool() == true)
        #expect(try r.readBool() == true)
    }

    @Test func ustringEncodingAndNull() throws {
        #expect(encoded { $0.writeString("ab") } == bytes("00 00 00 02 61 62"))
        #expect(encoded { $0.writeString("") } == bytes("00 00 00 00"))
        #expect(encoded { $0.writeString(nil) } == bytes("ff ff ff ff"))
        #expect(encoded { $0.writeString("ü") } == bytes("00 00 00 02 c3 bc"))
        var r = JuteReader(bytes("ff ff ff ff 00 00 00 00 00 00 00 03 2f 61 62"))
        #expect(try r.readString() == nil)
        #expect(try r.readString() == "")
        #expect(try r.readString() == "/ab")
        #expect(r.isAtEnd)
    }

    @Test func bufferEncodingAndNull() throws {
        #expect(encoded { $0.writeBuffer([9, 8]) } == bytes("00 00 00 02 09 08"))
        #expect(encoded { $0.writeBuffer(nil) } == bytes("ff ff ff ff"))
        #expect(encoded { $0.writeBuffer([]) } == bytes("00 00 00 00"))
        var r = JuteReader(bytes("ff ff ff ff 00 00 00 00 00 00 00 01 7f"))
        #expect(try r.readBuffer() == nil)
        #expect(try r.readBuffer() == [])
        #expect(try r.readBuffer() == [0x7f])
    }

    @Test func vectors() throws {
        #expect(encoded { $0.writeStringVector(["a", "bc"]) } == bytes("00 00 00 02 00 00 00 01 61 00 00 00 02 62 63"))
        #expect(encoded { $0.writeStringVector(nil) } == bytes("ff ff ff ff"))
        #expect(encoded { $0.writeStringVector([]) } == bytes("00 00 00 00"))
        let acl = [ACL(perms: 31, id: .anyone), ACL(perms: 1, id: Id(scheme: "ip", id: "10.0.0.1"))]
        let b = encoded { $0.writeVector(acl) }
        var r = JuteReader(b)
        #expect(try r.readVector(ACL.self) == acl)
        #expect(r.isAtEnd)
        var nullVector = JuteReader(bytes("ff ff ff ff"))
        #expect(try nullVector.readVector(ACL.self) == nil)
        var nullStrings = JuteReader(bytes("ff ff ff ff"))
        #expect(try nullStrings.readStringVector() == nil)
    }

    @Test func patchIntOverwritesInPlace() {
        var w = JuteWriter()
        w.writeInt(0)
        w.writeInt(7)
        w.patchInt(0x0A0B_0C0D, at: 0)
        #expect(w.bytes == bytes("0a 0b 0c 0d 00 00 00 07"))
        w.reset()
        #expect(w.bytes.isEmpty)
    }

    // MARK: Rejected input

    @Test(arguments: [-2, -100, Int(Int32.min)])
    func negativeLengthsOtherThanNullAreUnreasonable(length: Int) {
        let b = encoded { $0.writeInt(Int32(length)) } + [1, 2, 3]
        var r1 = JuteReader(b)
        #expect(throws: JuteError.unreasonableLength(length)) { try r1.readString() }
        var r2 = JuteReader(b)
        #expect(throws: JuteError.unreasonableLength(length)) { try r2.readBuffer() }
        var r3 = JuteReader(b)
        #expect(throws: JuteError.unreasonableLength(length)) { try r3.readStringVector() }
    }

    @Test func lengthAboveMaxBufferPlusExtraIsUnreasonable() throws {
        var limits = Limits()
        limits.packetSizeBytesMax = 100
        // extra size is max(packetSizeBytesMax, 1024): the limit is 100 + 1024.
        let tooLong = 100 + 1024 + 1
        var r = JuteReader(encoded { $0.writeInt(Int32(tooLong)) } + Array(repeating: 0, count: tooLong), limits: limits)
        #expect(r.lengthMax == 1124)
        #expect(throws: JuteError.unreasonableLength(tooLong)) { try r.readBuffer() }
        var ok = JuteReader(encoded { $0.writeInt(1124) } + Array(repeating: 0, count: 1124), limits: limits)
        #expect(try ok.readBuffer()?.count == 1124)
        // The default limit is jute.maxbuffer (0xfffff) twice.
        #expect(JuteReader([]).lengthMax == 0xFFFFF * 2)
    }

    @Test func lengthBeyondRemainingBytesIsTruncated() {
        var r = JuteReader(bytes("00 00 00 05 61 62"))
        #expect(throws: JuteError.truncated(needed: 5, remaining: 2)) { try r.readString() }
    }

    @Test(arguments: [0, 1, 2, 3])
    func truncatedInt(available: Int) {
        var r = JuteReader(Array(repeating: 0, count: available))
        #expect(throws: JuteError.truncated(needed: 4, remaining: available)) { try r.readInt() }
    }

    @Test func truncatedPrimitives() {
        var r = JuteReader([])
        #expect(throws: JuteError.truncated(needed: 1, remaining: 0)) { try r.readBool() }
        var r2 = JuteReader([0, 0, 0, 0, 0])
        #expect(throws: JuteError.truncated(needed: 4, remaining: 1)) { try r2.readLong() }
        var r3 = JuteReader([0, 0])
        #expect(throws: JuteError.truncated(needed: 4, remaining: 2)) { try r3.readString() }
    }

    @Test func vectorCountAboveLimitIsRejected() throws {
        var limits = Limits()
        limits.vectorElementsMax = 3
        let four = encoded { $0.writeStringVector(["a", "b", "c", "d"]) }
        var r = JuteReader(four, limits: limits)
        #expect(throws: JuteError.tooManyElements(4)) { try r.readStringVector() }
        var r2 = JuteReader(four, limits: limits)
        #expect(throws: JuteError.tooManyElements(4)) { try r2.readVector(Id.self) }
        let three = encoded { $0.writeStringVector(["a", "b", "c"]) }
        var ok = JuteReader(three, limits: limits)
        #expect(try ok.readStringVector() == ["a", "b", "c"])
    }

    @Test func vectorCountBeyondRemainingBytesIsRejectedBeforeAllocating() {
        // A count of one million with 3 bytes behind it.
        var r = JuteReader(bytes("00 0f 42 40 00 00 00"))
        #expect(throws: JuteError.truncated(needed: 1_000_000, remaining: 3)) { try r.readStringVector() }
        var r2 = JuteReader(bytes("ff ff ff fe"))
        #expect(throws: JuteError.unreasonableLength(-2)) { try r2.readVector(ACL.self) }
    }

    @Test func recordInitFromBytesAndErrorDescriptions() throws {
        let id = try Id(bytes: Id(scheme: "digest", id: "bob:x").serialized())
        #expect(id == Id(scheme: "digest", id: "bob:x"))
        #expect(throws: JuteError.self) { try Stat(bytes: Array(repeating: 0, count: 67)) }
        #expect(JuteError.unreasonableLength(-7).description == "Unreasonable length = -7")
    }
}
