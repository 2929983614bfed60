import HashTreeCollections

/// Nodes by id, with a persistent key index: copying the table for a snapshot
/// is O(1), and a write copies only what it touches.
public struct NodeTable: Sendable {
    /// Type of each node id; `removed` marks a deleted node (its id is not reused
    /// until restart compacts nothing: ids stay stable for the store).
    var types = ChunkedColumn<NodeTypeID>()
    var keys = ChunkedColumn<String>()
    var index = TreeDictionary<NodeKey, UInt32>()
    var texts = TreeDictionary<UInt32, String>()
    var features = TreeDictionary<UInt32, [Float]>()
    public private(set) var countByType: [NodeTypeID: Int] = [:]
    public private(set) var liveCount = 0

    public static let removed = NodeTypeID.max

    public init() {}

    /// One past the largest node id ever assigned.
    public var idCount: Int { types.count }

    public func id(of key: NodeKey) -> UInt32? { index[key] }

    public func isLive(_ id: UInt32) -> Bool { Int(id) < types.count && types[Int(id)] != Self.removed }

    public func type(of id: UInt32) -> NodeTypeID { types[Int(id)] }

    public func key(of id: UInt32) -> String { keys[Int(id)] }

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
        index[NodeKey(type: record.type, key: record.key)] = record.id
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
        index[NodeKey(type: type, key: keys[Int(id)])] = nil
        texts[id] = nil
        features[id] = nil
        types[Int(id)] = Self.removed
        keys[Int(id)] = ""
        countByType[type, default: 1] -= 1
        liveCount -= 1
    }

    public var approximateByteCount: Int {
        types.approximateByteCount + keys.approximateByteCount + index.count * 96
            + texts.reduce(0) { $0 + $1.value.utf8.count + 64 }
            + features.reduce(0) { $0 + $1.value.count * 4 + 64 }
    }
}
