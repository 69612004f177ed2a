/// zk-cli: Apache ZooKeeper 3.8's `zkCli.sh` (`ZooKeeperMain`) in Swift, with the same commands, the
/// same output on the same streams, and the same exit codes.
///
///     zk-cli [-server host:port[,host:port][/chroot]] [-timeout ms] [-r] [-waitforconnection]
///            [-compat 3.4|3.8] [cmd args…]
///
/// With a command it runs it and exits (0, or the command's error code); without one it reads
/// commands from stdin: with line editing and the prompt `[zk: host:port(CONNECTED) N] ` on a
/// terminal, plainly otherwise. `-compat 3.4` (the default when invoked as zkCli.sh with
/// ZKCLI_COMPAT=3.4 in the environment) makes `get` print the stat block after the data, as zkCli
/// 3.4 did (the Kubernetes ZooKeeper tutorial's `zkCli.sh get /hello`).
import Glibc
import ZKClient

struct Options {
    var server = "localhost:2181"
    var timeout = "30000"
    var readOnly = false
    var waitForConnection = false
    var compat: String?
    var command: [String]?
}

/// `MyCommandOptions.parseOptions`: known flags anywhere before the command, unknown ones ignored;
/// the first word not starting with "-" starts the command.
func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var index = 0
    while index < arguments.count {
        let opt = arguments[index]
        index += 1
        let takesValue = ["-server", "-timeout", "-client-configuration", "-compat"].contains(opt)
        if takesValue {
            guard index < arguments.count else {
                Console.shared.err("Error: no argument found for option \(opt)")
                return options
            }
            let value = arguments[index]
            index += 1
            switch opt {
            case "-server": options.server = value
            case "-timeout": options.timeout = value
            case "-compat": options.compat = value
            default: break
            }
        } else if opt == "-r" {
            options.readOnly = true
        } else if opt == "-waitforconnection" {
            options.waitForConnection = true
        }
        if !opt.hasPrefix("-") {
            options.command = Array(arguments[(index - 1)...])
            return options
        }
    }
    return options
}

func exitProcess(_ code: Int32) -> Never {
    exit(code)
}

func crash(_ error: JavaCrash) -> Never {
    Console.shared.err(error.line)
    exitProcess(1)
}

func run() -> Never {
    signal(SIGPIPE, SIG_IGN)
    let arguments = Array(CommandLine.arguments.dropFirst())
    let options = parseOptions(arguments)
    let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
    let environmentCompat = getenv("ZKCLI_COMPAT").map { String(cString: $0) }
    let compat34 = options.compat.map { $0 == "3.4" } ?? (invokedAs == "zkCli.sh" && environmentCompat == "3.4")

    let console = Console.shared
    console.out("Connecting to \(options.server)")
    let printing = WatchPrinting()
    let timeoutMs: Int32
    do { timeoutMs = try JavaText.parseInt(options.timeout) } catch { crash(error) }
    let session = Session(host: options.server, timeoutMs: timeoutMs, readOnly: options.readOnly, printing: printing)
    let interactive = options.command == nil
    let terminal = interactive && isatty(0) == 1
    do {
        try session.begin(eager: terminal || options.waitForConnection)
    } catch {
        crash(error)
    }
    if options.waitForConnection && session.awaitConnection(timeoutMs: Int(timeoutMs)) != nil {
        session.close()
        crash(JavaCrash(exceptionClass: "java.io.IOException",
                        message: "org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = ConnectionLoss"))
    }
    let shell = Shell(session: session, printing: printing, compat34: compat34)
    do {
        if let command = options.command {
            try shell.processCmd(command)
        } else {
            console.out("Welcome to ZooKeeper!")
            console.out("JLine support is \(terminal ? "enabled" : "disabled")")
            if terminal {
                try runTerminal(shell)
            } else {
                try runPiped(shell)
            }
        }
    } catch let exit as ShellExit {
        exitProcess(exit.code)
    } catch let error as JavaCrash {
        crash(error)
    } catch {
        console.err("\(error)")
        exitProcess(1)
    }
    exitProcess(shell.exitCode)
}

/// stdin is not a terminal: lines as `BufferedReader.readLine` splits them (\n, \r or \r\n).
func runPiped(_ shell: Shell) throws {
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var skipNewline = false
    var ended = false
    while !ended {
        let count = read(0, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 {
            ended = true
        } else {
            buffer += chunk[0..<count]
        }
        var start = 0
        var i = 0
        while i < buffer.count {
            let byte = buffer[i]
            if skipNewline {
                skipNewline = false
                if byte == 0x0A {
                    start = i + 1
                    i += 1
                    continue
                }
            }
            if byte == 0x0A || byte == 0x0D {
                try shell.executeLine(JavaText.utf8(Array(buffer[start..<i])))
                skipNewline = byte == 0x0D
                start = i + 1
            }
            i += 1
        }
        buffer.removeFirst(start)
        if ended && !buffer.isEmpty { try shell.executeLine(JavaText.utf8(buffer)) }
    }
}

/// stdin is a terminal: JLine's console with the prompt.
func runTerminal(_ shell: Shell) throws {
    _ = shell.session.awaitConnection(timeoutMs: 1000)
    let editor = LineEditor()
    editor.completer = { before in completions(shell, before) }
    while true {
        switch editor.readLine(prompt: shell.prompt) {
        case .line(let line): try shell.executeLine(line)
        case .endOfInput: return
        case .interrupt: exitProcess(130)
        }
    }
}

/// Tab completion like zkCli's `JLineZNodeCompleter`: command names first, znode paths after.
func completions(_ shell: Shell, _ before: String) -> [String] {
    let word = before.split(separator: " ", omittingEmptySubsequences: false).last.map(String.init) ?? ""
    if !before.contains(" ") {
        return Shell.usageEntries.map(\.0).filter { $0.hasPrefix(word) }
    }
    guard word.hasPrefix("/"), shell.session.isConnected else { return [] }
    let slash = word.lastIndex(of: "/")!
    let directory = slash == word.startIndex ? "/" : String(word[..<slash])
    let prefix = String(word[word.index(after: slash)...])
    guard case .success(.children(let children, _))? = try? shell.session.call(.getChildren(path: directory, watch: .none, withStat: false)) else {
        return []
    }
    let base = directory == "/" ? "/" : directory + "/"
    return children.filter { $0.hasPrefix(prefix) }.sorted(by: JavaText.less).map { base + $0 }
}

run()
