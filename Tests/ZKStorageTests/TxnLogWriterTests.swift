import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKStorage
import ZKSimulation

/// Serialized entries with zxids 1...count (creates of /w0, /w1, ...), with their zxids.
private func entries(_ count: Int, dataBytes: Int = 20) -> [(bytes: [UInt8], zxid: Zxid)] {
    let s = TxnScript()
    for i in 0..<count { s.create("/w\(i)", [UInt8](repeating: UInt8(i & 0xFF), count: dataBytes)) }
    return s.entries.map { ($0.serialized(), Zxid($0.zxid)) }
}

private func writer(_ disk: MemoryDisk, preallocate: Int64 = 4096, forceSync: Bool = true) -> TxnLogWriter {
    TxnLogWriter(disk: disk, directory: logDir, preallocateBytes: preallocate, forceSync: forceSync)
}

private func parsed(_ bytes: [UInt8]?) -> TxnLogFormat.ParsedLog { TxnLogFormat.parse(bytes ?? []) }

@Suite struct TxnLogWriterTests {
    @Test func filesAreNamedByTheirFirstZxidAndStartWithTheHeader() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(5)
        #expect(try disk.list(logDir).isEmpty)
        try w.append(txns[0].bytes, zxid: txns[0].zxid)
        // The file exists from the first append, with its header, and its directory entry is durable.
        #expect(try disk.list(logDir) == ["log.1"])
        #expect(disk.contents(logDir + "/log.1") == TxnLogFormat.fileHeader())
        #expect(disk.directorySyncCount == 1)
        try w.append(txns[1].bytes, zxid: txns[1].zxid)
        #expect(try w.commit() == Zxid(2))
        #expect(w.lastCommittedZxid == Zxid(2))
        let file = try #require(disk.contents(logDir + "/log.1"))
        #expect(Array(file.prefix(16)) == TxnLogFormat.fileHeader())
        #expect(parsed(file).records.map(\.txn) == [txns[0].bytes, txns[1].bytes])
        #expect(w.currentFileBytes == Int64(txns[0].bytes.count + txns[1].bytes.count + 2 * TxnLogFormat.recordOverheadBytes))
    }

    @Test func preallocationGrowsTheFileInSteps() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk, preallocate: 8192)
        let txns = entries(300, dataBytes: 100)
        var sizes: [Int] = []
        var recordsEnd = TxnLogFormat.headerBytes
        for (i, txn) in txns.enumerated() {
            try w.append(txn.bytes, zxid: txn.zxid)
            recordsEnd += txn.bytes.count + TxnLogFormat.recordOverheadBytes
            if i % 10 == 9 {
                try w.commit()
                let file = disk.contents(logDir + "/log.1")!
                // Header + whole preallocation steps, always at least 4 KiB beyond the records, zeros there.
                #expect((file.count - TxnLogFormat.headerBytes) % 8192 == 0)
                #expect(file.count >= recordsEnd + 4096)
                #expect(file[recordsEnd...].allSatisfy { $0 == 0 })
                let p = parsed(file)
                #expect(p.records.count == i + 1 && p.problem == nil && p.validEnd == recordsEnd)
                if sizes.last != file.count { sizes.append(file.count) }
            }
        }
        // ~40 KB of records: the file grew several times, one step at a time, and not at every commit.
        #expect(sizes.count >= 4)
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $1 - $0 == 8192 })
        #expect(disk.truncateCount == sizes.count)
        // The file grows sparse; zeros are written only a step ahead of the records (they make
        // later syncs pure data writes), never beyond the file's size.
        #expect(disk.usedBytes <= sizes.last!)
        #expect(disk.usedBytes >= recordsEnd)
    }

    @Test func preallocationHasAMinimumStep() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk, preallocate: 100)
        let txn = entries(1)[0]
        try w.append(txn.bytes, zxid: txn.zxid)
        try w.commit()
        let size = disk.contents(logDir + "/log.1")!.count
        #expect((size - 16) % 4096 == 0 && size >= 16 + 4096)
        // A 64 KiB step, like Apache's default (64 MiB) scaled down: one step covers a small first batch.
        let big = MemoryDisk(directories: [logDir])
        let w2 = writer(big, preallocate: 65536)
        try w2.append(txn.bytes, zxid: txn.zxid)
        try w2.commit()
        #expect(big.contents(logDir + "/log.1")!.count == 16 + 65536)
        // One batch larger than several steps grows the file past it in one go.
        let huge = entries(200, dataBytes: 200)
        let disk3 = MemoryDisk(directories: [logDir])
        let w3 = writer(disk3, preallocate: 4096)
        for txn in huge { try w3.append(txn.bytes, zxid: txn.zxid) }
        try w3.commit()
        let file = disk3.contents(logDir + "/log.1")!
        let end = 16 + huge.reduce(0) { $0 + $1.bytes.count + 13 }
        #expect((file.count - 16) % 4096 == 0 && file.count >= end + 4096 && file.count < end + 4096 + 4096)
        #expect(disk3.truncateCount == 1)
        #expect(parsed(file).records.count == 200)
    }

    @Test func groupCommitSyncsOncePerBatch() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(250)
        for txn in txns.prefix(200) { try w.append(txn.bytes, zxid: txn.zxid) }
        #expect(disk.syncCount == 0)
        #expect(disk.writeCount == 1)  // the header
        #expect(try w.commit() == Zxid(200))
        #expect(disk.syncCount == 1)
        #expect(w.syncCount == 1)
        #expect(disk.writeCount == 3)  // header, zeros ahead, then the whole batch in one write
        // Committing with nothing appended does no IO and returns the last durable zxid.
        #expect(try w.commit() == Zxid(200))
        #expect(disk.syncCount == 1 && disk.writeCount == 3)
        for txn in txns.suffix(50) { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.commit()
        #expect(disk.syncCount == 2)
        #expect(parsed(disk.durableContents(logDir + "/log.1")).records.count == 250)
    }

    @Test func nothingIsDurableBeforeCommit() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(10)
        for txn in txns.prefix(4) { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.commit()
        for txn in txns.suffix(6) { try w.append(txn.bytes, zxid: txn.zxid) }
        #expect(w.lastCommittedZxid == Zxid(4))
        disk.crash()
        let p = parsed(disk.contents(logDir + "/log.1"))
        #expect(p.records.map(\.zxid) == (1...4).map { Zxid($0) })
        #expect(p.problem == nil)
    }

    @Test func rollStartsANewFileAtTheNextAppend() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(9)
        for txn in txns.prefix(3) { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.roll()  // commits the pending txns first
        #expect(w.lastCommittedZxid == Zxid(3))
        #expect(w.currentFileBytes == 0)
        #expect(try disk.list(logDir) == ["log.1"])
        try w.roll()  // rolling an empty log does nothing
        #expect(try disk.list(logDir) == ["log.1"])
        for txn in txns[3..<7] { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.commit()
        try w.roll()
        try w.append(txns[7].bytes, zxid: txns[7].zxid)
        try w.append(txns[8].bytes, zxid: txns[8].zxid)
        try w.commit()
        #expect(try disk.list(logDir) == ["log.1", "log.4", "log.8"])
        #expect(parsed(disk.durableContents(logDir + "/log.1")).records.map(\.zxid.rawValue) == [1, 2, 3])
        #expect(parsed(disk.durableContents(logDir + "/log.4")).records.map(\.zxid.rawValue) == [4, 5, 6, 7])
        #expect(parsed(disk.durableContents(logDir + "/log.8")).records.map(\.zxid.rawValue) == [8, 9])
        // The old files' handles were closed; the directory entries were synced for each new file.
        #expect(disk.directorySyncCount == 3)
        w.close()
    }

    @Test(arguments: [MemoryDisk.FullDiskMode.atomic, .partial])
    func noSpaceOnWriteBreaksTheWriterAndKeepsTheDurablePrefix(mode: MemoryDisk.FullDiskMode) throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        // Big records, so the second batch needs blocks beyond those the writer zeroed ahead
        // (writes into zeroed blocks cannot run out of space).
        let txns = entries(40, dataBytes: 120_000)
        for txn in txns.prefix(10) { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.commit()
        let committedEnd = disk.usedBytes
        // Room for about two and a half more records.
        disk.capacityBytes = committedEnd + 2 * (txns[10].bytes.count + 13) + 40
        disk.fullDiskMode = mode
        for txn in txns[10..<20] { try w.append(txn.bytes, zxid: txn.zxid) }
        #expect(throws: DiskError.self) { try w.commit() }
        #expect(w.failure?.kind == .noSpace)
        #expect(w.lastCommittedZxid == Zxid(10))
        // Broken for good: every later call fails with the same error.
        #expect(throws: DiskError.self) { try w.append(txns[20].bytes, zxid: txns[20].zxid) }
        #expect(throws: DiskError.self) { try w.commit() }
        #expect(throws: DiskError.self) { try w.roll() }
        // What is on disk now parses as the committed records followed by nothing but zeros.
        let current = try #require(disk.contents(logDir + "/log.1"))
        let p = parsed(current)
        #expect(p.records.map(\.zxid.rawValue) == Array(1...10))
        #expect(p.problem == nil, "garbage after the last good record: \(String(describing: p.problem))")
        #expect(current[p.validEnd...].allSatisfy { $0 == 0 })
        // A crash keeps everything that was committed.
        disk.crash()
        let afterCrash = parsed(disk.contents(logDir + "/log.1"))
        #expect(afterCrash.records.map(\.zxid.rawValue) == Array(1...10))
        #expect(afterCrash.problem == nil)
    }

    @Test func ioErrorOnSyncBreaksTheWriter() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(10)
        for txn in txns.prefix(5) { try w.append(txn.bytes, zxid: txn.zxid) }
        try w.commit()
        for txn in txns.suffix(5) { try w.append(txn.bytes, zxid: txn.zxid) }
        disk.failNext(.sync, .io)
        #expect(throws: DiskError.self) { try w.commit() }
        #expect(w.failure?.kind == .io)
        #expect(w.lastCommittedZxid == Zxid(5))
        #expect(throws: DiskError.self) { try w.commit() }
        // The unsynced batch was zeroed back: no half-trusted records in the page cache either.
        let p = parsed(disk.contents(logDir + "/log.1"))
        #expect(p.records.count == 5 && p.problem == nil)
        disk.crash()
        let q = parsed(disk.contents(logDir + "/log.1"))
        #expect(q.records.count == 5 && q.problem == nil)
    }

    @Test func errorsWhilePreallocatingOrOpening() throws {
        let txns = entries(3)
        // The truncate that grows the file fails.
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        try w.append(txns[0].bytes, zxid: txns[0].zxid)
        disk.failNext(.truncate, .noSpace)
        #expect(throws: DiskError.self) { try w.commit() }
        #expect(w.failure?.kind == .noSpace)
        #expect(w.lastCommittedZxid == nil)
        #expect(parsed(disk.contents(logDir + "/log.1")).problem == nil)
        // The header write of a new file fails.
        let disk2 = MemoryDisk(directories: [logDir])
        let w2 = writer(disk2)
        disk2.failNext(.write, .io)
        #expect(throws: DiskError.self) { try w2.append(txns[0].bytes, zxid: txns[0].zxid) }
        #expect(w2.failure?.kind == .io)
        #expect(throws: DiskError.self) { try w2.append(txns[1].bytes, zxid: txns[1].zxid) }
    }

    /// The trap: a failed file creation (EMFILE, ENOSPC) did not break the writer, so the next
    /// append created the following file after a gap of lost txns.
    @Test func aFailedFileCreationBreaksTheWriterForGood() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk)
        let txns = entries(3)
        disk.failNext(.create, .other)
        #expect(throws: DiskError.self) { try w.append(txns[0].bytes, zxid: txns[0].zxid) }
        #expect(w.failure != nil)
        #expect(throws: DiskError.self) { try w.append(txns[1].bytes, zxid: txns[1].zxid) }
        #expect(throws: DiskError.self) { try w.roll() }
        #expect(try disk.list(logDir).isEmpty, "no later file was started")
    }

    @Test func withoutForceSyncThereAreNoSyncs() throws {
        let disk = MemoryDisk(directories: [logDir])
        let w = writer(disk, forceSync: false)
        let txns = entries(30)
        for (i, txn) in txns.enumerated() {
            try w.append(txn.bytes, zxid: txn.zxid)
            if i % 3 == 2 { try w.commit() }
            if i == 14 { try w.roll() }
        }
        #expect(disk.syncCount == 0)
        #expect(w.syncCount == 0)
        #expect(w.lastCommittedZxid == Zxid(30))
        #expect(parsed(disk.contents(logDir + "/log.1")).records.count == 15)
        #expect(parsed(disk.contents(logDir + "/log.10")).records.count == 15)
    }

    @Test func writerOutputRecoversAfterACrash() throws {
        // The writer's files, crashed mid-batch, recover to exactly the committed txns.
        let s = TxnScript()
        s.createSession(sessionA)
        for i in 0..<30 { s.create("/r\(i)", bytes("\(i)"), ephemeral: i % 5 == 0) }
        let disk = MemoryDisk(directories: [snapDir, logDir])
        disk.put(snapDir + "/snapshot.0", snapshotBytes(DataTree(extendedTypesEnabled: false)).1)
        let w = writer(disk)
        for (i, entry) in s.entries.enumerated() {
            try w.append(entry.serialized(), zxid: Zxid(entry.zxid))
            if i == 12 { try w.roll() }
            if i % 4 == 3 && i < 24 { try w.commit() }
        }
        #expect(w.lastCommittedZxid == Zxid(24))
        disk.crash()
        let db = try Recovery.recover(disk: disk, layout: layout, extendedTypesEnabled: false)
        #expect(db.lastZxid == Zxid(24))
        #expect(db.warnings.isEmpty)
        expectSameTree(db.tree, s.replay(through: Zxid(24)), ordered: true)
        #expect(db.sessions == [SessionID(sessionA): 30000])
    }
}
