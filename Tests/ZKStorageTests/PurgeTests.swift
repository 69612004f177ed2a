import Testing
@testable import ZKCore
@testable import ZKStorage
import ZKSimulation

@Suite struct PurgeTests {
    // Snapshots at 0x10, 0x20, 0x30, 0x40; logs starting at 0x1, 0x8, 0xf, 0x19, 0x28, 0x41.
    private let snapshots = ["snapshot.10", "snapshot.20", "snapshot.30", "snapshot.40"]
    private let logs = ["log.1", "log.8", "log.f", "log.19", "log.28", "log.41"]

    @Test func keepsTheNewestSnapshotsAndTheLogsTheyNeed() {
        // Keep 2: the oldest kept is snapshot.30; log.28 (the newest starting at or before 0x30) and later stay.
        let plan = Purge.plan(snapshotNames: snapshots, logNames: logs, retainCount: 2)
        #expect(plan.snapshotsToDelete == ["snapshot.10", "snapshot.20"])
        #expect(plan.logsToDelete == ["log.1", "log.8", "log.f", "log.19"])
        // Keep 3: the oldest kept is snapshot.20; log.19 is needed for txns 0x19...0x27.
        let three = Purge.plan(snapshotNames: snapshots, logNames: logs, retainCount: 3)
        #expect(three.snapshotsToDelete == ["snapshot.10"])
        #expect(three.logsToDelete == ["log.1", "log.8", "log.f"])
        // Keep 1.
        let one = Purge.plan(snapshotNames: snapshots, logNames: logs, retainCount: 1)
        #expect(one.snapshotsToDelete == ["snapshot.10", "snapshot.20", "snapshot.30"])
        #expect(one.logsToDelete == ["log.1", "log.8", "log.f", "log.19"])
    }

    @Test func aLogStartingExactlyAtTheSnapshotIsTheFirstNeeded() {
        let plan = Purge.plan(snapshotNames: ["snapshot.10", "snapshot.20", "snapshot.30"],
                              logNames: ["log.1", "log.11", "log.20", "log.31"], retainCount: 2)
        #expect(plan.snapshotsToDelete == ["snapshot.10"])
        #expect(plan.logsToDelete == ["log.1", "log.11"])
    }

    @Test func logsAllAfterTheOldestKeptSnapshotStay() {
        let plan = Purge.plan(snapshotNames: ["snapshot.10", "snapshot.20", "snapshot.30"],
                              logNames: ["log.25", "log.31"], retainCount: 2)
        #expect(plan.snapshotsToDelete == ["snapshot.10"])
        #expect(plan.logsToDelete.isEmpty)
        // And one old log that covers everything is needed.
        let single = Purge.plan(snapshotNames: ["snapshot.10", "snapshot.20", "snapshot.30"], logNames: ["log.1"], retainCount: 1)
        #expect(single.snapshotsToDelete == ["snapshot.10", "snapshot.20"])
        #expect(single.logsToDelete.isEmpty)
    }

    @Test func nothingGoesWhileThereAreNoMoreSnapshotsThanKept() {
        for retain in [4, 5, 100] {
            let plan = Purge.plan(snapshotNames: snapshots, logNames: logs, retainCount: retain)
            #expect(plan.snapshotsToDelete.isEmpty, "retain \(retain)")
            #expect(plan.logsToDelete.isEmpty, "retain \(retain)")
        }
        #expect(Purge.plan(snapshotNames: [], logNames: logs, retainCount: 3) == Purge.Plan(snapshotsToDelete: [], logsToDelete: []))
    }

    @Test func aRetainCountBelowOneKeepsOne() {
        for retain in [0, -3] {
            let plan = Purge.plan(snapshotNames: snapshots, logNames: logs, retainCount: retain)
            #expect(plan.snapshotsToDelete == ["snapshot.10", "snapshot.20", "snapshot.30"])
        }
    }

