import Testing
@testable import ZKStorage
import ZKSimulation

/// The test disk itself: the storage tests are only as good as its fault model.
@Suite struct MemoryDiskTests {
    @Test func filesAndDirectories() throws {
        let disk = MemoryDisk(directories: ["/d"])
        #expect(throws: DiskError(.notFound, "/x: no such directory")) { try disk.list("/x") }
        #expect(throws: DiskError.self) { try disk.create("/x/f") }
        let f = try disk.create("/d/b")
        try f.write([1, 2, 3], at: 0)
        try f.write([9], at: 5)  // a gap reads as zeros
        f.close()
        _ = try disk.create("/d/a")
        #expect(try disk.list("/d") == ["a", "b"])
        #expect(try disk.read("/d/b") == [1, 2, 3, 0, 0, 9])
        #expect(try disk.read("/d/b", at: 1, count: 3) == [2, 3, 0])
        #expect(try disk.read("/d/b", at: 4, count: 100) == [0, 9])
        #expect(try disk.read("/d/b", at: 10, count: 1) == [])
        #expect(try disk.size("/d/b") == 6)
        try disk.rename("/d/b", to: "/d/c")
        #expect(try disk.list("/d") == ["a", "c"])
        #expect(throws: DiskError.self) { try disk.read("/d/b") }
        try disk.remove("/d/a")
        #expect(try disk.list("/d") == ["c"])
        #expect(throws: DiskError.self) { try disk.remove("/d/a") }
        #expect(throws: DiskError.self) { try disk.openForWriting("/d/a") }
        // create truncates an existing file; openForWriting does not.
        let g = try disk.openForWriting("/d/c")
        try g.write([7], at: 0)
        #expect(try disk.read("/d/c") == [7, 2, 3, 0, 0, 9])
        _ = try disk.create("/d/c")
        #expect(try disk.read("/d/c") == [])
    }

    @Test func crashDropsUnsyncedData() throws {
        let disk = MemoryDisk(directories: ["/d"])
        let f = try disk.create("/d/f")
        try f.write([1, 2, 3], at: 0)
        try disk.syncDirectory("/d")
        try f.sync()
        try f.write([4, 5], at: 3)
        try f.truncate(to: 100)
        #expect(disk.durableContents("/d/f") == [1, 2, 3])
        disk.crash()
        #expect(try disk.read("/d/f") == [1, 2, 3])
        // Old handles are dead after a crash.
        #expect(throws: DiskError.self) { try f.write([1], at: 0) }
        // A file whose directory entry was never synced disappears; so does an unsynced rename or remove.
        let g = try disk.create("/d/g")
        try g.write([1], at: 0)
        try g.sync()
        try disk.rename("/d/f", to: "/d/renamed")
        disk.crash()
        #expect(try disk.list("/d") == ["f"])
        // With durable directory entries, only data is lost.
        disk.directoryEntriesAreDurable = true
        let h = try disk.create("/d/h")
        try h.write([1], at: 0)
        disk.crash()
        #expect(try disk.list("/d") == ["f", "h"])
        #expect(try disk.read("/d/h") == [])
    }

    @Test func truncateGrowthIsSparseAndFree() throws {
        let disk = MemoryDisk(directories: ["/d"])
        disk.capacityBytes = 10
        let f = try disk.create("/d/f")
        try f.truncate(to: 1_000_000)
        #expect(try disk.size("/d/f") == 1_000_000)
        #expect(disk.usedBytes == 0)
        // Space used is counted up to the highest written offset (logs are written from the front).
        try f.write([UInt8](repeating: 1, count: 10), at: 0)
        #expect(disk.usedBytes == 10)
        #expect(try disk.size("/d/f") == 1_000_000)
        #expect(throws: DiskError.self) { try f.write([1], at: 10) }
        try f.truncate(to: 5)
        #expect(disk.usedBytes == 5)
    }

    @Test func fullDiskAtomicAndPartial() throws {
        let disk = MemoryDisk(directories: ["/d"])
        disk.capacityBytes = 10
        let f = try disk.create("/d/f")
        try f.write([1, 2, 3, 4, 5, 6], at: 0)
        #expect(throws: DiskError(.noSpace, "/d/f: No space left on device")) { try f.write([7, 8, 9, 10, 11, 12], at: 6) }
        #expect(try disk.read("/d/f") == [1, 2, 3, 4, 5, 6])
        // Overwriting allocated bytes needs no space.
        try f.write([0, 0], at: 0)
        disk.fullDiskMode = .partial
        #expect(throws: DiskError.self) { try f.write([7, 8, 9, 10, 11, 12], at: 6) }
        #expect(try disk.read("/d/f") == [0, 0, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(disk.usedBytes == 10)
        // Freeing space (truncate down, remove) makes room again.
        try f.truncate(to: 4)
        try f.write([1, 1, 1, 1, 1, 1], at: 4)
        #expect(disk.usedBytes == 10)
    }

    @Test func injectedFaultsAreQueuedPerOperation() throws {
        let disk = MemoryDisk(directories: ["/d"])
        let f = try disk.create("/d/f")
        disk.failNext(.sync, .io)
        disk.failNext(.write, .noSpace)
        disk.failNext(.write, .io)
        disk.failNext(.truncate, .noSpace, pathContaining: "other")
        #expect(throws: DiskError.self) { try f.write([1], at: 0) }
        #expect(try disk.read("/d/f") == [])
        #expect { try f.write([1], at: 0) } throws: { ($0 as! DiskError).kind == .io }
        try f.write([1], at: 0)
        #expect { try f.sync() } throws: { ($0 as! DiskError).kind == .io }
        try f.sync()
        try f.truncate(to: 10)  // the truncate fault waits for a path containing "other"
        #expect(disk.pendingFaults == 1)
        #expect(disk.syncCount == 1)
    }
}
