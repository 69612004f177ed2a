/// `invariant` documents and checks a property the code relies on. Unlike `assert` it stays on in
/// release builds: a broken invariant is a bug, and a replicated state machine that continues past a
/// bug corrupts data on every replica. Client input must never reach one of these.
@inlinable
public func invariant(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String = "",
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { invariantFailed(message(), file: file, line: line) }
}

/// Called with a broken invariant's message just before the process traps: `zk-sim` sets it to
/// print the seed that replays the failure. Set once, before any other thread starts.
nonisolated(unsafe) public var invariantFailureHook: ((String) -> Void)?

@usableFromInline
func invariantFailed(_ message: String, file: StaticString, line: UInt) -> Never {
    invariantFailureHook?("\(file):\(line): \(message)")
    preconditionFailure(message, file: file, line: line)
}
