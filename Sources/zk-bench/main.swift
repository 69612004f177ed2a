/// zk-bench: a pipelined load generator for any ZooKeeper server (see `Options.help`).
import ZKPosix

let arguments = Array(CommandLine.arguments.dropFirst())
let options: Options
do {
    options = try Options.parse(arguments)
} catch {
    if let message = error.message {
        printError("zk-bench: \(message)")
        printError(Options.help)
        Signals.exitProcess(2)
    }
    try? PosixFile(fd: 1).write(Array((Options.help + "\n").utf8))
    Signals.exitProcess(0)
}
do {
    Signals.ignoreSIGPIPE()
    let bench = try Bench(options: options)
    try bench.connectAll()
    if options.setup { try bench.setUp() }
    let report = try bench.run()
    bench.closeAll()
    try PosixFile(fd: 1).write(Array(report.text.utf8))
    if let path = options.jsonPath {
        let file = try PosixFile(path: path, options: [.write, .create, .truncate])
        try file.write(Array((report.json + "\n").utf8))
        file.close()
    }
} catch {
    printError("zk-bench: \(error)")
    Signals.exitProcess(1)
}
