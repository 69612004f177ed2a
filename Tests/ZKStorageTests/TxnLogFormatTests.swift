import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKStorage

/// Entries with zxids 1...count in session A: a createSession then creates with various sizes.
private func sampleEntries(_ count: Int) -> [TxnEntry] {
    let script = TxnScript()
    script.createSession(sessionA)
    var i = 0
    while script.entries.count < count {
        script.create("/n\(i)", [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: i % 50))
        i += 1
    }
    return script.entries
}

@Suite struct TxnLogFormatTests {
    @Test func fileHeaderBytes() {
        #expect(TxnLogFormat.fileHeader() == [0x5A, 0x4B, 0x4C, 0x47, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(TxnLogFormat.headerBytes == 16)
        #expect(TxnLogFormat.magic == 1_514_884_167)
    }

    @Test func recordLayout() {
        let txn = sampleEntries(2)[1].serialized()
        var w = JuteWriter()
        TxnLogFormat.appendRecord(txn, to: &w)
        let record = w.bytes
        #expect(record.count == txn.count + TxnLogFormat.recordOverheadBytes)
        // long checksum: Adler-32 of the txn bytes only, high word zero.
        let checksum = Adler32.checksum(txn)
        #expect(Array(record[0..<4]) == [0, 0, 0, 0])
        #expect(Array(record[4..<8]) == [UInt8(checksum >> 24), UInt8(checksum >> 16 & 0xFF), UInt8(checksum >> 8 & 0xFF), UInt8(checksum & 0xFF)])
        // int length, then the txn bytes, then 'B'.
        let length = txn.count
        #expect(Array(record[8..<12]) == [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
        #expect(Array(record[12..<12 + length]) == txn)
        #expect(record.last == 0x42)
        // The checksum does not cover the length or the marker.
        #expect(Adler32.checksum(record[8...]) != checksum)
    }

    @Test func parseRoundTripOfManyRecords() throws {
        let entries = sampleEntries(500)
        let file = logFileBytes(entries)
        let parsed = TxnLogFormat.parse(file)
        #expect(parsed.problem == nil)
        #expect(parsed.records.count == 500)
        #expect(parsed.validEnd == file.count)
        for (record, entry) in zip(parsed.records, entries) {
            #expect(record.zxid == Zxid(entry.zxid))
            #expect(record.txn == entry.serialized())
            #expect(try TxnEntry.decode(record.txn) == entry)
        }
        // endOffset of each record is the start of the next.
        var offset = TxnLogFormat.headerBytes
        for record in parsed.records {
            offset += record.txn.count + TxnLogFormat.recordOverheadBytes
            #expect(record.endOffset == offset)
        }
    }

    @Test func readerFetchesOnlyWhatItNeeds() throws {
        // A 64 MiB preallocated file is never read past its records.
        let file = logFileBytes(sampleEntries(10))
        let size = 16 + 64 * 1024 * 1024
        var requested: [(Int, Int)] = []
        let parsed = try TxnLogFormat.parse(fileSize: size) { (offset: Int, count: Int) throws(DiskError) -> [UInt8] in
            requested.append((offset, count))
            // The file's bytes, then zeros: only as much as asked (capped here to keep the test small).
            let available = min(count, 2 << 20)
            return (offset..<offset + available).map { $0 < file.count ? file[$0] : 0 }
        }
        #expect(parsed.records.count == 10)
        #expect(parsed.problem == nil)
        #expect(parsed.validEnd == file.count)
        #expect(requested.count == 1)
        #expect(requested.allSatisfy { $0.0 + $0.1 <= 2 << 20 })
    }

    @Test func zeroPaddingIsACleanEnd() {
        let file = logFileBytes(sampleEntries(20))
        for padding in [0, 1, 5, 11, 12, 13, 4096, 70_000] {
            let parsed = TxnLogFormat.parse(file + [UInt8](repeating: 0, count: padding))
            #expect(parsed.problem == nil, "padding \(padding)")
            #expect(parsed.records.count == 20, "padding \(padding)")
            #expect(parsed.validEnd == file.count, "padding \(padding)")
        }
        // A header alone is an empty log; nothing at all, or less than a header (a file created but
        // never completely written), is reported so recovery can remove it.
        let header = TxnLogFormat.parse(TxnLogFormat.fileHeader() + [UInt8](repeating: 0, count: 100))
        #expect(header.records.isEmpty && header.problem == nil && header.validEnd == 16)
        let empty = TxnLogFormat.parse([])
        #expect(empty.records.isEmpty && empty.problem == .incompleteHeader)
        let zeros = TxnLogFormat.parse([UInt8](repeating: 0, count: 10))
        #expect(zeros.records.isEmpty && zeros.problem == .incompleteHeader)
    }

