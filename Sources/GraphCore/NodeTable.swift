import HashTreeCollections

/// Nodes by id, with a key index in two parts: a compact immutable hash index
/// of the nodes that existed at the last compaction (`baseIndex`), and a few
/// smaller immutable indexes of the nodes added since (`recentLevels`), one
/// per write batch and merged like an LSM tree so that there are only
/// logarithmically many. Copying the table for a snapshot is O(1), and a write
/// copies only what it touches.
public struct NodeTable: Sendable {
    /// Type of each node id; `removed` marks a deleted node (its id is not reused
    /// until restart compacts nothing: ids stay stable for the store).
    var types = ChunkedColumn<NodeTypeID>()
    var keys = ChunkedColumn<String>()
    /// Nodes with ids below `baseIndex.coverage`.
    var baseIndex = NodeKeyIndex.empty
    /// Nodes with ids from `baseIndex.coverage` up to `indexedCount`, newest
    /// level last; nodes above `indexedCount` wait for `indexNewNodes`.
    var recentLevels: [NodeKeyIndex] = []
    /// One past the largest id any index covers.
    private(set) var indexedCount = 0
    var texts = TreeDictionary<UInt32, String>()
    var features = TreeDictionary<UInt32, [Float]>()
    public private(set) var countByType: [NodeTypeID: Int] = [:]
    private(set) var liveCount = 0

    static let removed = NodeTypeID.max

    public init() {}

    /// One past the largest node id ever assigned.
    public var idCount: Int { types.count }

    public func id(of key: NodeKey) -> UInt32? {
        let hash = NodeKeyIndex.hash(type: key.type, key: key.key)
        for level in recentLevels.reversed() {
            if let id = level.find(key, hash: hash, in: self) { return id }
        }
        return baseIndex.find(key, hash: hash, in: self)
    }

    public func isLive(_ id: UInt32) -> Bool { Int(id) < types.count && types[Int(id)] != Self.removed }

    public func type(of id: UInt32) -> NodeTypeID { types[Int(id)] }

    public func key(of id: UInt32) -> String { keys[Int(id)] }

    public func text(of id: UInt32) -> String? { texts[id] }

    public func record(_ id: UInt32) -> NodeRecord? {
        guard isLive(id) else { return nil }
        return NodeRecord(id: id, type: types[Int(id)], key: keys[Int(id)], text: texts[id], features: features[id])
    }

    /// Grows the id space to `count` with removed placeholders, so that new
    /// nodes get ids above every id the store has used.
    mutating func reserveIDs(upTo count: Int) {
        while types.count < count {
            types.append(Self.removed)
            keys.append("")
        }
    }

    /// Places a node at `record.id`, growing the id space with removed
    /// placeholders. `id(of:)` finds it once `indexNewNodes` has run.
    mutating func insert(_ record: NodeRecord) {
        reserveIDs(upTo: Int(record.id))
        if Int(record.id) == types.count {
            types.append(record.type)
            keys.append(record.key)
        } else {
            precondition(types[Int(record.id)] == Self.removed, "node id \(record.id) is already in use")
            types[Int(record.id)] = record.type
            keys[Int(record.id)] = record.key
        }
        if let text = record.text { texts[record.id] = text }
        if let vector = record.features { features[record.id] = vector }
        countByType[record.type, default: 0] += 1
        liveCount += 1
    }

    mutating func update(_ id: UInt32, text: String?, features vector: [Float]?) {
        if let text { texts[id] = text }
        if let vector { features[id] = vector }
    }

    mutating func remove(_ id: UInt32) {
        guard isLive(id) else { return }
        let type = types[Int(id)]
        // The key indexes need nothing: a hit is confirmed against the (now removed) type.
        texts[id] = nil
        features[id] = nil
        types[Int(id)] = Self.removed
        keys[Int(id)] = ""
        countByType[type, default: 1] -= 1
        liveCount -= 1
    }

    /// Indexes the nodes inserted since the last call as one new recent level,
    /// then merges levels while the newest is at least half the size of the
    /// one before it: each node is re-indexed O(log n) times, and a lookup
    /// probes O(log n) levels.
    mutating func indexNewNodes() {
        let start = max(indexedCount, baseIndex.coverage)
        guard start < idCount else { return }
        var level = NodeKeyIndex(nodes: self, ids: start..<idCount)
        while let previous = recentLevels.last, previous.ids.count <= 2 * level.ids.count {
            recentLevels.removeLast()
            level = NodeKeyIndex(merging: previous, level)
        }
        recentLevels.append(level)
        indexedCount = idCount
    }

