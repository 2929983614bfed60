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
    public private(set) var liveCount = 0

    public static let removed = NodeTypeID.max

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

    /// Places a node at `record.id`, growing the id space with removed
    /// placeholders. `id(of:)` finds it once `indexNewNodes` has run.
    mutating func insert(_ record: NodeRecord) {
        while types.count < Int(record.id) {
            types.append(Self.removed)
            keys.append("")
        }
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
            level = NodeKeyIndex(nodes: self, ids: previous.ids.lowerBound..<level.ids.upperBound)
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

    public var approximateByteCount: Int {
        types.approximateByteCount + keys.approximateByteCount + baseIndex.byteCount
            + recentLevels.reduce(0) { $0 + $1.byteCount }
            + texts.reduce(0) { $0 + $1.value.utf8.count + 64 }
            + features.reduce(0) { $0 + $1.value.count * 4 + 64 }
    }
}

/// An immutable index from node key to node id for the nodes with ids in
/// `ids` (the base index: 0 up to its coverage).
final class NodeKeyIndex: Sendable {
    let ids: Range<Int>
    private let table: NodeIDHashTable

    /// One past the largest id covered.
    var coverage: Int { ids.upperBound }

    static let empty = NodeKeyIndex()

    private init() {
        ids = 0..<0
        table = NodeIDHashTable()
    }

    init(nodes: NodeTable, ids: Range<Int>) {
        self.ids = ids
        var table = NodeIDHashTable(capacity: ids.count)
        for id in ids where nodes.isLive(UInt32(id)) {
            table.insert(UInt32(id), hash: Self.hash(type: nodes.types[id], key: nodes.keys[id]))
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
        return table.find(hash: hash) { nodes.types[Int($0)] == key.type && nodes.keys[Int($0)] == key.key }
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

/// Node key hash → node id, by open addressing with linear probing. A slot
/// holds the hash's upper 32 bits (which also pick the first slot, so the
/// table can grow without the keys) and the id; the caller confirms a
/// candidate against its own copy of the key, so the table stores no keys.
/// Entries are never deleted: a removed node fails the caller's check.
struct NodeIDHashTable: Sendable {
    private var fingerprints: [UInt32]
    private var slots: [UInt32]
    private var mask: Int
    private(set) var count = 0

    private static let empty = UInt32.max

    init(capacity: Int = 0) {
        let size = max(16, (capacity + capacity / 2 + 1).nextPowerOfTwo)
        fingerprints = [UInt32](repeating: 0, count: size)
        slots = [UInt32](repeating: Self.empty, count: size)
        mask = size - 1
    }

    var byteCount: Int { slots.count * 8 }

    @inline(__always)
    func find(hash: UInt64, matches: (UInt32) -> Bool) -> UInt32? {
        let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
        var slot = Int(fingerprint) & mask
        while true {
            let id = slots[slot]
            if id == Self.empty { return nil }
            if fingerprints[slot] == fingerprint, matches(id) { return id }
            slot = (slot + 1) & mask
        }
    }

    /// Adds `id` under `hash`; the caller knows the key is not present.
    mutating func insert(_ id: UInt32, hash: UInt64) {
        if (count + 1) * 3 > slots.count * 2 { grow() }
        place(id, fingerprint: UInt32(truncatingIfNeeded: hash >> 32))
        count += 1
    }

    private mutating func place(_ id: UInt32, fingerprint: UInt32) {
        var slot = Int(fingerprint) & mask
        while slots[slot] != Self.empty { slot = (slot + 1) & mask }
        fingerprints[slot] = fingerprint
        slots[slot] = id
    }

    private mutating func grow() {
        let (oldFingerprints, oldSlots) = (fingerprints, slots)
        fingerprints = [UInt32](repeating: 0, count: oldSlots.count * 2)
        slots = [UInt32](repeating: Self.empty, count: oldSlots.count * 2)
        mask = slots.count - 1
        for (fingerprint, id) in zip(oldFingerprints, oldSlots) where id != Self.empty {
            place(id, fingerprint: fingerprint)
        }
    }
}
