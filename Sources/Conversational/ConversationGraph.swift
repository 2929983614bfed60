import Foundation
import GraphAlgorithms
import GraphCore

/// The conversation–entity–item graph of G-CRS, held in a `GraphState`:
/// `item` nodes for recommendable entities, `entity` nodes for the rest (keys
/// are the entity ids), one undirected edge type per KG relation (`kg_<name>`, lower-cased),
/// and a `conversation` node per training dialogue joined by `mentions` edges
/// (weight = mention count) to every entity and item it names.
public struct ConversationGraph: Sendable {
    public static let mentions = "mentions"

    public let state: GraphState
    public let view: WalkView
    /// Graph node → entity id, for items.
    let itemOfNode: [UInt32: Int]
    /// Entity id → graph node (entities and items).
    let nodeOfEntity: [Int: UInt32]
    /// Items by the number of training conversations that mention them (cold start).
    public let popularItems: [Int]

    public init(knowledge: InspiredKnowledge, training dialogues: [[DialogueTurn]]) throws {
        var state = GraphState()
        func ref(_ id: Int) -> NodeRefInput {
            NodeRefInput(type: knowledge.items.contains(id) ? "item" : "entity", key: String(id))
        }
        let relationIDs = Set(knowledge.triples.map(\.relation)).sorted()
        state.apply(try state.planDefineTypes(nodeTypes: [], edgeTypes:
            relationIDs.map { EdgeTypeInput(name: "kg_" + Self.typeName(knowledge.relationName[$0] ?? String($0)), directed: false) }
            + [EdgeTypeInput(name: Self.mentions, directed: false, sourceType: "conversation")]))
        var edges = knowledge.triples.map { triple in
            EdgeInput(type: "kg_" + Self.typeName(knowledge.relationName[triple.relation] ?? String(triple.relation)),
                      source: ref(triple.head), target: ref(triple.tail))
        }
        var mentionCount: [Int: Int] = [:]
        for (d, turns) in dialogues.enumerated() {
            var counts: [Int: Int] = [:], order: [Int] = []
            for turn in turns {
                for id in turn.entityIDs + turn.movieIDs {
                    if counts[id] == nil { order.append(id) }
                    counts[id, default: 0] += 1
                }
            }
            for id in order {
                edges.append(EdgeInput(type: Self.mentions, source: NodeRefInput(type: "conversation", key: "c\(d)"),
                                       target: ref(id), weight: Double(counts[id]!)))
                if knowledge.items.contains(id) { mentionCount[id, default: 0] += 1 }
            }
        }
        // Duplicate (type, source, target) triples are upserts: the last weight wins.
        for start in stride(from: 0, to: edges.count, by: 50_000) {
            state.apply(try state.planAddEdges(Array(edges[start..<min(start + 50_000, edges.count)]), requireExistingNodes: false, nowMs: 1))
        }
        try state.compact(topology: try IgraphTopology())
        let snapshot = state.snapshot
        var itemOfNode: [UInt32: Int] = [:], nodeOfEntity: [Int: UInt32] = [:]
        for type in ["item", "entity"] {
            guard let typeID = snapshot.schema.nodeTypeID(type) else { continue }
            for id in knowledge.entityID.values {
                guard let node = snapshot.nodes.id(of: NodeKey(type: typeID, key: String(id))) else { continue }
                nodeOfEntity[id] = node
                if type == "item" { itemOfNode[node] = id }
            }
        }
        self.state = state
        self.view = snapshot.walkView(.all)
        self.itemOfNode = itemOfNode
        self.nodeOfEntity = nodeOfEntity
        self.popularItems = knowledge.items.sorted { (mentionCount[$0] ?? 0, -$0) > (mentionCount[$1] ?? 0, -$1) }
    }

    /// A KG relation name as an edge type name: lower case, other characters as '_'.
    static func typeName(_ relation: String) -> String {
        String(relation.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// Items ranked by personalized PageRank from the context ids (each seed
    /// weighted `recencyDecay`^(positions from the end)), then by popularity.
    public func rankItems(context: [Int], count: Int, restart: Double = 0.15, recencyDecay: Double = 1,
                          engine: PersonalizedPageRank = PersonalizedPageRank()) throws -> [Int] {
        var seeds: [PPRSeed] = []
        for (position, id) in context.enumerated() {
            guard let node = nodeOfEntity[id] else { continue }
            seeds.append(PPRSeed(node: node, weight: pow(recencyDecay, Double(context.count - 1 - position))))
        }
        var ranked: [Int] = []
        var taken = Set<Int>()
        if !seeds.isEmpty {
            let scores = try engine.scores(view: view, seeds: seeds, parameters: PPRParameters(restart: restart, tolerance: 1e-6))
            var items: [(Int, Double)] = []
            for (i, node) in scores.nodes.enumerated() {
                if let item = itemOfNode[node], scores.scores[i] > 0 { items.append((item, scores.scores[i])) }
            }
            items.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            for (item, _) in items.prefix(count) where taken.insert(item).inserted { ranked.append(item) }
        }
        for item in popularItems where ranked.count < count && taken.insert(item).inserted { ranked.append(item) }
        return ranked
    }
}