    @Test func badHeader() {
        var file = logFileBytes(sampleEntries(3))
        file[3] = 0x48  // "ZKLH"
        #expect(TxnLogFormat.parse(file).problem == .badHeader)
        #expect(TxnLogFormat.parse(file).records.isEmpty)
        var version = logFileBytes(sampleEntries(3))
        version[7] = 1
        #expect(TxnLogFormat.parse(version).problem == .badHeader)
        // A header torn before its 16 bytes were complete.
        #expect(TxnLogFormat.parse(Array(TxnLogFormat.fileHeader()[0..<9])).problem == .incompleteHeader)
    }

    /// Cuts the file inside its last record, at every offset, with and without zeros after the cut.
    @Test func tornTailAtEveryOffset() {
        let entries = sampleEntries(6)
        let full = logFileBytes(entries)
        let good = logFileBytes(Array(entries.dropLast()))
        let lastStart = good.count
        for cut in lastStart + 1..<full.count {
            for padding in [0, 1000] {
                let file = Array(full[0..<cut]) + [UInt8](repeating: 0, count: padding)
                let parsed = TxnLogFormat.parse(file)
                #expect(parsed.records.count == 5, "cut \(cut) padding \(padding)")
                #expect(parsed.validEnd == lastStart, "cut \(cut) padding \(padding)")
                #expect(parsed.records.map(\.zxid) == entries.dropLast().map { Zxid($0.zxid) })
                // A cut inside the checksum's high word (always zero) leaves only zeros: indistinguishable
                // from padding, so it is a clean end. Anything later is a damaged record at lastStart.
                if cut - lastStart <= 4 {
                    #expect(parsed.problem == nil, "cut \(cut) padding \(padding)")
                } else if cut == full.count - 1 && padding > 0 {
                    #expect(parsed.problem == .missingEndMarker(offset: lastStart), "cut \(cut)")
                } else if padding > 0 && cut >= lastStart + 12 {
                    // The length is complete and the zeros supply the rest: the marker is a zero.
                    #expect(parsed.problem == .missingEndMarker(offset: lastStart), "cut \(cut)")
                } else {
                    #expect(parsed.problem == .partialRecord(offset: lastStart), "cut \(cut) padding \(padding)")
                }
            }
        }
    }

