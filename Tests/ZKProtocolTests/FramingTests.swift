import Testing
@testable import ZKCore
@testable import ZKProtocol

@Suite struct GoldenFrameTests {
    @Test func pingRequestFrame() {
        let frame = FrameEncoder.frame { RequestHeader(xid: SpecialXid.ping, type: OpCode.ping.rawValue).encode(to: &$0) }
        #expect(frame == bytes("00 00 00 08 ff ff ff fe 00 00 00 0b"))
    }

    @Test func pingReplyFrame() {
        let frame = FrameEncoder.reply(ReplyHeader(xid: -2, zxid: 0x0102_0304_0506_0708, err: 0), .none)
        #expect(frame == bytes("00 00 00 10 ff ff ff fe 01 02 03 04 05 06 07 08 00 00 00 00"))
    }

    @Test func errorReplyOmitsTheBody() {
        let frame = FrameEncoder.reply(ReplyHeader(xid: 5, zxid: 1, err: ErrorCode.noNode.rawValue), .stat(Stat()))
        #expect(frame == bytes("00 00 00 10 00 00 00 05 00 00 00 00 00 00 00 01 ff ff ff 9b"))
        let ok = FrameEncoder.reply(ReplyHeader(xid: 5, zxid: 1, err: 0), .stat(Stat()))
        #expect(ok.count == 4 + 16 + 68)
        #expect(Array(ok[0..<4]) == bytes("00 00 00 54"))
    }

    @Test(arguments: [
        (FourLetterWord.ruok, UInt32(0x7275_6f6b)), (.stat, 0x7374_6174), (.srvr, 0x7372_7672), (.conf, 0x636f_6e66),
        (.cons, 0x636f_6e73), (.mntr, 0x6d6e_7472), (.envi, 0x656e_7669), (.wchs, 0x7763_6873), (.wchc, 0x7763_6863),
        (.wchp, 0x7763_6870), (.dump, 0x6475_6d70), (.isro, 0x6973_726f), (.gtmk, 0x6774_6d6b), (.stmk, 0x7374_6d6b),
        (.srst, 0x7372_7374), (.crst, 0x6372_7374), (.dirs, 0x6469_7273), (.hash, 0x6861_7368),
    ])
    func fourLetterWordCodes(word: FourLetterWord, code: UInt32) {
        #expect(word.code == Int32(bitPattern: code))
        #expect(FourLetterWord(code: Int32(bitPattern: code)) == word)
    }

    @Test func everyFourLetterWordHasAUniqueCode() {
        #expect(Set(FourLetterWord.allCases.map(\.code)).count == FourLetterWord.allCases.count)
        #expect(FourLetterWord(code: 0x7878_7878) == nil)  // "xxxx"
        #expect(UInt32(bitPattern: FourLetterWord.telnetCloseCode) == 0xfff4_fffd)
    }
}

@Suite struct FrameDecoderTests {
    private func drain(_ d: inout FrameDecoder) throws -> [FrameEvent] {
        var out: [FrameEvent] = []
        while let e = try d.next() { out.append(e) }
        return out
    }

    private static let connectFrame = FrameEncoder.frame { ConnectRequest(timeOut: 30000).encode(to: &$0) }
    private static let pingFrame = bytes("00 00 00 08 ff ff ff fe 00 00 00 0b")

