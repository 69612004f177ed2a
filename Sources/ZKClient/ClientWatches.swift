/// The client's watch registry (Java's `ZKWatchManager`): which watchers wait on which paths, how
/// an event is turned into the set of watchers to call (`materialize`), and what to replay with
/// setWatches after a reconnect. Paths here are client paths (without the chroot).
import ZKCore
import ZKProtocol

/// Identifies a registered watcher; 0 is the client's default watcher.
typealias WatcherID = UInt64

struct ClientWatches {
    enum Kind: CaseIterable { case data, exist, child, persistent, persistentRecursive }

    private(set) var tables: [Kind: [String: [WatcherID]]] = [:]
    private(set) var watchers: [WatcherID: Watcher] = [:]
    /// How many (kind, path) registrations each custom watcher has; at 0 it is released.
    private var registrations: [WatcherID: Int] = [:]
    private var nextID: WatcherID = 1

    /// The id of a watch request's watcher (registering it if it is a custom one).
    mutating func id(for watch: Watch) -> WatcherID? {
        switch watch {
        case .none: return nil
        case .default: return 0
        case .custom(let watcher):
            defer { nextID += 1 }
            watchers[nextID] = watcher
            return nextID
        }
    }

    mutating func add(_ kind: Kind, _ path: String, _ id: WatcherID) {
        var list = tables[kind, default: [:]][path, default: []]
        guard !list.contains(id) else { return }
        list.append(id)
        tables[kind, default: [:]][path] = list
        if id != 0 { registrations[id, default: 0] += 1 }
    }

    /// Drops a custom watcher that was never registered (its request failed).
    mutating func forget(_ id: WatcherID) {
        guard id != 0, registrations[id, default: 0] == 0 else { return }
        watchers[id] = nil
    }

    /// One registration of each id is gone; watchers with none left are released once called.
    private mutating func unregister(_ ids: [WatcherID]) {
        for id in ids where id != 0 {
            let left = registrations[id, default: 1] - 1
            registrations[id] = left > 0 ? left : nil
        }
    }

    /// Releases the closures of fired one-shot watchers that have no registration left.
    mutating func releaseUnregistered(_ ids: [WatcherID]) {
        for id in ids where id != 0 && registrations[id] == nil { watchers[id] = nil }
    }

    func paths(_ kind: Kind) -> [String] { (tables[kind] ?? [:]).keys.sorted() }

    var isEmpty: Bool { tables.values.allSatisfy { $0.isEmpty } }
    var hasPersistent: Bool { !(tables[.persistent] ?? [:]).isEmpty || !(tables[.persistentRecursive] ?? [:]).isEmpty }

    private mutating func take(_ kind: Kind, _ path: String) -> [WatcherID] {
        let ids = tables[kind]?.removeValue(forKey: path) ?? []
        unregister(ids)
        return ids
    }

    private func get(_ kind: Kind, _ path: String) -> [WatcherID] { tables[kind]?[path] ?? [] }

    /// The watchers an event goes to, each once, in registration order (Java's `materialize`).
    mutating func materialize(_ event: WatchedEvent) -> [WatcherID] {
        var result: [WatcherID] = []
        func add(_ ids: [WatcherID]) { for id in ids where !result.contains(id) { result.append(id) } }
        guard let path = event.path, event.type != .none else {
            add([0])
            for kind in Kind.allCases { for p in paths(kind) { add(get(kind, p)) } }
            return result
        }
        switch event.type {
        case .nodeDataChanged, .nodeCreated:
            add(take(.data, path))
            add(take(.exist, path))
        case .nodeChildrenChanged:
            add(take(.child, path))
        case .nodeDeleted:
            add(take(.data, path))
            add(take(.exist, path))
            add(take(.child, path))
        case .none, .dataWatchRemoved, .childWatchRemoved, .persistentWatchRemoved:
            break
        }
        add(get(.persistent, path))
        var ancestor: String? = path
        while let p = ancestor {
            add(get(.persistentRecursive, p))
            ancestor = ClientWatches.parent(p)
        }
        return result
    }

    /// Removes every local watch of `type` on `path` (Java's `removeAllWatches`); returns the
    /// removed watchers with the event type each is told.
    mutating func removeAll(_ path: String, _ type: WatcherType) -> [(WatcherID, EventType)] {
        var removed: [(WatcherID, EventType)] = []
        func drop(_ kind: Kind, _ event: EventType) {
            for id in take(kind, path) where !removed.contains(where: { $0.0 == id && $0.1 == event }) { removed.append((id, event)) }
        }
        switch type {
        case .children: drop(.child, .childWatchRemoved)
        case .data:
            drop(.data, .dataWatchRemoved)
            drop(.exist, .dataWatchRemoved)
        case .any:
            drop(.child, .childWatchRemoved)
            drop(.data, .dataWatchRemoved)
            drop(.exist, .dataWatchRemoved)
            drop(.persistent, .persistentWatchRemoved)
            drop(.persistentRecursive, .persistentWatchRemoved)
        }
        return removed
    }

    func watcher(_ id: WatcherID) -> Watcher? { watchers[id] }

    static func parent(_ path: String) -> String? {
        guard path != "/", let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return slash == path.utf8.startIndex ? "/" : String(path[..<slash])
    }
}
