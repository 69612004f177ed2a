import Testing
@testable import ZKCore
@testable import ZKProtocol
@testable import ZKDataTree
@testable import ZKReplica

@Suite struct StandardWatchTests {
    @Test func dataWatchFiresOnce() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/w", data: [0]).err == .ok)
        #expect(h.getData(watcher, "/w", watch: true).err == .ok)
        #expect(h.setData(writer, "/w", [1]).err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDataChanged, "/w")])
        #expect(h.setData(writer, "/w", [2]).err == .ok)
        #expect(h.notifications(watcher).isEmpty, "standard watches are one-shot")
        #expect(h.notifications(writer).isEmpty)
    }

    @Test func dataWatchFiresNodeDeleted() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/w").err == .ok)
        #expect(h.exists(watcher, "/w", watch: true).err == .ok)
        #expect(h.delete(writer, "/w").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDeleted, "/w")])
    }

    @Test func childWatchFiresOnCreateAndDelete() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/p").err == .ok)
        #expect(h.getChildren(watcher, "/p", watch: true).err == .ok)
        #expect(h.setData(writer, "/p", [1]).err == .ok)
        #expect(h.notifications(watcher).isEmpty, "data changes do not fire child watches")
        #expect(h.create(writer, "/p/a").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeChildrenChanged, "/p")])
        #expect(h.create(writer, "/p/b").err == .ok)
        #expect(h.notifications(watcher).isEmpty)
        #expect(h.request(watcher, .getChildren2, PathWatchRequest(path: "/p", watch: true)).err == .ok)
        #expect(h.delete(writer, "/p/a").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeChildrenChanged, "/p")])
    }

    @Test func existsWatchOnAMissingNodeFiresNodeCreated() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.exists(watcher, "/later", watch: true).err == .noNode)
        #expect(h.create(writer, "/later").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeCreated, "/later")])
    }

    @Test func getDataOnAMissingNodeRegistersNothing() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.getData(watcher, "/later", watch: true).err == .noNode)
        #expect(h.create(writer, "/later").err == .ok)
        #expect(h.notifications(watcher).isEmpty)
    }

    @Test func notificationComesBeforeTheReplyOfTheWriteThatCausedIt() throws {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.create(c, "/w").err == .ok)
        #expect(h.getData(c, "/w", watch: true).err == .ok)
        let xid = h.send(c, .setData, SetDataRequest(path: "/w", data: [1], version: -1))
        h.sync()
        let messages = h.take(c)
        #expect(messages.count == 2)
        #expect(messages.first?.notification == .event(.nodeDataChanged, "/w"))
        #expect(messages.last?.reply?.xid == xid)
        // Also in the effect stream: the notification's send precedes the reply's.
        let xids: [Int32] = h.effects.compactMap { effect in
            guard case .send(c, let frame) = effect, frame.count >= 8 else { return nil }
            return Int32(bitPattern: UInt32(frame[4]) << 24 | UInt32(frame[5]) << 16 | UInt32(frame[6]) << 8 | UInt32(frame[7]))
        }
        #expect(xids.suffix(2) == [SpecialXid.notification, xid])
    }

    @Test func deleteWithDataAndChildWatchesDeliversOneNodeDeleted() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/p").err == .ok)
        #expect(h.create(writer, "/p/c").err == .ok)
        #expect(h.getData(watcher, "/p/c", watch: true).err == .ok)
        #expect(h.getChildren(watcher, "/p/c", watch: true).err == .ok)
        #expect(h.getChildren(watcher, "/p", watch: true).err == .ok)
        #expect(h.delete(writer, "/p/c").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDeleted, "/p/c"), .event(.nodeChildrenChanged, "/p")])
    }

    @Test func watchesOfAClosedConnectionAreDropped() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/w").err == .ok)
        #expect(h.getData(watcher, "/w", watch: true).err == .ok)
        h.disconnect(watcher)
        #expect(h.setData(writer, "/w", [1]).err == .ok)
        #expect(h.peek(watcher).isEmpty)
        #expect(h.replica.watches.dataWatches.watchCount == 0)
    }

    @Test func everyWatcherOfAPathIsNotified() {
        let h = Harness()
        let watchers = (0..<3).map { _ in h.connect().0 }
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/w").err == .ok)
        for w in watchers { #expect(h.getData(w, "/w", watch: true).err == .ok) }
        #expect(h.setData(writer, "/w", [1]).err == .ok)
        for w in watchers { #expect(h.notifications(w) == [.event(.nodeDataChanged, "/w")]) }
    }
}

@Suite struct PersistentWatchTests {
    private func addWatch(_ h: Harness, _ c: ConnectionID, _ path: String, _ mode: AddWatchMode) -> Reply {
        h.request(c, .addWatch, PathTypeRequest(path: path, type: mode.rawValue))
    }

    @Test func persistentWatchFiresRepeatedly() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/p").err == .ok)
        let reply = addWatch(h, watcher, "/p", .persistent)
        #expect(reply.err == .ok)
        #expect(reply.int == 0)
        #expect(h.setData(writer, "/p", [1]).err == .ok)
        #expect(h.setData(writer, "/p", [2]).err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDataChanged, "/p"), .event(.nodeDataChanged, "/p")])
        #expect(h.create(writer, "/p/a").err == .ok)
        #expect(h.setData(writer, "/p/a", [1]).err == .ok)
        #expect(h.delete(writer, "/p/a").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeChildrenChanged, "/p"), .event(.nodeChildrenChanged, "/p")])
        #expect(h.delete(writer, "/p").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDeleted, "/p")])
        #expect(h.create(writer, "/p").err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeCreated, "/p")], "still registered after the delete")
    }

    @Test func persistentRecursiveWatchCoversTheSubtreeButIgnoresChildEvents() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/r").err == .ok)
        #expect(addWatch(h, watcher, "/r", .persistentRecursive).err == .ok)
        #expect(h.create(writer, "/r/a").err == .ok)
        #expect(h.create(writer, "/r/a/b").err == .ok)
        #expect(h.setData(writer, "/r/a/b", [1]).err == .ok)
        #expect(h.setData(writer, "/r/a/b", [2]).err == .ok)
        #expect(h.delete(writer, "/r/a/b").err == .ok)
        #expect(h.setData(writer, "/r", [1]).err == .ok)
        #expect(h.create(writer, "/rx").err == .ok)
        #expect(h.notifications(watcher) == [
            .event(.nodeCreated, "/r/a"), .event(.nodeCreated, "/r/a/b"),
            .event(.nodeDataChanged, "/r/a/b"), .event(.nodeDataChanged, "/r/a/b"),
            .event(.nodeDeleted, "/r/a/b"), .event(.nodeDataChanged, "/r"),
        ])
    }

    @Test func recursiveAndStandardWatchOnTheSamePathDeliverOnce() {
        let h = Harness()
        let (watcher, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/r").err == .ok)
        #expect(h.create(writer, "/r/a").err == .ok)
        #expect(addWatch(h, watcher, "/r", .persistentRecursive).err == .ok)
        #expect(h.getData(watcher, "/r/a", watch: true).err == .ok)
        #expect(h.setData(writer, "/r/a", [1]).err == .ok)
        #expect(h.notifications(watcher) == [.event(.nodeDataChanged, "/r/a")])
    }

    @Test func invalidAddWatchModeIsAMarshallingError() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.request(c, .addWatch, PathTypeRequest(path: "/", type: 7)).err == .marshallingError)
    }

    /// Apache's `DataTree.addWatch` registers every addWatch mode, recursive included, in both the
    /// data and the child watch tables, so checkWatches/removeWatches with WatcherType.Children find it.
    @Test
    func recursiveWatchIsAlsoAChildWatch() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(addWatch(h, c, "/", .persistentRecursive).err == .ok)
        #expect(h.request(c, .checkWatches, PathTypeRequest(path: "/", type: WatcherType.children.rawValue)).err == .ok)
        #expect(h.request(c, .removeWatches, PathTypeRequest(path: "/", type: WatcherType.children.rawValue)).err == .ok)
    }
}

