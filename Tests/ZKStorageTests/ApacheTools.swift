/// Running Apache ZooKeeper's own file readers (Debian's 3.8.0 jars) on files we wrote, and a scratch
/// directory of real files. Tests may use Glibc; the modules under test may not.
import Glibc
import Testing

enum ApacheTools {
    /// zookeeper.jar's manifest brings zookeeper-jute.jar and the rest of its dependencies.
    static let classPath = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar:/usr/share/java/commons-cli.jar"
    static let skipReason: Comment = "needs `java` on PATH and Debian's /usr/share/java/zookeeper.jar (CI installs them)"

    /// The `java` executable on PATH, if any.
    static let java: String? = {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/java", X_OK) == 0 { return "\(dir)/java" }
        return nil
    }()

    static var available: Bool {
        java != nil && access("/usr/share/java/zookeeper.jar", R_OK) == 0
    }

    /// Runs `java -cp <jars> <mainClass> <arguments>`; returns the exit status and stdout+stderr.
    static func run(_ mainClass: String, _ arguments: [String], scratch: ScratchDirectory) -> (status: Int32, output: String) {
        let outputPath = scratch.path + "/java-\(scratch.nextSerial()).out"
        let argv = [java!, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", classPath, mainClass] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for p in cArguments { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, java!, &actions, nil, cArguments, environ)
        guard spawned == 0 else { return (-1, "posix_spawn failed: \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        scratch.track(outputPath)
        let output = String(decoding: ScratchDirectory.readFile(outputPath) ?? [], as: UTF8.self)
        // WIFEXITED / WEXITSTATUS.
        return ((status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1, output)
    }
}

/// A temporary directory of real files, removed by `remove()`.
final class ScratchDirectory {
    let path: String
    private var files: [String] = []
    private var directories: [String] = []

    init() {
        var template = Array("/tmp/zkstorage-tests-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed: errno \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private var serial = 0

    func track(_ file: String) { files.append(file) }

    func nextSerial() -> Int {
        serial += 1
        return serial
    }

    func makeDirectory(_ relative: String) -> String {
        let full = path + "/" + relative
        precondition(mkdir(full, 0o755) == 0 || errno == EEXIST, "mkdir \(full)")
        directories.append(full)
        return full
    }

    /// Writes `bytes` to `relative` with fopen/fwrite; returns the full path.
    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + relative
        guard let file = fopen(full, "wb") else { preconditionFailure("fopen \(full): errno \(errno)") }
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        precondition(written == bytes.count && fclose(file) == 0, "fwrite \(full)")
        files.append(full)
        return full
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    func remove() {
        for file in files { unlink(file) }
        for directory in directories.reversed() { rmdir(directory) }
        rmdir(path)
    }
}