    @Test func ordersByZxidNotByName() {
        // "snapshot.9" sorts after "snapshot.10" as text; by zxid it is older. Names are in any order.
        let plan = Purge.plan(snapshotNames: ["snapshot.a0", "snapshot.9", "snapshot.100000001", "snapshot.10"],
                              logNames: ["log.100000001", "log.a", "log.1", "log.9f"], retainCount: 2)
        #expect(plan.snapshotsToDelete == ["snapshot.9", "snapshot.10"])
        #expect(plan.logsToDelete == ["log.1", "log.a"])
    }

    @Test func unrelatedNamesAreIgnored() {
        let junk = ["snapshot.5.tmp", "log.3.tmp", "currentEpoch", "acceptedEpoch", "myid", "snapshot.", "log.xyz",
                    "snapshot.1.gz", "log.1.snappy", ".snapshot.1", "initialize"]
        let plan = Purge.plan(snapshotNames: snapshots + junk, logNames: logs + junk, retainCount: 2)
        #expect(plan.snapshotsToDelete == ["snapshot.10", "snapshot.20"])
        #expect(plan.logsToDelete == ["log.1", "log.8", "log.f", "log.19"])
    }

    @Test func runDeletesThePlannedFiles() throws {
        let disk = MemoryDisk(directories: [snapDir, logDir])
        for name in snapshots + ["currentEpoch", "snapshot.50.tmp"] { disk.put(snapDir + "/" + name, [1]) }
        for name in logs { disk.put(logDir + "/" + name, [2]) }
        let deleted = try Purge.run(disk: disk, layout: layout, retainCount: 3)
        #expect(deleted == [snapDir + "/snapshot.10", logDir + "/log.1", logDir + "/log.8", logDir + "/log.f"])
        #expect(try disk.list(snapDir) == ["currentEpoch", "snapshot.20", "snapshot.30", "snapshot.40", "snapshot.50.tmp"])
        #expect(try disk.list(logDir) == ["log.19", "log.28", "log.41"])
        // Run again: nothing more to do.
        #expect(try Purge.run(disk: disk, layout: layout, retainCount: 3).isEmpty)
        // A failing remove is reported.
        disk.put(snapDir + "/snapshot.50", [1])
        disk.failNext(.remove, .io)
        #expect(throws: DiskError.self) { try Purge.run(disk: disk, layout: layout, retainCount: 3) }
    }

    @Test func whatPurgeKeepsStillRecovers() throws {
        // A real data directory: after purging, recovery from what is left gives the same tree.
        let s = TxnScript()
        s.createSession(sessionA)
        for i in 0..<60 { s.create("/k\(i)", bytes("\(i)")) }
        let disk = MemoryDisk(directories: [snapDir, logDir])
        for (start, end) in [(1, 15), (16, 33), (34, 47), (48, 61)] {
            disk.put(logDir + "/" + TxnLogFormat.fileName(firstZxid: Zxid(Int64(start))),
                     logFileBytes(Array(s.entries[(start - 1)..<end])))
        }
        for zxid in [0, 10, 20, 40, 50] {
            disk.put(snapDir + "/" + SnapshotFormat.fileName(zxid: Zxid(Int64(zxid))), snapshotBytes(s.replay(through: Zxid(Int64(zxid)))).1)
        }
        _ = try Purge.run(disk: disk, layout: layout, retainCount: 3)
        #expect(try disk.list(snapDir) == ["snapshot.14", "snapshot.28", "snapshot.32"])
        #expect(try disk.list(logDir) == ["log.10", "log.22", "log.30"])
        // The oldest kept snapshot still recovers (the newer ones are damaged on purpose).
        disk.modify(snapDir + "/snapshot.32") { $0[30] ^= 1 }
        disk.modify(snapDir + "/snapshot.28") { $0[30] ^= 1 }
        let db = try Recovery.recover(disk: disk, layout: layout, extendedTypesEnabled: false)
        #expect(db.snapshotZxid == Zxid(20))
        expectSameTree(db.tree, s.tree, ordered: true)
    }
}
