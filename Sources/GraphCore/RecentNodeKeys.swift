/// The writer's map from (type, key) to id for the nodes added since the base
/// index was built. Ingest looks up two nodes per edge here, so each entry
/// carries its key: a lookup reads one slot (mostly one cache line) instead of
/// also reaching into the node table's columns to confirm a hit.
struct RecentNodeKeys: Sendable {
    private struct Entry: ProbingSlot {
        /// `NodeKeyIndex.hash` of the key.
        var hash: UInt64
        var id: UInt32
        var type: NodeTypeID
        var key: String

        static let vacant = Entry(hash: 0, id: .max, type: 0, key: "")
        static let tombstone = Entry(hash: 0, id: .max - 1, type: 0, key: "")
        var isVacant: Bool { id == .max }
        var isTombstone: Bool { id == .max - 1 }
        var probeHash: UInt64 { hash }
    }

    private var table: ProbingTable<Entry>

    init(capacity: Int = 0) {
        table = ProbingTable(capacity: capacity)
    }

    /// `hash` is `NodeKeyIndex.hash` of `key`.
    func find(_ key: NodeKey, hash: UInt64) -> UInt32? {
        table.find(hash: hash) { $0.hash == hash && $0.type == key.type && $0.key == key.key }?.id
    }

    /// Starts loading where a `find` with `hash` looks first (see `ProbingTable.prefetch`).
    @inline(__always)
    func prefetch(hash: UInt64) { table.prefetch(hash: hash) }

    /// Adds a node (replacing any entry for the same key).
    mutating func insert(_ key: NodeKey, id: UInt32) {
        let hash = NodeKeyIndex.hash(type: key.type, key: key.key)
        table.upsert(Entry(hash: hash, id: id, type: key.type, key: key.key)) {
            $0.hash == hash && $0.type == key.type && $0.key == key.key
        }
    }

    /// Forgets a removed node (its key may come back with a new id).
    mutating func remove(_ key: NodeKey) {
        let hash = NodeKeyIndex.hash(type: key.type, key: key.key)
        table.remove(hash: hash) { $0.hash == hash && $0.type == key.type && $0.key == key.key }
    }
}