@Suite struct WatchManagementTests {
    private func check(_ h: Harness, _ c: ConnectionID, _ path: String, _ type: WatcherType) -> ErrorCode? {
        h.request(c, .checkWatches, PathTypeRequest(path: path, type: type.rawValue)).err
    }

    private func remove(_ h: Harness, _ c: ConnectionID, _ path: String, _ type: WatcherType) -> ErrorCode? {
        h.request(c, .removeWatches, PathTypeRequest(path: path, type: type.rawValue)).err
    }

    @Test func checkAndRemoveWatches() {
        let h = Harness()
        let (c, _) = h.connect()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/w").err == .ok)
        #expect(check(h, c, "/w", .data) == .noWatcher)
        #expect(check(h, c, "/w", .any) == .noWatcher)
        #expect(remove(h, c, "/w", .any) == .noWatcher)
        #expect(h.getData(c, "/w", watch: true).err == .ok)
        #expect(check(h, c, "/w", .data) == .ok)
        #expect(check(h, c, "/w", .any) == .ok)
        #expect(check(h, c, "/w", .children) == .noWatcher)
        #expect(remove(h, c, "/w", .children) == .noWatcher)
        #expect(remove(h, c, "/w", .data) == .ok)
        #expect(remove(h, c, "/w", .data) == .noWatcher)
        #expect(h.setData(writer, "/w", [1]).err == .ok)
        #expect(h.notifications(c).isEmpty)
        #expect(h.getChildren(c, "/w", watch: true).err == .ok)
        #expect(remove(h, c, "/w", .any) == .ok)
        #expect(h.create(writer, "/w/x").err == .ok)
        #expect(h.notifications(c).isEmpty)
    }

