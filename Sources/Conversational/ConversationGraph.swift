import Foundation
import GraphAlgorithms
import GraphCore

/// The content of the conversation–entity–item graph of G-CRS, as graph
/// inputs (see Proto/graphd/v1/conversation.proto for the conventions):
/// `item` nodes for recommendable entities and `entity` nodes for the rest
/// (keys are entity ids, text the DBpedia name), one undirected edge type per
/// KG relation (`kg_<name>`, lower-cased), a `conversation` node per training
/// dialogue (text: its turns) joined by `mentions` edges (weight = mention
/// count) to what it names and by `recommended` edges to the items a
/// recommender named, and `alias` nodes for surface forms seen at least
/// `minAliasCount` times in training dialogues, joined by `alias_of` edges.
///
/// `graphctl import inspired` sends it to graphd; `ConversationGraph` builds it in process.
public struct ConversationGraphContent: Sendable {
    public var nodeTypes: [NodeTypeInput] = []
    public var edgeTypes: [EdgeTypeInput] = []
    public var nodes: [NodeInput] = []
    public var edges: [EdgeInput] = []

    public init(knowledge: InspiredKnowledge, training dialogues: [[DialogueTurn]], conversationPrefix: String = "train/",
                minAliasCount: Int = 2) {
        typealias S = ConversationSchema
        func ref(_ id: Int) -> NodeRefInput {
            NodeRefInput(type: knowledge.items.contains(id) ? S.item : S.entity, key: String(id))
        }
        func relationType(_ relation: Int) -> String {
            S.relationPrefix + ConversationGraph.typeName(knowledge.relationName[relation] ?? String(relation))
        }
        nodeTypes = [NodeTypeInput(name: S.alias)]
        edgeTypes = Set(knowledge.triples.map(\.relation)).sorted().map { EdgeTypeInput(name: relationType($0), directed: false) }
            + [EdgeTypeInput(name: S.mentions, directed: false, sourceType: S.conversation),
               EdgeTypeInput(name: S.recommended, directed: true, sourceType: S.conversation, targetType: S.item),
               EdgeTypeInput(name: S.aliasOf, directed: true, sourceType: S.alias)]
        for (iri, id) in knowledge.entityID.sorted(by: { $0.value < $1.value }) {
            let ref = ref(id)
            nodes.append(NodeInput(type: ref.type, key: ref.key, text: EntityLinker.displayName(iri: iri)))
        }
        edges = knowledge.triples.map { EdgeInput(type: relationType($0.relation), source: ref($0.head), target: ref($0.tail)) }
        var aliasCounts: [String: [Int: Int]] = [:]
        for (d, turns) in dialogues.enumerated() {
            let record = ConversationRecord(key: conversationPrefix + String(d), turns: turns.map { turn in
                ConversationRecord.Turn(
                    role: turn.role, text: turn.text, mentioned: (turn.entityIDs + turn.movieIDs).map(ref),
                    recommended: turn.role == "RECOMMENDER" ? turn.movieIDs.filter(knowledge.items.contains).map(ref) : [])
            })
            nodes.append(record.node)
            edges += record.edges
            for turn in turns {
                for (id, surface) in turn.namedMentions {
                    let phrase = EntityLinker.words(surface).joined(separator: " ")
                    if !phrase.isEmpty { aliasCounts[phrase, default: [:]][id, default: 0] += 1 }
                }
            }
        }
        for (phrase, targets) in aliasCounts.sorted(by: { $0.key < $1.key }) {
            for (id, count) in targets.sorted(by: { $0.key < $1.key }) where count >= minAliasCount {
                edges.append(EdgeInput(type: S.aliasOf, source: NodeRefInput(type: S.alias, key: phrase), target: ref(id), weight: Double(count)))
            }
        }
    }
}

extension ConversationGraphContent {
    /// Leaves out the entity and item nodes and the KG edges (sent once already).
    public mutating func dropKnowledge() {
        nodes.removeAll { $0.type == ConversationSchema.item || $0.type == ConversationSchema.entity }
        edges.removeAll { $0.type.hasPrefix(ConversationSchema.relationPrefix) }
    }
}

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

    /// A KG relation name as an edge type name: lower case, other characters as '_'.
    static func typeName(_ relation: String) -> String {
        String(relation.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
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
