/// Line editing for the interactive shell on a terminal (what JLine gives zkCli): the terminal in
/// raw mode while a line is read; left/right, home/end (ctrl-A/E), backspace/delete, ctrl-K/U/W,
/// up/down through the history, tab completion of command names and znode paths, ctrl-D on an empty
/// line for end of input, ctrl-C to quit.
import Glibc

final class LineEditor {
    private var history: [String] = []
    private let console = Console.shared
    /// Completes the word before the cursor: returns the candidates for it.
    var completer: ((String) -> [String])?

    enum Input { case line(String), endOfInput, interrupt }

    private var text: [Character] = []
    private var cursor = 0
    private var prompt = ""

    func readLine(prompt: String) -> Input {
        self.prompt = prompt
        text = []
        cursor = 0
        historyIndex = history.count
        pending = ""
        var saved = termios()
        guard tcgetattr(0, &saved) == 0 else { return .endOfInput }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | IEXTEN | ISIG)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(0, TCSADRAIN, &raw)
        defer { tcsetattr(0, TCSADRAIN, &saved) }
        redraw()
        while true {
            guard let byte = readByte() else {
                finish()
                return .endOfInput
            }
            if let done = handleKey(byte) {
                finish()
                if case .line(let line) = done, !line.isEmpty, history.last != line { history.append(line) }
                return done
            }
            redraw()
        }
    }

    private var historyIndex = 0
    private var pending = ""  // the line being typed while browsing the history
    private var decoder = UTF8Decoder()

    /// Applies one key; returns the result when the line is finished.
    private func handleKey(_ byte: UInt8) -> Input? {
        switch byte {
        case 0x0D, 0x0A: return .line(String(text))
        case 0x03: return .interrupt
        case 0x04:
            if text.isEmpty { return .endOfInput }
            if cursor < text.count { text.remove(at: cursor) }
        case 0x01: cursor = 0
        case 0x05: cursor = text.count
        case 0x02: cursor = max(0, cursor - 1)
        case 0x06: cursor = min(text.count, cursor + 1)
        case 0x7F, 0x08:
            if cursor > 0 {
                text.remove(at: cursor - 1)
                cursor -= 1
            }
        case 0x0B: text.removeSubrange(cursor...)
        case 0x15:
            text.removeSubrange(..<cursor)
            cursor = 0
        case 0x17:
            var start = cursor
            while start > 0 && text[start - 1] == " " { start -= 1 }
            while start > 0 && text[start - 1] != " " { start -= 1 }
            text.removeSubrange(start..<cursor)
            cursor = start
        case 0x0C: Console.writeAll(1, Array("\u{1B}[H\u{1B}[2J".utf8))
        case 0x09: complete()
        case 0x10: browse(-1)
        case 0x0E: browse(1)
        case 0x1B: escapeSequence()
        default:
            if byte >= 0x20, let c = decoder.feed(byte) {
                text.insert(c, at: cursor)
                cursor += 1
            }
        }
        return nil
    }

    private func escapeSequence() {
        guard let first = readByte(), first == UInt8(ascii: "[") || first == UInt8(ascii: "O") else { return }
        var parameter = ""
        while let b = readByte() {
            if b >= 0x30 && b <= 0x39 || b == UInt8(ascii: ";") {
                parameter.append(Character(Unicode.Scalar(b)))
                continue
            }
            switch b {
            case UInt8(ascii: "A"): browse(-1)
            case UInt8(ascii: "B"): browse(1)
            case UInt8(ascii: "C"): cursor = min(text.count, cursor + 1)
            case UInt8(ascii: "D"): cursor = max(0, cursor - 1)
            case UInt8(ascii: "H"): cursor = 0
            case UInt8(ascii: "F"): cursor = text.count
            case UInt8(ascii: "~"):
                switch parameter {
                case "1", "7": cursor = 0
                case "4", "8": cursor = text.count
                case "3": if cursor < text.count { text.remove(at: cursor) }
                default: break
                }
            default: break
            }
            return
        }
    }

    private func browse(_ step: Int) {
        let target = historyIndex + step
        guard target >= 0 && target <= history.count else { return }
        if historyIndex == history.count { pending = String(text) }
        historyIndex = target
        text = Array(historyIndex == history.count ? pending : history[historyIndex])
        cursor = text.count
    }

    private func complete() {
        guard let completer else { return }
        let before = String(text[..<cursor])
        let wordStart = before.lastIndex(of: " ").map { before.index(after: $0) } ?? before.startIndex
        let word = String(before[wordStart...])
        let candidates = completer(before)
        guard !candidates.isEmpty else { return }
        var common = candidates[0]
        for candidate in candidates.dropFirst() {
            while !candidate.hasPrefix(common) { common.removeLast() }
        }
        if common.count > word.count {
            let addition = Array(common.dropFirst(word.count))
            text.insert(contentsOf: addition, at: cursor)
            cursor += addition.count
            if candidates.count == 1 && !common.hasSuffix("/") {
                text.insert(" ", at: cursor)
                cursor += 1
            }
        } else if candidates.count > 1 {
            console.endEditor()
            Console.writeAll(1, Array(("\r\n" + candidates.joined(separator: "  ") + "\r\n").utf8))
        }
    }

    private func redraw() {
        console.drawEditor(Console.EditorLine(prompt: prompt, text: String(text), cursorBack: text.count - cursor))
    }

    private func finish() {
        console.endEditor()
        Console.writeAll(1, Array("\r\n".utf8))
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let n = read(0, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Collects the bytes of one UTF-8 character.
    private struct UTF8Decoder {
        var bytes: [UInt8] = []
        mutating func feed(_ byte: UInt8) -> Character? {
            bytes.append(byte)
            let needed = bytes[0] < 0x80 ? 1 : bytes[0] < 0xE0 ? 2 : bytes[0] < 0xF0 ? 3 : 4
            guard bytes.count >= needed else { return nil }
            defer { bytes = [] }
            return String(decoding: bytes, as: UTF8.self).first
        }
    }
}
