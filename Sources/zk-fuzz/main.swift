// zk-fuzz: fuzz targets for every decoder that reads bytes from outside the process.
//
//   zk-fuzz TARGET FILE|DIR...        runs TARGET once on each file (a corpus, a crash to replay)
//   zk-fuzz --list                    names the targets
//
// Built by `scripts/fuzz` with `-D ZK_FUZZING`, coverage instrumentation, AddressSanitizer and
// libFuzzer's driver (`libclang_rt.fuzzer_no_main`), the same binary fuzzes instead:
//   zk-fuzz TARGET [libFuzzer flags] [CORPUS_DIR...]
// A plain `swift build` makes the replay form, so the corpus and every crash kept in
// `Tests/fuzz/` are run by the test suite without the sanitizer toolchain.
import ZKPosix

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: zk-fuzz TARGET [FILE|DIR...] | --list")
    Signals.exitProcess(2)
}
if arguments[1] == "--list" {
    for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
    Signals.exitProcess(0)
}
guard let target = FuzzTarget.named(arguments[1]) else {
    print("zk-fuzz: no target named '\(arguments[1])' (zk-fuzz --list names them)")
    Signals.exitProcess(2)
}
FuzzTarget.selected = target

#if ZK_FUZZING
/// libFuzzer's entry when it does not own `main` (`FuzzerInterface.h`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

// libFuzzer parses its own flags: argv without the target's name.
var argc = CommandLine.argc - 1
var argv = CommandLine.unsafeArgv.advanced(by: 1)
argv[0] = CommandLine.unsafeArgv[0]
let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, count in
    FuzzTarget.selected.run(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
Signals.exitProcess(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
#else
Signals.exitProcess(replay(target, paths: Array(arguments.dropFirst(2))))
#endif

/// Runs `target` on every file named (directories: every file in them, sorted); a crash names its file
/// before the trap, since the run dies with it.
func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
    var files: [String] = []
    for path in paths {
        if FileSystem.isDirectory(path) {
            guard let names = try? FileSystem.listDirectory(path) else {
                print("zk-fuzz: cannot list \(path)")
                return 1
            }
            files += names.sorted().map { "\(path)/\($0)" }
        } else {
            files.append(path)
        }
    }
    for file in files {
        guard let bytes = try? FileSystem.readFile(file) else {
            print("zk-fuzz: cannot read \(file)")
            return 1
        }
        print("zk-fuzz \(target.name): \(file) (\(bytes.count) bytes)")
        target.run(bytes)
    }
    print("zk-fuzz \(target.name): \(files.count) inputs, no crash")
    return 0
}
