/// The writer's map from (type, key) to id for the nodes added since the base
/// index was built. Ingest looks up two nodes per edge here, so each entry
/// carries its key: a lookup reads one slot (mostly one cache line) instead of
/// also reaching into the node table's columns to confirm a hit.
struct RecentNodeKeys: Sendable {
    private struct Entry {
        /// The upper half of `NodeKeyIndex.hash`, which also picks the first slot.
        var fingerprint: UInt32
        var id: UInt32
        var type: NodeTypeID
        var key: String
    }

    private var entries: [Entry]
    private var mask: Int
    private var used = 0  // live entries + tombstones

    private static let empty = UInt32.max
    private static let deleted = UInt32.max - 1

    init(capacity: Int = 0) {
        let size = max(16, (capacity * 2).nextPowerOfTwo)
        entries = [Entry](repeating: Entry(fingerprint: 0, id: Self.empty, type: 0, key: ""), count: size)
        mask = size - 1
    }

    func find(_ key: NodeKey, hash: UInt64) -> UInt32? {
        let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
        var slot = Int(fingerprint) & mask
        return entries.withUnsafeBufferPointer { entries in
            while true {
                let entry = entries[slot]
                if entry.id == Self.empty { return nil }
                if entry.fingerprint == fingerprint, entry.id != Self.deleted, entry.type == key.type, entry.key == key.key {
                    return entry.id
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Adds a node; the caller knows its key is not present.
    mutating func insert(_ key: NodeKey, id: UInt32, hash: UInt64) {
        if (used + 1) * 4 > entries.count * 3 { grow() }
        place(Entry(fingerprint: UInt32(truncatingIfNeeded: hash >> 32), id: id, type: key.type, key: key.key))
        used += 1
    }

    /// Forgets a removed node (its key may come back with a new id).
    mutating func remove(_ key: NodeKey, hash: UInt64) {
        let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
        var slot = Int(fingerprint) & mask
        while entries[slot].id != Self.empty {
            let entry = entries[slot]
            if entry.fingerprint == fingerprint, entry.id != Self.deleted, entry.type == key.type, entry.key == key.key {
                entries[slot] = Entry(fingerprint: fingerprint, id: Self.deleted, type: 0, key: "")
                return
            }
            slot = (slot + 1) & mask
        }
    }

    private mutating func place(_ entry: Entry) {
        var slot = Int(entry.fingerprint) & mask
        while entries[slot].id != Self.empty { slot = (slot + 1) & mask }
        entries[slot] = entry
    }

    private mutating func grow() {
        let old = entries
        let live = old.reduce(0) { $0 + ($1.id < Self.deleted ? 1 : 0) }
        self = RecentNodeKeys(capacity: max(live * 2, 16))
        for entry in old where entry.id < Self.deleted { place(entry) }
        used = live
    }
}
