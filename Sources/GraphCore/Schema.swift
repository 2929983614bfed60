/// Dense id of a node type, an edge type or an attribute name.
public typealias NodeTypeID = UInt16
public typealias EdgeTypeID = UInt16
public typealias AttributeID = UInt16

public struct NodeTypeInfo: Sendable, Equatable {
    public var id: NodeTypeID
    public var name: String
    /// 0 until declared or fixed by the first feature vector of the type.
    public var featureDimension: Int
    public var builtin: Bool

    public init(id: NodeTypeID, name: String, featureDimension: Int = 0, builtin: Bool = false) {
        self.id = id
        self.name = name
        self.featureDimension = featureDimension
        self.builtin = builtin
    }
}

public struct EdgeTypeInfo: Sendable, Equatable {
    public var id: EdgeTypeID
    public var name: String
    public var directed: Bool
    /// Endpoint constraints; nil accepts any node type.
    public var sourceType: NodeTypeID?
    public var targetType: NodeTypeID?
    public var builtin: Bool

    /// Undirected edges whose two ends play the same role are stored with the
    /// smaller node id first; when the ends have distinct declared types, the
    /// declared orientation (source type first) is the canonical one instead.
    var ordersEndpointsByID: Bool { !directed && sourceType == targetType }

    public init(id: EdgeTypeID, name: String, directed: Bool, sourceType: NodeTypeID? = nil,
                targetType: NodeTypeID? = nil, builtin: Bool = false) {
        self.id = id
        self.name = name
        self.directed = directed
        self.sourceType = sourceType
        self.targetType = targetType
        self.builtin = builtin
    }
}

/// Node types, edge types and attribute names: an immutable value shared by snapshots.
public struct GraphSchema: Sendable, Equatable {
    public private(set) var nodeTypes: [NodeTypeInfo] = []
    public private(set) var edgeTypes: [EdgeTypeInfo] = []
    public private(set) var attributeNames: [String] = []
    private var nodeTypeByName: [String: NodeTypeID] = [:]
    private var edgeTypeByName: [String: EdgeTypeID] = [:]
    private var attributeByName: [String: AttributeID] = [:]

    /// Node types every graph has.
    static let builtinNodeTypes = ["user", "item", "query", "task", "llm", "entity", "conversation"]
    /// Edge types every graph has: (name, directed, source type, target type).
    static let builtinEdgeTypes: [(String, Bool, String?, String?)] = [
        ("interacted", false, "user", "item"),
    ]

    public init() {}

    /// The schema of a new graph: the built-in types only.
    public static func builtin() -> GraphSchema {
        var schema = GraphSchema()
        for name in builtinNodeTypes {
            schema.insert(NodeTypeInfo(id: NodeTypeID(schema.nodeTypes.count), name: name, builtin: true))
        }
        for (name, directed, source, target) in builtinEdgeTypes {
            schema.insert(EdgeTypeInfo(
                id: EdgeTypeID(schema.edgeTypes.count), name: name, directed: directed,
                sourceType: source.flatMap { schema.nodeTypeID($0) },
                targetType: target.flatMap { schema.nodeTypeID($0) }, builtin: true))
        }
        return schema
    }

    public func nodeTypeID(_ name: String) -> NodeTypeID? { nodeTypeByName[name] }
    public func edgeTypeID(_ name: String) -> EdgeTypeID? { edgeTypeByName[name] }
    public func attributeID(_ name: String) -> AttributeID? { attributeByName[name] }
    public func nodeType(_ id: NodeTypeID) -> NodeTypeInfo { nodeTypes[Int(id)] }
    public func edgeType(_ id: EdgeTypeID) -> EdgeTypeInfo { edgeTypes[Int(id)] }
    public func attributeName(_ id: AttributeID) -> String { attributeNames[Int(id)] }

    public func requireNodeType(_ name: String) throws(GraphError) -> NodeTypeID {
        guard let id = nodeTypeByName[name] else {
            throw .notFound("unknown node type '\(name)'; known: \(nodeTypes.map(\.name).joined(separator: ", ")) (define new ones with DefineTypes)")
        }
        return id
    }

    public func requireEdgeType(_ name: String) throws(GraphError) -> EdgeTypeID {
        guard let id = edgeTypeByName[name] else {
            throw .notFound("unknown edge type '\(name)'; known: \(edgeTypes.map(\.name).joined(separator: ", ")) (define new ones with DefineTypes)")
        }
        return id
    }

    /// Adds or replaces a node type at its id (ids are dense and assigned in order).
    public mutating func insert(_ info: NodeTypeInfo) {
        if Int(info.id) < nodeTypes.count { nodeTypes[Int(info.id)] = info } else { nodeTypes.append(info) }
        nodeTypeByName[info.name] = info.id
    }

    public mutating func insert(_ info: EdgeTypeInfo) {
        if Int(info.id) < edgeTypes.count { edgeTypes[Int(info.id)] = info } else { edgeTypes.append(info) }
        edgeTypeByName[info.name] = info.id
    }

    public mutating func insertAttribute(_ name: String) -> AttributeID {
        if let id = attributeByName[name] { return id }
        let id = AttributeID(attributeNames.count)
        attributeNames.append(name)
        attributeByName[name] = id
        return id
    }
}
