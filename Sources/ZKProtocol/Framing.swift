/// Framing on the client port: every message is a 4-byte big-endian length (not counting itself)
/// followed by that many bytes. Before its ConnectRequest, a connection may instead send a
/// four-letter word: the first 4 bytes, read as a length, match a known command.
///
/// `FrameDecoder` is pure: the shell appends whatever `read` returned and takes out whole frames.
import ZKCore

/// ZooKeeper's four-letter words, keyed by their 4 bytes read as a big-endian int.
public enum FourLetterWord: String, Sendable, CaseIterable {
    case ruok, stat, srvr, conf, cons, crst, dump, envi, mntr, wchs, wchc, wchp, dirs, isro, srst, gtmk, stmk, hash

    public var code: Int32 {
        var v: UInt32 = 0
        for b in rawValue.utf8 { v = (v << 8) | UInt32(b) }
        return Int32(bitPattern: v)
    }

    public init?(code: Int32) {
        guard let word = FourLetterWord.allCases.first(where: { $0.code == code }) else { return nil }
        self = word
    }

    /// The telnet "interrupt process" sequence Apache treats as a request to close.
    public static let telnetCloseCode = Int32(bitPattern: 0xFFF4_FFFD)
}

public enum FrameEvent: Sendable, Equatable {
    /// One complete frame's payload (without its length prefix).
    case frame([UInt8])
    /// A four-letter word; `stmk` carries its 8-byte trace mask argument.
    case fourLetterWord(FourLetterWord, argument: Int64?)
    /// The telnet close sequence on a fresh connection.
    case telnetClose
}

public enum FrameError: Error, Equatable, CustomStringConvertible {
    /// The length prefix is negative or above `jute.maxbuffer`.
    case lengthOutOfRange(Int32)
    public var description: String {
        switch self {
        case .lengthOutOfRange(let n): return "Len error \(n)"
        }
    }
}

public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Until the first frame, 4 bytes may be a four-letter word.
    public private(set) var acceptsFourLetterWords = true
    public let frameSizeBytesMax: Int

    public init(frameSizeBytesMax: Int) { self.frameSizeBytesMax = frameSizeBytesMax }

    public var bufferedBytes: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) { buffer.append(contentsOf: bytes) }
    public mutating func append(_ bytes: [UInt8]) { buffer.append(contentsOf: bytes) }

    private func int32(at i: Int) -> Int32 {
        var u: UInt32 = 0
        for k in 0..<4 { u = (u << 8) | UInt32(buffer[i + k]) }
        return Int32(bitPattern: u)
    }

    /// The next complete event, nil when more bytes are needed.
    public mutating func next() throws(FrameError) -> FrameEvent? {
        guard bufferedBytes >= 4 else { compact(); return nil }
        let length = int32(at: start)
        if acceptsFourLetterWords {
            if length == FourLetterWord.telnetCloseCode {
                consume(4)
                return .telnetClose
            }
            if let word = FourLetterWord(code: length) {
                // stmk's 8-byte mask is read from what has arrived; Apache answers without waiting,
                // so a short or missing mask leaves the mask unchanged.
                if word == .stmk && bufferedBytes >= 12 {
                    let mask = (Int64(int32(at: start + 4)) << 32) | Int64(UInt32(bitPattern: int32(at: start + 8)))
                    consume(12)
                    return .fourLetterWord(word, argument: mask)
                }
                consume(4)
                return .fourLetterWord(word, argument: nil)
            }
        }
        guard length >= 0, Int(length) <= frameSizeBytesMax else { throw .lengthOutOfRange(length) }
        let total = 4 + Int(length)
        guard bufferedBytes >= total else { compact(); return nil }
        let payload = Array(buffer[(start + 4)..<(start + total)])
        consume(total)
        acceptsFourLetterWords = false
        return .frame(payload)
    }

    private mutating func consume(_ n: Int) {
        start += n
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
    }

    /// Drops consumed bytes once they dominate the buffer, so it cannot grow without bound.
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}

/// Builds length-prefixed frames: reserves the length, lets the caller write, then patches it.
public enum FrameEncoder {
    public static func frame(_ body: (inout JuteWriter) -> Void) -> [UInt8] {
        var w = JuteWriter()
        w.writeInt(0)
        body(&w)
        w.patchInt(Int32(w.bytes.count - 4), at: 0)
        return w.bytes
    }

    public static func reply(_ header: ReplyHeader, _ body: ResponseBody) -> [UInt8] {
        frame { w in
            header.encode(to: &w)
            if header.err == 0 { body.encode(to: &w) }
        }
    }
}
