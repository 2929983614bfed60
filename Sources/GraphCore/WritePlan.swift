/// Everything one write batch changes, computed against the current state
/// before anything is stored. The store commits a plan as one transaction;
/// the in-memory graph applies the same plan after the commit succeeds.
public struct WritePlan: Sendable {
    public var newNodeTypes: [NodeTypeInfo] = []
    public var newEdgeTypes: [EdgeTypeInfo] = []
    /// Node types whose feature dimension this batch fixes.
    public var changedNodeTypes: [NodeTypeInfo] = []
    public var newAttributes: [(id: AttributeID, name: String)] = []
    public var insertedNodes: [NodeRecord] = []
    /// Nodes that get new text and/or features (nil fields stay as they are).
    public var updatedNodes: [NodeRecord] = []
    public var removedNodes: [UInt32] = []
    /// Edges deleted or replaced by this batch.
    public var removedEdges: [EdgeView] = []
    public var insertedEdges: [EdgeRecord] = []
    /// Named blobs (model weights, catalogues) stored beside the graph in the
    /// same transaction; a nil value deletes the document.
    public var documents: [(name: String, value: [UInt8]?)] = []

    /// Counts for the response.
    public var created = 0
    public var updated = 0

    public init() {}

    public var isEmpty: Bool {
        newNodeTypes.isEmpty && newEdgeTypes.isEmpty && changedNodeTypes.isEmpty && newAttributes.isEmpty
            && insertedNodes.isEmpty && updatedNodes.isEmpty && removedNodes.isEmpty
            && removedEdges.isEmpty && insertedEdges.isEmpty && documents.isEmpty
    }
}

/// What a compaction did.
public struct CompactionResult: Sendable {
    public var mergedEdges: Int
    public var removedEdges: Int
    public var seconds: Double

    public init(mergedEdges: Int, removedEdges: Int, seconds: Double) {
        self.mergedEdges = mergedEdges
        self.removedEdges = removedEdges
        self.seconds = seconds
    }
}

/// One AddEdges request of a group written together (`GraphState.planEdgeGroup`).
public struct EdgeWriteRequest: Sendable {
    public var edges: [EdgeInput]
    public var blocks: [EdgeBlockInput]
    public var requireExistingNodes: Bool

    public init(edges: [EdgeInput], blocks: [EdgeBlockInput] = [], requireExistingNodes: Bool = false) {
        self.edges = edges
        self.blocks = blocks
        self.requireExistingNodes = requireExistingNodes
    }

    /// Rows in the request: its edges plus its blocks' rows.
    public var rowCount: Int { edges.count + blocks.reduce(0) { $0 + $1.count } }

    /// About how many bytes the request takes encoded (its names, keys and
    /// numbers, with a few bytes of framing each): what bounds a group that a
    /// replication log must carry as one entry.
    public var estimatedBytes: Int {
        var bytes = 0
        for edge in edges {
            bytes += 32 + edge.type.utf8.count + edge.source.type.utf8.count + edge.source.key.utf8.count
                + edge.target.type.utf8.count + edge.target.key.utf8.count
            for (name, _) in edge.attributes { bytes += 12 + name.utf8.count }
        }
        for block in blocks {
            bytes += 32 + block.type.utf8.count + block.sourceType.utf8.count + block.targetType.utf8.count
            for key in block.sourceKeys { bytes += 2 + key.utf8.count }
            for key in block.targetKeys { bytes += 2 + key.utf8.count }
            bytes += 8 * (block.weights.count + block.timestampsMs.count)
            for (name, values) in block.attributes { bytes += 4 + name.utf8.count + 8 * values.count }
        }
        return bytes
    }
}

/// What one AddEdges request did: edges new to the graph, edges replaced, nodes created.
public struct EdgeWriteCounts: Sendable, Equatable {
    public var created = 0
    public var updated = 0
    public var nodesCreated = 0

    public init(created: Int = 0, updated: Int = 0, nodesCreated: Int = 0) {
        self.created = created
        self.updated = updated
        self.nodesCreated = nodesCreated
    }
}