    @Test func frameSplitAcrossAppendsAtEveryByte() throws {
        let stream = Self.connectFrame + Self.pingFrame
        for split in 0...stream.count {
            var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
            d.append(Array(stream[..<split]))
            var events = try drain(&d)
            d.append(Array(stream[split...]))
            events += try drain(&d)
            #expect(events == [.frame(Array(Self.connectFrame.dropFirst(4))), .frame(Array(Self.pingFrame.dropFirst(4)))],
                    "split at \(split)")
            #expect(d.bufferedBytes == 0)
        }
    }

    @Test func byteByByte() throws {
        var d = FrameDecoder(frameSizeBytesMax: 1000)
        var events: [FrameEvent] = []
        for b in Self.pingFrame + Self.pingFrame {
            d.append([b])
            events += try drain(&d)
        }
        #expect(events.count == 2)
    }

    @Test func severalFramesInOneAppend() throws {
        var d = FrameDecoder(frameSizeBytesMax: 1000)
        d.append(Self.connectFrame + Self.pingFrame + Self.pingFrame + bytes("00 00 00 00") + bytes("00 00"))
        let events = try drain(&d)
        #expect(events.count == 4)
        #expect(events.last == .frame([]))
        #expect(d.bufferedBytes == 2)
        #expect(!d.acceptsFourLetterWords)
    }

    @Test(arguments: FourLetterWord.allCases.filter { $0 != .stmk })
    func fourLetterWordOnAFreshConnection(word: FourLetterWord) throws {
        var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        d.append(Array(word.rawValue.utf8))
        #expect(try d.next() == .fourLetterWord(word, argument: nil))
        #expect(try d.next() == nil)
    }

    @Test func fourLetterWordsAreOnlyRecognisedBeforeTheFirstFrame() throws {
        var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        d.append(Self.connectFrame)
        #expect(try d.next() == .frame(Array(Self.connectFrame.dropFirst(4))))
        #expect(!d.acceptsFourLetterWords)
        // "ruok" read as a length is 0x72756f6b, above the limit.
        d.append(Array("ruok".utf8))
        #expect(throws: FrameError.lengthOutOfRange(0x7275_6f6b)) { try d.next() }
    }

    @Test func fourLetterWordWithABigFrameLimitIsStillAWord() throws {
        // Before the first frame the word wins even if the length would be acceptable.
        var d = FrameDecoder(frameSizeBytesMax: Int(Int32.max))
        d.append(Array("srvr".utf8))
        #expect(try d.next() == .fourLetterWord(.srvr, argument: nil))
    }

    @Test func stmkCarriesItsEightByteMask() throws {
        var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        d.append(Array("stmk".utf8) + bytes("00 00 00 00 00 00 01 12"))
        #expect(try d.next() == .fourLetterWord(.stmk, argument: 0x112))
        #expect(d.bufferedBytes == 0)
        var negative = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        negative.append(Array("stmk".utf8) + bytes("ff ff ff ff ff ff ff ff"))
        #expect(try negative.next() == .fourLetterWord(.stmk, argument: -1))
    }

    @Test func stmkWithoutItsMaskAnswersAtOnce() throws {
        var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        d.append(Array("stmk".utf8) + [0, 0])
        #expect(try d.next() == .fourLetterWord(.stmk, argument: nil))
    }

    @Test func telnetCloseCode() throws {
        var d = FrameDecoder(frameSizeBytesMax: 0xFFFFF)
        d.append(bytes("ff f4 ff fd"))
        #expect(try d.next() == .telnetClose)
    }

    @Test func lengthAboveMaxIsAnError() throws {
        var d = FrameDecoder(frameSizeBytesMax: 100)
        d.append(bytes("00 00 00 65"))
        #expect(throws: FrameError.lengthOutOfRange(101)) { try d.next() }
        var exact = FrameDecoder(frameSizeBytesMax: 100)
        exact.append(bytes("00 00 00 64") + Array(repeating: 0, count: 100))
        #expect(try exact.next() == .frame(Array(repeating: 0, count: 100)))
    }

    @Test func negativeLengthIsAnError() throws {
        var d = FrameDecoder(frameSizeBytesMax: 100)
        d.append(bytes("ff ff ff fb"))
        #expect(throws: FrameError.lengthOutOfRange(-5)) { try d.next() }
        #expect(FrameError.lengthOutOfRange(-5).description == "Len error -5")
    }

    @Test func incompleteLengthWaits() throws {
        var d = FrameDecoder(frameSizeBytesMax: 100)
        d.append([0, 0, 0])
        #expect(try d.next() == nil)
        #expect(d.bufferedBytes == 3)
        #expect(d.acceptsFourLetterWords)
    }

    @Test func appendFromRawBuffer() throws {
        var d = FrameDecoder(frameSizeBytesMax: 100)
        Self.pingFrame.withUnsafeBytes { d.append($0) }
        #expect(try d.next() == .frame(Array(Self.pingFrame.dropFirst(4))))
    }

    @Test func frameEncoderPatchesTheLength() {
        let f = FrameEncoder.frame { $0.writeString("/abc") }
        #expect(f == bytes("00 00 00 08 00 00 00 04 2f 61 62 63"))
        #expect(FrameEncoder.frame { _ in } == bytes("00 00 00 00"))
    }
}
