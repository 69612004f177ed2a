/// Watch registrations and triggering, with Apache ZooKeeper 3.8's semantics (`WatchManager`,
/// `WatcherModeManager`, `DataTree.setWatches`/`addWatch`).
///
/// Two tables, as in Apache: data watches (getData, exists, persistent and persistent-recursive
/// watches) and child watches (getChildren, persistent watches). A watcher is a connection: when a
/// connection closes its watches go with it, and a client that reconnects replays them (setWatches).
///
/// Each (watcher, path) has one mode; registering a standard watch resets it to standard, as in
/// Apache. One trigger delivers at most one event per watcher.
import ZKCore
import ZKProtocol
import ZKDataTree

enum WatcherMode: Sendable, Equatable {
    case standard
    case persistent
    case persistentRecursive
}

struct WatchTable {
    private(set) var watchers: [String: [ConnectionID: WatcherMode]] = [:]
    private(set) var pathsByWatcher: [ConnectionID: Set<String>] = [:]
    private var recursiveCount = 0

    var watchCount: Int { pathsByWatcher.values.reduce(0) { $0 + $1.count } }
    var pathCount: Int { watchers.count }

    mutating func add(_ path: String, _ watcher: ConnectionID, _ mode: WatcherMode) {
        let old = watchers[path]?[watcher]
        if old == .persistentRecursive && mode != .persistentRecursive { recursiveCount -= 1 }
        if old != .persistentRecursive && mode == .persistentRecursive { recursiveCount += 1 }
        watchers[path, default: [:]][watcher] = mode
        pathsByWatcher[watcher, default: []].insert(path)
    }

    /// Removes one (path, watcher) registration whatever its mode.
    mutating func remove(_ path: String, _ watcher: ConnectionID) -> Bool {
        guard pathsByWatcher[watcher]?.remove(path) != nil else { return false }
        if pathsByWatcher[watcher]?.isEmpty == true { pathsByWatcher[watcher] = nil }
        guard let mode = watchers[path]?.removeValue(forKey: watcher) else { return false }
        if mode == .persistentRecursive { recursiveCount -= 1 }
        if watchers[path]?.isEmpty == true { watchers[path] = nil }
        return true
    }

    /// A connection is gone: all its watches go.
    mutating func removeWatcher(_ watcher: ConnectionID) {
        for path in pathsByWatcher[watcher] ?? [] { _ = remove(path, watcher) }
        pathsByWatcher[watcher] = nil
    }

    /// Apache's `containsWatcher`: true if the path has any watcher at all, or this watcher's mode
    /// on it is recursive. (It does not check that the watcher is this connection; we keep that
    /// behaviour so checkWatches answers as Apache does.)
    func contains(_ path: String, _ watcher: ConnectionID) -> Bool {
        if let set = watchers[path], !set.isEmpty { return true }
        return watchers[path]?[watcher] == .persistentRecursive
    }

    /// Fires the watches of `path` (and, for recursive watches, its ancestors). Returns the
    /// connections to notify, in ascending order, without those in `suppress`.
    mutating func trigger(_ path: String, _ type: EventType, suppress: Set<ConnectionID> = []) -> [ConnectionID] {
        var fired = Set<ConnectionID>()
        var current: String? = path
        var atParent = false
        while let p = current {
            if var set = watchers[p] {
                for (watcher, mode) in set {
                    switch mode {
                    case .persistentRecursive:
                        if type != .nodeChildrenChanged { fired.insert(watcher) }
                    case .persistent:
                        if !atParent { fired.insert(watcher) }
                    case .standard:
                        if !atParent {
                            fired.insert(watcher)
                            set[watcher] = nil
                            pathsByWatcher[watcher]?.remove(p)
                            if pathsByWatcher[watcher]?.isEmpty == true { pathsByWatcher[watcher] = nil }
                        }
                    }
                }
                watchers[p] = set.isEmpty ? nil : set
            }
            guard recursiveCount > 0 else { break }
            current = WatchTable.parent(p)
            atParent = true
        }
        return fired.subtracting(suppress).sorted()
    }

    private static func parent(_ path: String) -> String? {
        guard path != "/" else { return nil }
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return slash == path.utf8.startIndex ? "/" : String(path[..<slash])
    }
}

/// The two tables and the operations the request pipeline needs.
struct WatchManager {
    var dataWatches = WatchTable()
    var childWatches = WatchTable()

    /// Events to deliver: (connection, event), in delivery order.
    typealias Notification = (ConnectionID, WatcherEvent)

    mutating func addWatch(_ path: String, _ watcher: ConnectionID, mode: AddWatchMode) {
        switch mode {
        case .persistent:
            dataWatches.add(path, watcher, .persistent)
            childWatches.add(path, watcher, .persistent)
        case .persistentRecursive:
            dataWatches.add(path, watcher, .persistentRecursive)
            childWatches.add(path, watcher, .persistentRecursive)
        }
    }

    mutating func removeWatcher(_ watcher: ConnectionID) {
        dataWatches.removeWatcher(watcher)
        childWatches.removeWatcher(watcher)
    }

    /// Fires the watches a tree change triggers, in Apache's order.
    mutating func fire(_ change: TreeChange, into out: inout [Notification]) {
        switch change {
        case .created(let path):
            for w in dataWatches.trigger(path, .nodeCreated) { out.append((w, WatcherEvent(type: .nodeCreated, path: path))) }
        case .dataChanged(let path):
            for w in dataWatches.trigger(path, .nodeDataChanged) { out.append((w, WatcherEvent(type: .nodeDataChanged, path: path))) }
        case .childrenChanged(let path):
            for w in childWatches.trigger(path, .nodeChildrenChanged) {
                out.append((w, WatcherEvent(type: .nodeChildrenChanged, path: path)))
            }
        case .deleted(let path):
            let fired = dataWatches.trigger(path, .nodeDeleted)
            for w in fired { out.append((w, WatcherEvent(type: .nodeDeleted, path: path))) }
            for w in childWatches.trigger(path, .nodeDeleted, suppress: Set(fired)) {
                out.append((w, WatcherEvent(type: .nodeDeleted, path: path)))
            }
        }
    }

    /// checkWatches / removeWatches with a WatcherType.
    func contains(_ path: String, _ type: WatcherType, _ watcher: ConnectionID) -> Bool {
        switch type {
        case .children: return childWatches.contains(path, watcher)
        case .data: return dataWatches.contains(path, watcher)
        case .any: return childWatches.contains(path, watcher) || dataWatches.contains(path, watcher)
        }
    }

    mutating func remove(_ path: String, _ type: WatcherType, _ watcher: ConnectionID) -> Bool {
        switch type {
        case .children: return childWatches.remove(path, watcher)
        case .data: return dataWatches.remove(path, watcher)
        case .any:
            let a = childWatches.remove(path, watcher)
            let b = dataWatches.remove(path, watcher)
            return a || b
        }
    }
}
