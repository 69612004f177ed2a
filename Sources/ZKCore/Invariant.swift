/// `invariant` documents and checks a property the code relies on. Unlike `assert` it stays on in
/// release builds: a broken invariant is a bug, and a replicated state machine that continues past a
/// bug corrupts data on every replica. Client input must never reach one of these.
@inlinable
public func invariant(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String = "",
    file: StaticString = #fileID, line: UInt = #line
) {
    precondition(condition(), message(), file: file, line: line)
}
