/// Vocabulary types shared by every module: zxids, epochs, server and session identifiers.
///
/// Identifiers are wrapped so that a session id can never be passed where a zxid is expected.
/// Their raw values are the signed 64-bit integers that Apache ZooKeeper puts on the wire.

/// A ZooKeeper transaction id: the epoch in the high 32 bits, a counter in the low 32 bits.
public struct Zxid: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int64

    @inlinable public init(_ rawValue: Int64) { self.rawValue = rawValue }

    @inlinable public init(epoch: Epoch, counter: UInt32) {
        rawValue = (epoch.rawValue << 32) | Int64(counter)
    }

    public static let zero = Zxid(0)

    @inlinable public var epoch: Epoch { Epoch(Int64(UInt64(bitPattern: rawValue) >> 32)) }
    @inlinable public var counter: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    /// The next zxid in the same epoch. Running out of counter space is a bug for the caller to
    /// prevent (see `isCounterExhausted`; Zab forces a new epoch before the counter wraps).
    @inlinable public func next() -> Zxid {
        precondition(!isCounterExhausted, "zxid counter exhausted in epoch \(epoch.rawValue)")
        return Zxid(rawValue + 1)
    }

    /// Whether no zxid is left in this epoch after this one.
    @inlinable public var isCounterExhausted: Bool { counter == UInt32.max }

    /// The first zxid of the next epoch (counter 1, as Zab's first proposal of an epoch).
    @inlinable public func firstOfNextEpoch() -> Zxid {
        precondition(epoch.rawValue < Int64(UInt32.max), "epoch space exhausted")
        return Zxid(epoch: Epoch(epoch.rawValue + 1), counter: 1)
    }

    @inlinable public static func < (a: Zxid, b: Zxid) -> Bool { a.rawValue < b.rawValue }

    /// Java's `Long.toHexString`: lowercase, unpadded, two's complement for negatives.
    public var hex: String { String(UInt64(bitPattern: rawValue), radix: 16) }
    public var description: String { "0x" + hex }
}

/// A Zab epoch (the high half of a zxid).
public struct Epoch: Hashable, Comparable, Sendable {
    public var rawValue: Int64
    @inlinable public init(_ rawValue: Int64) { self.rawValue = rawValue }
    @inlinable public static func < (a: Epoch, b: Epoch) -> Bool { a.rawValue < b.rawValue }
}

/// A server's `myid` (1…255 in an ensemble; 1 for a standalone server's session ids).
public struct ServerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int64
    @inlinable public init(_ rawValue: Int64) { self.rawValue = rawValue }
    @inlinable public static func < (a: ServerID, b: ServerID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A client session id. The creating server's id is in the top byte (see `SessionIDGenerator`).
public struct SessionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: Int64
    @inlinable public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public static let none = SessionID(0)
    @inlinable public static func < (a: SessionID, b: SessionID) -> Bool { a.rawValue < b.rawValue }
    public var hex: String { String(UInt64(bitPattern: rawValue), radix: 16) }
    public var description: String { "0x" + hex }
}

/// The shell's handle for one client connection. Never reused while the process lives.
public struct ConnectionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public static func < (a: ConnectionID, b: ConnectionID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "conn#\(rawValue)" }
}

extension String {
    /// Byte-for-byte equality of the UTF-8 forms, as Java compares strings (Swift's `==` compares
    /// canonical equivalence). Uses the contiguous storage of native strings when it can.
    @inlinable
    public func sameBytes(as other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        if let result = a.withContiguousStorageIfAvailable({ pa in
            b.withContiguousStorageIfAvailable { pb in pa.elementsEqual(pb) }
        }), let equal = result {
            return equal
        }
        return a.elementsEqual(b)
    }
}
