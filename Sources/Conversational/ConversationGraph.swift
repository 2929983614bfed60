// The conversation graph's content and conventions (ConversationContent) are part of
// this module's vocabulary for every importer.
@_exported import ConversationContent
import Foundation
import GraphAlgorithms
import GraphCore

/// The conversation–entity–item graph held in process (benchmarks, tests):
/// the same content and the same retrieval code as graphd's Conversation service.
public struct ConversationGraph: Sendable {
    public let state: GraphState
    public let index: ConversationIndex
    public let view: WalkView

    public init(knowledge: InspiredKnowledge, training dialogues: [[DialogueTurn]]) throws {
        let content = ConversationGraphContent(knowledge: knowledge, training: dialogues)
        var state = GraphState()
        state.apply(try state.planDefineTypes(nodeTypes: content.nodeTypes, edgeTypes: content.edgeTypes))
        for start in stride(from: 0, to: content.nodes.count, by: 50_000) {
            state.apply(try state.planAddNodes(Array(content.nodes[start..<min(start + 50_000, content.nodes.count)])))
        }
        // Duplicate (type, source, target) triples are upserts: the last weight wins.
        for start in stride(from: 0, to: content.edges.count, by: 50_000) {
            state.apply(try state.planAddEdges(Array(content.edges[start..<min(start + 50_000, content.edges.count)]),
                                               requireExistingNodes: false, nowMs: 1))
        }
        try state.compact(topology: try IgraphTopology())
        self.state = state
        index = try ConversationIndex(snapshot: state.snapshot)
        view = state.snapshot.walkView(index.walkFilter)
    }

    /// The graph node of an entity id, if the graph has it.
    public func node(ofEntity id: Int) -> UInt32? { index.entityNode(key: String(id), in: state.snapshot) }

    /// The entity id of an item or entity node.
    public func entity(ofNode node: UInt32) -> Int? { Int(state.snapshot.nodes.key(of: node)) }

    /// Retrieval for a dialogue, as the Conversation service does it.
    public func retrieve(_ query: RetrievalQuery, reasoner: ReasonerModel? = nil) throws -> Retrieval {
        try ConversationRetriever.retrieve(query, snapshot: state.snapshot, index: index, view: view, reasoner: reasoner)
    }

    /// Trains the graph reasoner on this graph's conversations.
    public func trainReasoner(config: ReasonerTrainingConfig = ReasonerTrainingConfig(),
                              progress: (_ epoch: Int, _ trainingLoss: Float, _ validationLoss: Float) -> Void = { _, _, _ in }) throws
        -> (graph: ReasonerGraph, result: ReasonerTrainingResult) {
        let graph = try ReasonerGraph(snapshot: state.snapshot, index: index)
        let result = try ReasonerTrainer.train(graph: graph, samples: graph.samples(snapshot: state.snapshot, index: index),
                                               config: config, progress: progress)
        return (graph, result)
    }
}