    /// Moves every node into a new base index (start-up).
    mutating func reindex() {
        install(NodeKeyIndex(nodes: self, ids: 0..<idCount))
    }

    /// Installs a base index built from an earlier copy of this table; levels
    /// that reach past it stay.
    mutating func install(_ index: NodeKeyIndex) {
        baseIndex = index
        recentLevels.removeAll { $0.ids.upperBound <= index.coverage }
        indexedCount = max(indexedCount, index.coverage)
    }

    var approximateByteCount: Int {
        types.approximateByteCount + keys.approximateByteCount + baseIndex.byteCount
            + recentLevels.reduce(0) { $0 + $1.byteCount }
            + texts.reduce(0) { $0 + $1.value.utf8.count + 64 }
            + features.reduce(0) { $0 + $1.value.count * 4 + 64 }
    }
}

/// An immutable index from node key to node id for the nodes with ids in
/// `ids` (the base index: 0 up to its coverage). A slot holds the upper half of
/// the key's hash and the id (8 bytes); a hit is confirmed against the node
/// table's key column, and a removed node fails that check.
final class NodeKeyIndex: Sendable {
    private struct Slot: ProbingSlot {
        var fingerprint: UInt32
        var id: UInt32

        static let vacant = Slot(fingerprint: 0, id: .max)
        static let tombstone = Slot(fingerprint: 0, id: .max - 1)  // never stored: nothing is removed
        var isVacant: Bool { id == .max }
        var isTombstone: Bool { id == .max - 1 }
        var probeHash: UInt64 { UInt64(fingerprint) }
    }

    let ids: Range<Int>
    private let table: ProbingTable<Slot>

    /// One past the largest id covered.
    var coverage: Int { ids.upperBound }

    static let empty = NodeKeyIndex()

    private init() {
        ids = 0..<0
        table = ProbingTable()
    }

    init(nodes: NodeTable, ids: Range<Int>) {
        self.ids = ids
        var table = ProbingTable<Slot>(capacity: ids.count, dense: true)
        for id in ids where nodes.isLive(UInt32(id)) {
            let hash = Self.hash(type: nodes.types[id], key: nodes.keys[id])
            // Keys are unique, so nothing already stored matches.
            table.upsert(Slot(fingerprint: UInt32(truncatingIfNeeded: hash >> 32), id: UInt32(id))) { _ in false }
        }
        self.table = table
    }

    /// The union of two consecutive levels, built from their slots: no key is
    /// read or hashed again (a slot's fingerprint is its probe hash).
    init(merging older: NodeKeyIndex, _ newer: NodeKeyIndex) {
        precondition(older.ids.upperBound == newer.ids.lowerBound, "merged levels must be consecutive")
        ids = older.ids.lowerBound..<newer.ids.upperBound
        var table = ProbingTable<Slot>(capacity: older.table.count + newer.table.count, dense: true)
        for level in [older, newer] {
            // Keys are unique, so nothing already stored matches.
            level.table.forEachEntry { slot in table.upsert(slot) { _ in false } }
        }
        self.table = table
    }

    func find(_ key: NodeKey, in nodes: NodeTable) -> UInt32? {
        find(key, hash: Self.hash(type: key.type, key: key.key), in: nodes)
    }

    /// `hash` is `NodeKeyIndex.hash` of `key`, computed once for several indexes.
    @inline(__always)
    func find(_ key: NodeKey, hash: UInt64, in nodes: NodeTable) -> UInt32? {
        guard !ids.isEmpty else { return nil }
        let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
        return table.find(hash: UInt64(fingerprint)) {
            $0.fingerprint == fingerprint && nodes.types[Int($0.id)] == key.type && nodes.keys[Int($0.id)] == key.key
        }?.id
    }

    /// Starts loading where a `find` with `hash` looks first (see `ProbingTable.prefetch`).
    @inline(__always)
    func prefetch(hash: UInt64) {
        guard !ids.isEmpty else { return }
        table.prefetch(hash: UInt64(UInt32(truncatingIfNeeded: hash >> 32)))
    }

    var byteCount: Int { table.byteCount }

    /// FNV-1a over the type and the key's UTF-8, then a final mix: stable across
    /// runs (unlike Swift's seeded Hasher) and cheap for short keys.
    @inline(__always)
    static func hash(type: NodeTypeID, key: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(type)
        for byte in key.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        return hash
    }
}
