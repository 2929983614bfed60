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
