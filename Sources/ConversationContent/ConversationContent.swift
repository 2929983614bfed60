import GraphInputs

/// Names of the graph conventions of the conversation–entity–item graph
/// (see Proto/graphd/v1/conversation.proto).
public enum ConversationSchema {
    public static let item = "item"
    public static let entity = "entity"
    public static let conversation = "conversation"
    public static let alias = "alias"
    public static let mentions = "mentions"
    public static let recommended = "recommended"
    public static let aliasOf = "alias_of"
    public static let relationPrefix = "kg_"

    /// A KG relation's edge type: the prefix, then its name in lower case with
    /// other characters as '_'.
    public static func relationTypeName(_ relation: String) -> String {
        relationPrefix + String(relation.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }
}

/// Bounds and defaults of retrieval that clients check before they ask
/// (`graphctl converse`); the retriever enforces them.
public enum RetrievalBounds {
    /// Past conversations close in words that may join the PPR seeds.
    public static let maxTextSeeds = 200
    /// Chosen on INSPIRED valid and five folds of the training dialogues (README),
    /// as is the share of the seed weight those conversations carry.
    public static let defaultTextSeeds = 100
    public static let defaultTextSeedShare = 0.35
}

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
            S.relationTypeName(knowledge.relationName[relation] ?? String(relation))
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