    @Test func invalidWatcherTypeIsAMarshallingError() {
        let h = Harness()
        let (c, _) = h.connect()
        #expect(h.request(c, .checkWatches, PathTypeRequest(path: "/", type: 9)).err == .marshallingError)
    }
}

@Suite struct SetWatchesTests {
    @Test func setWatchesFiresWhatChangedAndRegistersTheRest() throws {
        let h = Harness()
        let (writer, _) = h.connect()
        for path in ["/changed", "/same", "/gone", "/parent", "/quiet"] { #expect(h.create(writer, path).err == .ok) }
        let relativeZxid = h.replica.lastProcessedZxid.rawValue
        #expect(h.setData(writer, "/changed", [1]).err == .ok)
        #expect(h.delete(writer, "/gone").err == .ok)
        #expect(h.create(writer, "/new").err == .ok)
        #expect(h.create(writer, "/parent/kid").err == .ok)

        let (c, _) = h.connect()
        let request = SetWatches(relativeZxid: relativeZxid,
                                 dataWatches: ["/changed", "/gone", "/same"],
                                 existWatches: ["/new", "/absent"],
                                 childWatches: ["/parent", "/quiet", "/gone"])
        let reply = h.request(c, .setWatches, body: request.serialized(), xid: SpecialXid.setWatches)
        #expect(reply.xid == SpecialXid.setWatches)
        #expect(reply.err == .ok)
        #expect(reply.body.isEmpty)
        #expect(h.notifications(c) == [
            .event(.nodeDataChanged, "/changed"), .event(.nodeDeleted, "/gone"),
            .event(.nodeCreated, "/new"),
            .event(.nodeChildrenChanged, "/parent"), .event(.nodeDeleted, "/gone"),
        ])
        // The unchanged ones are registered.
        #expect(h.setData(writer, "/same", [1]).err == .ok)
        #expect(h.create(writer, "/absent").err == .ok)
        #expect(h.create(writer, "/quiet/kid").err == .ok)
        #expect(h.notifications(c) == [
            .event(.nodeDataChanged, "/same"), .event(.nodeCreated, "/absent"), .event(.nodeChildrenChanged, "/quiet"),
        ])
    }

    @Test func setWatchesNotificationsPrecedeItsReply() {
        let h = Harness()
        let (c, _) = h.connect()
        h.send(c, .setWatches, SetWatches(relativeZxid: 0, dataWatches: ["/none"], existWatches: [], childWatches: []),
               xid: SpecialXid.setWatches)
        let messages = h.take(c)
        #expect(messages.count == 2)
        #expect(messages.first?.notification == .event(.nodeDeleted, "/none"))
        #expect(messages.last?.reply?.xid == SpecialXid.setWatches)
    }

    @Test func setWatches2RegistersPersistentWatches() {
        let h = Harness()
        let (writer, _) = h.connect()
        #expect(h.create(writer, "/p").err == .ok)
        let (c, _) = h.connect()
        let request = SetWatches(relativeZxid: h.replica.lastProcessedZxid.rawValue, dataWatches: [], existWatches: [],
                                 childWatches: [], persistentWatches: ["/p"], persistentRecursiveWatches: ["/r"])
        #expect(h.request(c, .setWatches2, body: request.serialized(), xid: SpecialXid.setWatches).err == .ok)
        #expect(h.setData(writer, "/p", [1]).err == .ok)
        #expect(h.setData(writer, "/p", [2]).err == .ok)
        #expect(h.create(writer, "/r").err == .ok)
        #expect(h.create(writer, "/r/x").err == .ok)
        #expect(h.notifications(c) == [
            .event(.nodeDataChanged, "/p"), .event(.nodeDataChanged, "/p"),
            .event(.nodeCreated, "/r"), .event(.nodeCreated, "/r/x"),
        ])
    }
}
