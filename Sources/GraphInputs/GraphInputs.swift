// A write's inputs as clients send them: types and nodes by name, edges
// between (type, key) references. The graph engine (GraphCore) resolves them;
// client-side importers build them without linking the engine.

/// A node named by its type and key.
public struct NodeRefInput: Sendable, Hashable {
    public var type: String
    public var key: String

    public init(type: String, key: String) {
        self.type = type
        self.key = key
    }
}

public struct NodeInput: Sendable {
    public var type: String
    public var key: String
    /// nil leaves the stored text unchanged.
    public var text: String?
    /// Empty leaves the stored vector unchanged.
    public var features: [Float]

    public init(type: String, key: String, text: String? = nil, features: [Float] = []) {
        self.type = type
        self.key = key
        self.text = text
        self.features = features
    }
}

public struct EdgeInput: Sendable {
    public var type: String
    public var source: NodeRefInput
    public var target: NodeRefInput
    /// nil means 1.
    public var weight: Double?
    /// 0 means the time of the write.
    public var timestampMs: Int64
    public var attributes: [(name: String, value: Double)]

    public init(type: String, source: NodeRefInput, target: NodeRefInput, weight: Double? = nil,
                timestampMs: Int64 = 0, attributes: [(name: String, value: Double)] = []) {
        self.type = type
        self.source = source
        self.target = target
        self.weight = weight
        self.timestampMs = timestampMs
        self.attributes = attributes
    }
}

/// Edges of one type in columns, the compact form of an AddEdges batch: row i
/// is `sourceKeys[i]` → `targetKeys[i]`, the sources of type `sourceType`, the
/// targets of type `targetType`. `weights`, `timestampsMs` and each attribute
/// column are empty or hold one value per row.
public struct EdgeBlockInput: Sendable {
    public var type: String
    public var sourceType: String
    public var targetType: String
    public var sourceKeys: [String]
    public var targetKeys: [String]
    /// Empty means every weight is 1.
    public var weights: [Double]
    /// Empty means the time of the write (as does a 0 entry).
    public var timestampsMs: [Int64]
    public var attributes: [(name: String, values: [Double])]

    public init(type: String, sourceType: String, targetType: String, sourceKeys: [String], targetKeys: [String],
                weights: [Double] = [], timestampsMs: [Int64] = [], attributes: [(name: String, values: [Double])] = []) {
        self.type = type
        self.sourceType = sourceType
        self.targetType = targetType
        self.sourceKeys = sourceKeys
        self.targetKeys = targetKeys
        self.weights = weights
        self.timestampsMs = timestampsMs
        self.attributes = attributes
    }

    /// Rows in the block (the length of `sourceKeys`).
    public var count: Int { sourceKeys.count }
}

public struct EdgeRefInput: Sendable {
    public var type: String
    public var source: NodeRefInput
    public var target: NodeRefInput

    public init(type: String, source: NodeRefInput, target: NodeRefInput) {
        self.type = type
        self.source = source
        self.target = target
    }
}

public struct NodeTypeInput: Sendable {
    public var name: String
    public var featureDimension: Int

    public init(name: String, featureDimension: Int = 0) {
        self.name = name
        self.featureDimension = featureDimension
    }
}

public struct EdgeTypeInput: Sendable {
    public var name: String
    public var directed: Bool
    public var sourceType: String?
    public var targetType: String?

    public init(name: String, directed: Bool, sourceType: String? = nil, targetType: String? = nil) {
        self.name = name
        self.directed = directed
        self.sourceType = sourceType
        self.targetType = targetType
    }
}