    @Test func tornTailVariants() {
        let entries = sampleEntries(4)
        let full = logFileBytes(entries)
        let lastStart = logFileBytes(Array(entries.dropLast())).count
        let txnCount = entries.last!.serialized().count

        // Cut mid-checksum (in its low word), mid-length, mid-txn.
        for (name, cut) in [("mid-checksum", lastStart + 6), ("mid-length", lastStart + 10), ("mid-txn", lastStart + 12 + txnCount / 2)] {
            let parsed = TxnLogFormat.parse(Array(full[0..<cut]))
            #expect(parsed.problem == .partialRecord(offset: lastStart), "\(name)")
            #expect(parsed.records.count == 3, "\(name)")
            #expect(parsed.validEnd == lastStart, "\(name)")
        }
        // Missing 0x42: the file ends right before it, or something else is there.
        let noMarker = Array(full.dropLast())
        #expect(TxnLogFormat.parse(noMarker).problem == .partialRecord(offset: lastStart))
        var wrongMarker = full
        wrongMarker[wrongMarker.count - 1] = 0x43
        let wrong = TxnLogFormat.parse(wrongMarker)
        #expect(wrong.problem == .missingEndMarker(offset: lastStart))
        #expect(wrong.records.count == 3 && wrong.validEnd == lastStart)

        // A flipped byte in the txn, or in the stored checksum: checksum mismatch.
        for position in [lastStart + 7, lastStart + 12, lastStart + 12 + txnCount - 1] {
            var flipped = full
            flipped[position] ^= 0x01
            let parsed = TxnLogFormat.parse(flipped)
            #expect(parsed.problem == .checksumMismatch(offset: lastStart), "position \(position - lastStart)")
            #expect(parsed.records.count == 3)
            #expect(parsed.validEnd == lastStart)
        }
        // A flipped byte in a middle record stops reading there; later good records are not used, and
        // the problem says intact records follow (so recovery refuses to cut them off).
        let secondStart = logFileBytes(Array(entries.prefix(1))).count
        var middle = full
        middle[secondStart + 20] ^= 0x80
        let parsedMiddle = TxnLogFormat.parse(middle)
        #expect(parsedMiddle.problem == .corruptBeforeValidRecords(offset: secondStart))
        #expect(parsedMiddle.records.count == 1)
        #expect(parsedMiddle.validEnd == secondStart)

        // A length that is negative or runs past the end of the file.
        var negative = full
        negative[lastStart + 8] = 0xFF
        #expect(TxnLogFormat.parse(negative).problem == .partialRecord(offset: lastStart))
        var huge = full
        huge[lastStart + 8] = 0x10
        #expect(TxnLogFormat.parse(huge).problem == .partialRecord(offset: lastStart))

        // Garbage after the last record with a zero length but a non-zero checksum is not padding.
        let garbage = full + [0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0]
        let parsedGarbage = TxnLogFormat.parse(garbage)
        #expect(parsedGarbage.problem == .partialRecord(offset: full.count))
        #expect(parsedGarbage.records.count == 4 && parsedGarbage.validEnd == full.count)
    }

    @Test func recordTooShortForATxnHeader() {
        var w = JuteWriter()
        w.bytes = TxnLogFormat.fileHeader()
        TxnLogFormat.appendRecord(sampleEntries(1)[0].serialized(), to: &w)
        let good = w.bytes.count
        TxnLogFormat.appendRecord([1, 2, 3], to: &w)
        let parsed = TxnLogFormat.parse(w.bytes)
        #expect(parsed.records.count == 1)
        #expect(parsed.problem == .unreadableTxn(offset: good))
        #expect(parsed.validEnd == good)
    }

    @Test func fileNames() {
        #expect(TxnLogFormat.fileName(firstZxid: Zxid(1)) == "log.1")
        #expect(TxnLogFormat.fileName(firstZxid: Zxid(0x1_0000_0001)) == "log.100000001")
        #expect(TxnLogFormat.fileName(firstZxid: Zxid(0xABCDEF)) == "log.abcdef")
        #expect(SnapshotFormat.fileName(zxid: .zero) == "snapshot.0")
        #expect(SnapshotFormat.fileName(zxid: Zxid(0x5_0000_002A)) == "snapshot.50000002a")
        // Negative zxids print as Java's Long.toHexString does (two's complement).
        #expect(TxnLogFormat.fileName(firstZxid: Zxid(-1)) == "log.ffffffffffffffff")
    }

    @Test func zxidInFileName() {
        #expect(TxnLogFormat.zxid(inFileName: "log.1", prefix: "log") == Zxid(1))
        #expect(TxnLogFormat.zxid(inFileName: "log.100000001", prefix: "log") == Zxid(0x1_0000_0001))
        #expect(TxnLogFormat.zxid(inFileName: "log.ABCDEF", prefix: "log") == Zxid(0xABCDEF))
        #expect(TxnLogFormat.zxid(inFileName: "snapshot.0", prefix: "snapshot") == .zero)
        #expect(TxnLogFormat.zxid(inFileName: "log.ffffffffffffffff", prefix: "log") == Zxid(-1))
        for name in ["log.1.tmp", "log.tmp", "log.", "log", "snapshot.1", "log.1x", "log.12345678901234567",
                     "xlog.1", "log-1", "currentEpoch", "acceptedEpoch", "log.-1", "log. 1", ".log.1"] {
            #expect(TxnLogFormat.zxid(inFileName: name, prefix: "log") == nil, "\(name)")
        }
        #expect(TxnLogFormat.zxid(inFileName: "snapshot.1.tmp", prefix: "snapshot") == nil)
        #expect(TxnLogFormat.zxid(inFileName: "log.1", prefix: "snapshot") == nil)
    }
}
