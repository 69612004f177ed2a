import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage

/// The snapshot a Zab leader sends after SNAP: written from the live tree, read back in whatever
/// pieces TCP delivers, ending exactly at the signature (what follows is quorum packets again).
@Suite struct SnapStreamTests {
    @Test(arguments: [1, 7, 64, 4096, 1 << 20])
    func aStreamReadInPiecesRebuildsTheTreeAndFindsItsEnd(pieceBytes: Int) throws {
        let script = varietyScript()
        let sessions: [(SessionID, Int32)] = [(SessionID(sessionB), 12000), (SessionID(sessionA), 30000)]
        let trailer: [UInt8] = [0, 0, 0, 9, 1, 2, 3]  // the next quorum packet's first bytes
        let bytes = SnapStream.serialize(tree: script.tree, sessions: sessions) + trailer
        var reader = SnapStreamReader(zxid: script.tree.lastProcessedZxid, extendedTypesEnabled: true, limits: Limits())
        var offset = 0
        var leftover: Int?
        while offset < bytes.count, leftover == nil {
            let end = min(bytes.count, offset + pieceBytes)
            if case .finished(let n) = try reader.feed(bytes[offset..<end]) { leftover = n + (bytes.count - end) }
            offset = end
        }
        #expect(leftover == trailer.count)
        expectSameTree(reader.tree, script.tree)
        #expect(reader.tree.lastProcessedZxid == script.tree.lastProcessedZxid)
        #expect(reader.sessions.map(\.0) == [SessionID(sessionA), SessionID(sessionB)].sorted())
    }

    @Test func aWrongSignatureIsRefused() throws {
        let script = varietyScript()
        var bytes = SnapStream.serialize(tree: script.tree, sessions: [])
        bytes[bytes.count - 1] ^= 0x20  // "BenWasHerE"
        var reader = SnapStreamReader(zxid: script.tree.lastProcessedZxid, extendedTypesEnabled: true, limits: Limits())
        #expect(throws: SnapshotError.self) { _ = try reader.feed(bytes[...]) }
    }

    @Test func anEndlessRecordIsRefusedInsteadOfBuffered() throws {
        var limits = Limits()
        limits.packetSizeBytesMax = 1024
        var reader = SnapStreamReader(zxid: Zxid(1), extendedTypesEnabled: true, limits: limits)
        // No sessions, no ACLs, then a node whose path claims 1 GiB.
        var w = JuteWriter()
        w.writeInt(0)
        w.writeInt(0)
        w.writeInt(1 << 30)
        #expect(throws: (any Error).self) {
            _ = try reader.feed(w.bytes[...])
            for _ in 0..<200 { _ = try reader.feed(ArraySlice(repeating: 0x41, count: 1024)) }
        }
    }
}
