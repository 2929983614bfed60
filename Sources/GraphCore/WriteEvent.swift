/// One write batch in the form a replica replays it: the operation and its
/// inputs as the writer accepted them (node vectors already filled in), the
/// documents stored with it, and the writer's clock for it. Planning an event
/// depends only on the graph it is planned against and on the event itself —
/// ids come from the graph, timestamps from `nowMs` — so a replica holding the
/// same graph plans the same batch; `WriteMarks` let it check that it did.
public struct WriteEvent: Sendable {
    public enum Operation: Sendable {
        case defineTypes(nodeTypes: [NodeTypeInput], edgeTypes: [EdgeTypeInput])
        case addNodes([NodeInput])
        case addEdges(edges: [EdgeInput], blocks: [EdgeBlockInput], requireExistingNodes: Bool)
        /// Nodes, then edges that may name them.
        case addNodesAndEdges(nodes: [NodeInput], edges: [EdgeInput], requireExistingNodes: Bool)
        /// AddEdges requests written together (group commit), in arrival order:
        /// only those that were accepted (a request refused alone is not part of the batch).
        case edgeGroup([EdgeWriteRequest])
        case removeNodes([NodeRefInput], ignoreMissing: Bool)
        case removeEdges([EdgeRefInput], ignoreMissing: Bool)
        /// Documents alone.
        case documents
    }

    public var operation: Operation
    /// Stored (nil value: deleted) in the batch's transaction.
    public var documents: [(name: String, value: [UInt8]?)]
    /// The writer's wall clock for the batch: the timestamp of edges sent without one.
    public var nowMs: Int64

    public init(_ operation: Operation, documents: [(name: String, value: [UInt8]?)] = [], nowMs: Int64) {
        self.operation = operation
        self.documents = documents
        self.nowMs = nowMs
    }
}

/// What a planned batch did, in numbers a replica compares with the writer's:
/// the same counts and the same first and last new ids, or the replica's graph
/// is not the writer's and it must stop rather than diverge further.
public struct WriteMarks: Sendable, Equatable, CustomStringConvertible {
    public var insertedNodes: Int
    public var updatedNodes: Int
    public var removedNodes: Int
    public var insertedEdges: Int
    public var removedEdges: Int
    public var documents: Int
    public var firstNodeID: UInt32?
    public var lastNodeID: UInt32?
    public var firstEdgeID: Int64?
    public var lastEdgeID: Int64?

    public init(insertedNodes: Int, updatedNodes: Int, removedNodes: Int, insertedEdges: Int, removedEdges: Int, documents: Int,
                firstNodeID: UInt32?, lastNodeID: UInt32?, firstEdgeID: Int64?, lastEdgeID: Int64?) {
        self.insertedNodes = insertedNodes
        self.updatedNodes = updatedNodes
        self.removedNodes = removedNodes
        self.insertedEdges = insertedEdges
        self.removedEdges = removedEdges
        self.documents = documents
        self.firstNodeID = firstNodeID
        self.lastNodeID = lastNodeID
        self.firstEdgeID = firstEdgeID
        self.lastEdgeID = lastEdgeID
    }

    public init(_ plan: WritePlan) {
        insertedNodes = plan.insertedNodes.count
        updatedNodes = plan.updatedNodes.count
        removedNodes = plan.removedNodes.count
        insertedEdges = plan.insertedEdges.count
        removedEdges = plan.removedEdges.count
        documents = plan.documents.count
        firstNodeID = plan.insertedNodes.first?.id
        lastNodeID = plan.insertedNodes.last?.id
        firstEdgeID = plan.insertedEdges.first?.id
        lastEdgeID = plan.insertedEdges.last?.id
    }

    public var description: String {
        "\(insertedNodes) nodes inserted (ids \(firstNodeID.map(String.init) ?? "-")…\(lastNodeID.map(String.init) ?? "-")), "
            + "\(updatedNodes) updated, \(removedNodes) removed; \(insertedEdges) edges inserted "
            + "(ids \(firstEdgeID.map(String.init) ?? "-")…\(lastEdgeID.map(String.init) ?? "-")), \(removedEdges) removed; \(documents) documents"
    }
}

extension GraphState {
    /// Plans `event` against this graph: what the writer planned when it
    /// accepted it, if this graph is the one it wrote to.
    public func plan(_ event: WriteEvent) throws -> WritePlan {
        var plan: WritePlan
        switch event.operation {
        case let .defineTypes(nodeTypes, edgeTypes):
            plan = try planDefineTypes(nodeTypes: nodeTypes, edgeTypes: edgeTypes)
        case let .addNodes(nodes):
            plan = try planAddNodes(nodes)
        case let .addEdges(edges, blocks, requireExistingNodes):
            plan = try planAddEdges(edges, blocks: blocks, requireExistingNodes: requireExistingNodes, nowMs: event.nowMs)
        case let .addNodesAndEdges(nodes, edges, requireExistingNodes):
            plan = try planAddNodesAndEdges(nodes, edges: edges, requireExistingNodes: requireExistingNodes, nowMs: event.nowMs)
        case let .edgeGroup(requests):
            let (grouped, outcomes) = planEdgeGroup(requests, nowMs: event.nowMs)
            // Every request of the event was accepted by the writer: one refused here means another graph.
            if let index = outcomes.firstIndex(where: { if case .failure = $0 { true } else { false } }),
               case .failure(let error) = outcomes[index] {
                throw GraphError(.failedPrecondition, "request \(index) of the batch, accepted by the writer, is refused here: \(error)")
            }
            plan = grouped
        case let .removeNodes(nodes, ignoreMissing):
            plan = try planRemoveNodes(nodes, ignoreMissing: ignoreMissing)
        case let .removeEdges(edges, ignoreMissing):
            plan = try planRemoveEdges(edges, ignoreMissing: ignoreMissing)
        case .documents:
            plan = WritePlan()
        }
        plan.documents = event.documents
        return plan
    }
}
