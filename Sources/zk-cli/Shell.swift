/// zkCli's `ZooKeeperMain` loop: history, redo, printwatches, connect, quit, the "Not connected"
/// check, the usage text, and the dispatch to the commands; each command's failure is printed to
/// stderr and becomes the exit code (1, or 127 for an unknown command), as `processCmd` does.
import ZKClient
import ZKProtocol

/// A `CliException`: its message goes to stderr and its exit code becomes the shell's.
struct CliFailure: Error {
    var message: String
    var exitCode: Int32 = 1
}

/// `quit`: zkCli exits at once with the current exit code.
struct ShellExit: Error {
    var code: Int32
}

final class Shell {
    let console = Console.shared
    let session: Session
    let printing: WatchPrinting
    /// 3.4 compatibility: `get` prints the stat block after the data.
    let compat34: Bool
    var history: [Int: String] = [:]
    var commandCount = 0
    var exitCode: Int32 = 0
    /// zkCli's one AddWatchCommand instance keeps the last `-m` mode for later `addWatch` calls.
    var addWatchMode: AddWatchMode = .persistentRecursive

    init(session: Session, printing: WatchPrinting, compat34: Bool) {
        self.session = session
        self.printing = printing
        self.compat34 = compat34
    }

    var prompt: String { "[zk: \(session.host)(\(session.stateName)) \(commandCount)] " }

    /// The commands and their option strings, sorted as zkCli's usage lists them.
    static let usageEntries: [(String, String)] = [
        ("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE"),
        ("addauth", "scheme auth"),
        ("close", ""),
        ("config", "[-c] [-w] [-s]"),
        ("connect", "host:port"),
        ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
        ("delete", "[-v version] path"),
        ("deleteall", "path [-b batch size]"),
        ("delquota", "[-n|-b|-N|-B] path"),
        ("get", "[-s] [-w] path"),
        ("getAcl", "[-s] path"),
        ("getAllChildrenNumber", "path"),
        ("getEphemerals", "path"),
        ("history", ""),
        ("listquota", "path"),
        ("ls", "[-s] [-w] [-R] path"),
        ("printwatches", "on|off"),
        ("quit", ""),
        ("reconfig", "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]"),
        ("redo", "cmdno"),
        ("removewatches", "path [-c|-d|-a] [-l]"),
        ("set", "[-s] [-v version] path data"),
        ("setAcl", "[-s] [-v version] [-R] path acl"),
        ("setquota", "-n|-b|-N|-B val path"),
        ("stat", "[-w] path"),
        ("sync", "path"),
        ("version", ""),
        ("whoami", ""),
    ]

    static func usageString(_ command: String) -> String {
        command + " " + (usageEntries.first { $0.0 == command }?.1 ?? "")
    }

    func usage() {
        console.err("ZooKeeper -server host:port -client-configuration properties-file cmd args")
        for (command, options) in Shell.usageEntries { console.err("\t\(command) \(options)") }
    }

    /// An interactive line (`executeLine`).
    func executeLine(_ line: String) throws {
        guard !line.isEmpty else { return }
        let tokens = LineTokenizer.tokens(line)
        history[commandCount] = line
        try processCmd(tokens)
        commandCount += 1
    }

    /// `processCmd`: runs one command; its failure is printed and becomes the exit code.
    func processCmd(_ args: [String]) throws {
        do {
            try processZKCmd(args)
            exitCode = 0
        } catch let failure as CliFailure {
            exitCode = failure.exitCode
            console.err(failure.message)
        }
    }

    private func processZKCmd(_ args: [String]) throws {
        guard let cmd = args.first else {
            usage()
            throw CliFailure(message: "No command entered")
        }
        guard Shell.usageEntries.contains(where: { $0.0 == cmd }) else {
            usage()
            throw CliFailure(message: "Command not found: Command not found \(cmd)", exitCode: 127)
        }
        switch cmd {
        case "quit":
            session.close()
            throw ShellExit(code: exitCode)
        case "redo" where args.count >= 2:
            try redo(args[1])
        case "history":
            for i in max(0, commandCount - 10)...commandCount { console.out("\(i) - \(history[i] ?? "null")") }
        case "printwatches":
            if args.count == 1 {
                console.out("printwatches is " + (printing.isOn ? "on" : "off"))
            } else {
                printing.isOn = args[1] == "on"
            }
        case "connect":
            try session.connect(to: args.count >= 2 ? args[1] : session.host)
        default:
            break
        }
        // Everything below needs a live session (even after the local commands above).
        guard session.isAlive else {
            console.out("Not connected")
            return
        }
        try runCommand(cmd, args)
    }

    private func redo(_ argument: String) throws {
        let index = try JavaText.decodeInt(argument)
        guard index >= 0 && Int(index) < commandCount, let line = history[Int(index)] else {
            throw CliFailure(message: "Command index out of range")
        }
        let tokens = LineTokenizer.tokens(line)
        if tokens.first == "redo" { throw CliFailure(message: "No redoing redos") }
        history[commandCount] = line
        try processCmd(tokens)
    }
}
