import HashTreeCollections

/// Nodes by id, with a key index in two parts: a compact immutable hash index
/// of the nodes that existed at the last compaction, and a persistent map of
/// the nodes added since. Copying the table for a snapshot is O(1), and a write
/// copies only what it touches.
public struct NodeTable: Sendable {
    /// Type of each node id; `removed` marks a deleted node (its id is not reused
    /// until restart compacts nothing: ids stay stable for the store).
    var types = ChunkedColumn<NodeTypeID>()
    var keys = ChunkedColumn<String>()
    /// Nodes with ids below `baseIndex.coverage`.
    var baseIndex = NodeKeyIndex.empty
    /// Nodes added since `baseIndex` was built.
    var recent = TreeDictionary<NodeKey, UInt32>()
    var texts = TreeDictionary<UInt32, String>()
    var features = TreeDictionary<UInt32, [Float]>()
    public private(set) var countByType: [NodeTypeID: Int] = [:]
    public private(set) var liveCount = 0

    public static let removed = NodeTypeID.max

    public init() {}

    /// One past the largest node id ever assigned.
    public var idCount: Int { types.count }

    public func id(of key: NodeKey) -> UInt32? {
        if let id = recent[key] { return id }
        return baseIndex.find(key, in: self)
    }

    public func isLive(_ id: UInt32) -> Bool { Int(id) < types.count && types[Int(id)] != Self.removed }

    public func type(of id: UInt32) -> NodeTypeID { types[Int(id)] }

    public func key(of id: UInt32) -> String { keys[Int(id)] }

    public func text(of id: UInt32) -> String? { texts[id] }

    public func record(_ id: UInt32) -> NodeRecord? {
        guard isLive(id) else { return nil }
        return NodeRecord(id: id, type: types[Int(id)], key: keys[Int(id)], text: texts[id], features: features[id])
    }

    /// Places a node at `record.id`, growing the id space with removed placeholders.
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
        if Int(record.id) >= baseIndex.coverage { recent[NodeKey(type: record.type, key: record.key)] = record.id }
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
        // Ids under the base index need nothing more: lookups check liveness.
        if Int(id) >= baseIndex.coverage { recent[NodeKey(type: type, key: keys[Int(id)])] = nil }
        texts[id] = nil
        features[id] = nil
        types[Int(id)] = Self.removed
        keys[Int(id)] = ""
        countByType[type, default: 1] -= 1
        liveCount -= 1
    }

    /// Moves every node into a new base index (start-up).
    mutating func reindex() {
        install(NodeKeyIndex(nodes: self, coverage: idCount))
    }

    /// Installs a base index built from an earlier copy of this table; nodes
    /// added after that copy stay in `recent`.
    mutating func install(_ index: NodeKeyIndex) {
        baseIndex = index
        recent = recent.filter { Int($0.value) >= index.coverage }
    }

    public var approximateByteCount: Int {
        types.approximateByteCount + keys.approximateByteCount + baseIndex.byteCount + recent.count * 96
            + texts.reduce(0) { $0 + $1.value.utf8.count + 64 }
            + features.reduce(0) { $0 + $1.value.count * 4 + 64 }
    }
}

/// An immutable open-addressing index from node key to node id, for the nodes
/// with ids below `coverage`. It stores only a 32-bit fingerprint and the id per
/// slot (8 bytes) and confirms a hit against the node table's key column.
final class NodeKeyIndex: Sendable {
    let coverage: Int
    private let fingerprints: [UInt32]
    private let ids: [UInt32]
    private let mask: Int

    static let empty = NodeKeyIndex()

    private init() {
        coverage = 0
        fingerprints = [0]
        ids = [UInt32.max]
        mask = 0
    }

    init(nodes: NodeTable, coverage: Int) {
        self.coverage = coverage
        let size = max(16, (coverage + coverage / 2 + 1).nextPowerOfTwo)
        var fingerprints = [UInt32](repeating: 0, count: size)
        var ids = [UInt32](repeating: UInt32.max, count: size)
        let mask = size - 1
        for id in 0..<coverage where nodes.isLive(UInt32(id)) {
            let hash = Self.hash(type: nodes.types[id], key: nodes.keys[id])
            var slot = Int(truncatingIfNeeded: hash) & mask
            while ids[slot] != UInt32.max { slot = (slot + 1) & mask }
            fingerprints[slot] = UInt32(truncatingIfNeeded: hash >> 32)
            ids[slot] = UInt32(id)
        }
        self.fingerprints = fingerprints
        self.ids = ids
        self.mask = mask
    }

    func find(_ key: NodeKey, in nodes: NodeTable) -> UInt32? {
        guard coverage > 0 else { return nil }
        let hash = Self.hash(type: key.type, key: key.key)
        let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = ids[slot]
            if id == UInt32.max { return nil }
            if fingerprints[slot] == fingerprint, nodes.types[Int(id)] == key.type, nodes.keys[Int(id)] == key.key {
                return id
            }
            slot = (slot + 1) & mask
        }
    }

    var byteCount: Int { ids.count * 8 }

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
