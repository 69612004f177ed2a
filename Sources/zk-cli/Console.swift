/// stdout and stderr the way zkCli's `System.out` / `System.err` behave: every `println` reaches the
/// file descriptor at once (Java's streams autoflush on newline), from any thread, never interleaved
/// within a call. While the line editor owns the terminal, output from another thread (a watch
/// event) clears the edited line, prints, and draws the line again.
import Glibc
import Synchronization

final class Console: Sendable {
    static let shared = Console()

    /// The line being edited on a terminal: what to draw after asynchronous output.
    struct EditorLine: Sendable {
        var prompt: String
        var text: String
        /// How many characters the cursor sits left of the end of `text`.
        var cursorBack: Int
    }

    private let editor = Mutex<EditorLine?>(nil)

    func out(_ line: String) { write(1, line + "\n") }
    func outRaw(_ text: String) { write(1, text) }
    func err(_ line: String) { write(2, line + "\n") }

    private func write(_ fd: Int32, _ text: String) {
        editor.withLock { line in
            guard let line else {
                Console.writeAll(fd, Array(text.utf8))
                return
            }
            Console.writeAll(1, Array("\r\u{1B}[K".utf8))
            Console.writeAll(fd, Array(text.utf8))
            Console.writeAll(1, Console.render(line))
        }
    }

    /// Draws the edited line (the editor calls this after every key) and remembers it.
    func drawEditor(_ line: EditorLine) {
        editor.withLock { current in
            current = line
            Console.writeAll(1, Array("\r".utf8) + Console.render(line))
        }
    }

    /// The editor gave the terminal back (the line was entered).
    func endEditor() {
        editor.withLock { $0 = nil }
    }

    private static func render(_ line: EditorLine) -> [UInt8] {
        var bytes = Array((line.prompt + line.text).utf8) + Array("\u{1B}[K".utf8)
        if line.cursorBack > 0 { bytes += Array("\u{1B}[\(line.cursorBack)D".utf8) }
        return bytes
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return  // a closed pipe: Java's PrintStream swallows the error too
            }
            offset += written
        }
    }
}
