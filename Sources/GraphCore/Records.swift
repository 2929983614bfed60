// The inputs of writes are GraphCore's vocabulary too: every module that
// imports the engine sees them.
@_exported import GraphInputs

/// A node's identity: its type and its external key, unique within the type.
public struct NodeKey: Hashable, Sendable {
    var type: NodeTypeID
    var key: String

    public init(type: NodeTypeID, key: String) {
        self.type = type
        self.key = key
    }
}

/// One named numeric attribute of an edge.
public struct EdgeAttribute: Sendable, Equatable {
    public var id: AttributeID
    public var value: Double

    public init(id: AttributeID, value: Double) {
        self.id = id
        self.value = value
    }
}

/// A stored node as the store and the snapshots see it.
public struct NodeRecord: Sendable, Equatable {
    public var id: UInt32
    public var type: NodeTypeID
    public var key: String
    public var text: String?
    public var features: [Float]?

    public init(id: UInt32, type: NodeTypeID, key: String, text: String? = nil, features: [Float]? = nil) {
        self.id = id
        self.type = type
        self.key = key
        self.text = text
        self.features = features
    }
}

/// A stored edge. `id` is the store's row id: it grows with every insert, and
/// an upsert gives the new version a new id, so ids follow insertion order.
public struct EdgeRecord: Sendable, Equatable {
    public var id: Int64
    public var type: EdgeTypeID
    public var source: UInt32
    public var target: UInt32
    public var weight: Float
    public var timestampMs: Int64
    public var attributes: [EdgeAttribute]

    public init(id: Int64, type: EdgeTypeID, source: UInt32, target: UInt32, weight: Float,
                timestampMs: Int64, attributes: [EdgeAttribute] = []) {
        self.id = id
        self.type = type
        self.source = source
        self.target = target
        self.weight = weight
        self.timestampMs = timestampMs
        self.attributes = attributes
    }
}

/// An edge as a reader sees it in a snapshot: the record plus its slot.
public struct EdgeView: Sendable, Equatable {
    /// Position in the snapshot (base edges first, then delta edges); valid for one snapshot only.
    var slot: UInt32
    public var record: EdgeRecord
}

/// Which edges of a node to visit.
public enum EdgeDirection: Sendable, Equatable {
    case outgoing, incoming, both
}
