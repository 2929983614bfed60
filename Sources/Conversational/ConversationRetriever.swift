import Foundation
import GraphAlgorithms
import GraphCore

/// What retrieval needs from one graph, built once per node set: the entity
/// linker, the edge types PPR walks, and the items by popularity.
public struct ConversationIndex: Sendable {
    public let linker: EntityLinker
    /// The KG relations plus `mentions` and `recommended`: what the PPR walks.
    public let walkFilter: WalkFilter
    public let itemType: NodeTypeID
    public let conversationType: NodeTypeID?
    public let entityType: NodeTypeID?
    /// The KG relation edge types, with the label a description shows for each
    /// ("kg_music_composer" → "music composer").
    let relationLabels: [EdgeTypeID: String]
    var relationTypes: Set<EdgeTypeID> { Set(relationLabels.keys) }
    let recommendedType: EdgeTypeID?
    let mentionsType: EdgeTypeID?
    /// Items by the number of conversations that recommend (else mention) them.
    let popularItems: [UInt32]
    /// Each item's KG facts (`ItemFacts`), gathered in the same pass: a popular
    /// item has thousands of mentions edges, too many to scan per candidate.
    let itemDescriptions: [UInt32: String]
    /// The conversations' words, for the text-similar seeds.
    public let conversationText: ConversationTextIndex
    /// What of the graph it was built from.
    public let builtFor: Version

    /// The counts an index depends on: entity, item, alias and conversation
    /// nodes, and the edges of every type it reads. Other nodes and edges
    /// (users, queries) come and go without a rebuild; a node whose text
    /// changes in place is not noticed unless its writer bumps `textRevision`.
    public struct Version: Equatable, Sendable {
        var nodeCounts: [Int]
        var edgeCounts: [Int]
        var edgeTypeCount: Int
        /// Counts conversation texts rewritten in place (a session stored again
        /// under its key), which change no count above; kept by the writer.
        public var textRevision = 0

        public init(of snapshot: GraphSnapshot) {
            self.init(of: snapshot, nodeTypes: [ConversationSchema.item, ConversationSchema.entity, ConversationSchema.alias,
                                                ConversationSchema.conversation]) { name in
                name.hasPrefix(ConversationSchema.relationPrefix)
                    || [ConversationSchema.mentions, ConversationSchema.recommended, ConversationSchema.aliasOf].contains(name)
            }
        }

        /// What the graph reasoner's node states depend on: the entity and item
        /// nodes and the KG relations among them. Conversations added live leave it
        /// alone.
        public static func knowledgeGraph(of snapshot: GraphSnapshot) -> Version {
            Version(of: snapshot, nodeTypes: [ConversationSchema.item, ConversationSchema.entity]) { $0.hasPrefix(ConversationSchema.relationPrefix) }
        }

        private init(of snapshot: GraphSnapshot, nodeTypes: [String], counts edgeType: (String) -> Bool) {
            let schema = snapshot.schema
            nodeCounts = nodeTypes.map { name in schema.nodeTypeID(name).map { snapshot.nodes.countByType[$0] ?? 0 } ?? -1 }
            edgeCounts = schema.edgeTypes.filter { edgeType($0.name) }.map { snapshot.edgeCountByType[$0.id] ?? 0 }
            edgeTypeCount = schema.edgeTypes.count
        }

        /// Whether `newer` only adds to what this version counted (no count
        /// went down): an index of this version is then out of date but
        /// still names only nodes that exist.
        public func onlyGrew(to newer: Version) -> Bool {
            guard nodeCounts.count == newer.nodeCounts.count, edgeCounts.count <= newer.edgeCounts.count,
                  edgeTypeCount <= newer.edgeTypeCount, textRevision <= newer.textRevision else { return false }
            return zip(nodeCounts, newer.nodeCounts).allSatisfy { $0 <= $1 }
                && zip(edgeCounts, newer.edgeCounts).allSatisfy { $0 <= $1 }
        }
    }

    /// Scans every entity, item and alias node of `snapshot`.
    public init(snapshot: GraphSnapshot) throws(RetrievalError) {
        let schema = snapshot.schema
        guard let itemType = schema.nodeTypeID(ConversationSchema.item) else { throw RetrievalError(.failedPrecondition, "the graph has no item node type") }
        self.itemType = itemType
        let entityType = schema.nodeTypeID(ConversationSchema.entity)
        self.entityType = entityType
        conversationType = schema.nodeTypeID(ConversationSchema.conversation)
        let aliasType = schema.nodeTypeID(ConversationSchema.alias)
        let aliasOf = schema.edgeTypeID(ConversationSchema.aliasOf)
        var labels: [EdgeTypeID: String] = [:]
        for info in schema.edgeTypes where info.name.hasPrefix(ConversationSchema.relationPrefix) {
            labels[info.id] = String(info.name.dropFirst(ConversationSchema.relationPrefix.count)).replacingOccurrences(of: "_", with: " ")
        }
        relationLabels = labels
        var walked = Set(labels.keys)
        mentionsType = schema.edgeTypeID(ConversationSchema.mentions)
        if let mentionsType { walked.insert(mentionsType) }
        recommendedType = schema.edgeTypeID(ConversationSchema.recommended)
        // A recommendation says more than a mention: walking both edge types
        // leads a walk through a past conversation to what was recommended there.
        if let recommendedType { walked.insert(recommendedType) }
        walkFilter = WalkFilter(edgeTypes: walked)
        let popularityType = recommendedType ?? schema.edgeTypeID(ConversationSchema.mentions)

        var linker = EntityLinker()
        var popularity: [(node: UInt32, count: Int)] = []
        var descriptions: [UInt32: String] = [:]
        var conversationTexts: [(node: UInt32, text: String)] = []
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) {
            let type = snapshot.nodes.type(of: id)
            if type == conversationType {
                if let text = snapshot.nodes.text(of: id), !text.isEmpty { conversationTexts.append((id, text)) }
            } else if type == itemType || type == entityType {
                linker.add(name: Self.name(of: id, in: snapshot), node: id)
                if type == itemType {
                    var count = 0
                    let facts = ItemFacts(of: id, snapshot: snapshot, labels: labels) { edge in
                        if edge.record.type == popularityType { count += 1 }
                    }
                    popularity.append((id, count))
                    descriptions[id] = facts.text(labels: labels)
                }
            } else if type == aliasType, let aliasOf {
                let surface = snapshot.nodes.key(of: id)
                snapshot.forEachEdge(of: id, direction: .both) { edge, nodeIsSource in
                    if edge.record.type == aliasOf {
                        let other = nodeIsSource ? edge.record.target : edge.record.source
                        let otherType = snapshot.nodes.type(of: other)
                        if otherType == itemType || otherType == entityType { linker.add(name: surface, node: other) }
                    }
                    return true
                }
            }
        }
        self.linker = linker
        itemDescriptions = descriptions
        conversationText = ConversationTextIndex(documents: conversationTexts)
        popularItems = popularity.sorted { $0.count != $1.count ? $0.count > $1.count : $0.node < $1.node }.map(\.node)
        builtFor = Version(of: snapshot)
    }

    /// Whether this index still describes `snapshot` (see `Version`).
    public func isCurrent(for snapshot: GraphSnapshot) -> Bool { builtFor == Version(of: snapshot) }

    /// The item or entity node with `key`, if any.
    public func entityNode(key: String, in snapshot: GraphSnapshot) -> UInt32? {
        for type in [itemType, entityType].compactMap({ $0 }) {
            if let node = snapshot.nodes.id(of: NodeKey(type: type, key: key)) { return node }
        }
        return nil
    }

    /// The node's display name: the first line of its text, else its key.
    static func name(of node: UInt32, in snapshot: GraphSnapshot) -> String {
        guard let text = snapshot.nodes.text(of: node), !text.isEmpty else { return snapshot.nodes.key(of: node) }
        return text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? text
    }
}

public struct RetrievalError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case invalidArgument, failedPrecondition, cancelled }
    public var kind: Kind
    public var description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// One dialogue turn as the retriever sees it.
public struct RetrievalTurn: Sendable {
    public var role: String
    public var text: String
    /// Entity or item nodes the caller linked itself.
    public var linkedNodes: [UInt32]

    public init(role: String, text: String, linkedNodes: [UInt32] = []) {
        self.role = role
        self.text = text
        self.linkedNodes = linkedNodes
    }
}

public struct RetrievalQuery: Sendable {
    public var turns: [RetrievalTurn]
    public var k = 20
    public var n = 0
    public var linkText = true
    public var includeMentioned = false
    public var restart = Self.defaultRestart
    /// Weight of a seed linked m turns before the last: decay^m, in (0, 1].
    public var recencyDecay = Self.defaultRecencyDecay
    /// Past conversations closest in words to the dialogue that join the PPR
    /// seeds (`ConversationTextIndex`); 0: none.
    public var textSeeds = RetrievalBounds.defaultTextSeeds
    /// The share of the seed weight those conversations carry together, in
    /// [0, 1); the linked entities (and reasoner items) carry the rest. When
    /// nothing is linked they carry it all.
    public var textSeedShare = RetrievalBounds.defaultTextSeedShare

    /// Chosen on INSPIRED valid and five folds of the training dialogues
    /// (README, "Conversational recommendation").
    public static let defaultRestart = 0.4
    public static let defaultRecencyDecay = 0.9

    public init(turns: [RetrievalTurn]) { self.turns = turns }
}

/// What `retrieve` found.
public struct Retrieval: Sendable {
    public enum Provenance: Sendable, Equatable { case ppr, reasoner, both, popularity }

    public struct Candidate: Sendable {
        public var node: UInt32
        public var name: String
        public var score: Double
        public var provenance: Provenance
        public var description: String
    }

    public struct Similar: Sendable {
        public var node: UInt32
        public var score: Double
        public var recommended: [UInt32]
        /// Non-item entities the conversation mentions (genres, people, …), most mentioned first.
        public var topics: [UInt32]
        public var excerpt: String
    }

    public struct Linked: Sendable, Equatable {
        public var node: UInt32
        public var surface: String
        public var turn: Int
    }

    public var candidates: [Candidate] = []
    public var similar: [Similar] = []
    public var linked: [Linked] = []
    public var prompt = ConversationPrompt()
}

/// G-CRS retrieval over a conversation–entity–item graph: link the dialogue to
/// entities, run personalized PageRank from them (later mentions may weigh
/// more), and return the top items, the most similar past conversations and a
/// prompt. Items nothing reaches are filled in by popularity.
public enum ConversationRetriever {
    public static let maxTurns = 200
    public static let maxTurnBytes = 16 * 1024
    public static let maxRoleBytes = 64
    public static let maxK = 200
    public static let maxN = 50
    /// Text seeds: how many of the last turns are matched against past
    /// conversations, and the power of the similarity their weights follow.
    /// Both chosen on INSPIRED valid and five folds of the training dialogues
    /// (turns 4/6/8/10/12/all, powers 1–4; README).
    static let textSeedTurns = 8
    static let textSeedSimilarityPower = 3.0
    /// Forward-push tolerance of the PPR: the largest tried (1e-6, 3e-6, 1e-5,
    /// 3e-5) whose HR@10/50 on INSPIRED valid and on five folds of the training
    /// dialogues equal those at 1e-6, in about two thirds of the time.
    static let pprTolerance = 3e-6

    /// Refuses an empty dialogue and turns over the size limits.
    public static func validate(_ turns: [RetrievalTurn]) throws(RetrievalError) {
        guard !turns.isEmpty else { throw RetrievalError(.invalidArgument, "turns is empty: send the dialogue so far (at least one turn)") }
        guard turns.count <= maxTurns else { throw RetrievalError(.invalidArgument, "\(turns.count) turns; at most \(maxTurns)") }
        for (i, turn) in turns.enumerated() {
            guard turn.text.utf8.count <= maxTurnBytes else {
                throw RetrievalError(.invalidArgument, "turns[\(i)].text has \(turn.text.utf8.count) bytes; at most \(maxTurnBytes)")
            }
            guard turn.role.utf8.count <= maxRoleBytes else {
                throw RetrievalError(.invalidArgument, "turns[\(i)].role has \(turn.role.utf8.count) bytes; at most \(maxRoleBytes)")
            }
        }
    }

    /// What each turn names, in order: the nodes the caller linked, then (with
    /// `linkText`) what the entity linker finds in the text.
    public static func link(_ turns: [RetrievalTurn], linkText: Bool, snapshot: GraphSnapshot, index: ConversationIndex) -> [Retrieval.Linked] {
        var linked: [Retrieval.Linked] = []
        for (t, turn) in turns.enumerated() {
            for node in turn.linkedNodes { linked.append(.init(node: node, surface: snapshot.nodes.key(of: node), turn: t)) }
            if linkText { linked += index.linker.link(turn.text).map { .init(node: $0.node, surface: $0.surface, turn: t) } }
        }
        return linked
    }

    /// With a `reasoner`, its top items for the linked context join the PPR seeds
    /// (candidates among them have provenance `.both`).
    public static func retrieve(_ query: RetrievalQuery, snapshot: GraphSnapshot, index: ConversationIndex, view: WalkView,
                                reasoner: ReasonerModel? = nil,
                                engine: PersonalizedPageRank = PersonalizedPageRank()) throws(RetrievalError) -> Retrieval {
        try validate(query.turns)
        guard (1...maxK).contains(query.k) else { throw RetrievalError(.invalidArgument, "k = \(query.k) is outside 1…\(maxK)") }
        guard (0...maxN).contains(query.n) else { throw RetrievalError(.invalidArgument, "n = \(query.n) is outside 0…\(maxN)") }
        guard query.restart > 0, query.restart < 1 else { throw RetrievalError(.invalidArgument, "restart = \(query.restart) must be in (0, 1)") }
        guard query.recencyDecay > 0, query.recencyDecay <= 1 else {
            throw RetrievalError(.invalidArgument, "recency_decay = \(query.recencyDecay) must be in (0, 1]")
        }
        guard (0...RetrievalBounds.maxTextSeeds).contains(query.textSeeds) else {
            throw RetrievalError(.invalidArgument, "text_seeds = \(query.textSeeds) is outside 0…\(RetrievalBounds.maxTextSeeds)")
        }
        guard query.textSeedShare >= 0, query.textSeedShare < 1 else {
            throw RetrievalError(.invalidArgument, "text_seed_share = \(query.textSeedShare) must be in [0, 1)")
        }

        var result = Retrieval()
        var seedWeight: [UInt32: Double] = [:]
        var mentioned = Set<UInt32>()
        let last = query.turns.count - 1
        result.linked = link(query.turns, linkText: query.linkText, snapshot: snapshot, index: index)
        for linked in result.linked {
            mentioned.insert(linked.node)
            seedWeight[linked.node] = max(seedWeight[linked.node] ?? 0, pow(query.recencyDecay, Double(last - linked.turn)))
        }

        var reasonerItems = Set<UInt32>()
        if let reasoner {
            for (node, weight) in reasoner.topItems(context: seedWeight.keys.sorted()) {
                reasonerItems.insert(node)
                seedWeight[node] = (seedWeight[node] ?? 0) + weight
            }
        }
        // Summed in node order, so the result does not depend on the dictionary's order.
        let linkedWeight = seedWeight.sorted { $0.key < $1.key }.reduce(0) { $0 + $1.value }
        for (node, weight) in textSeeds(query, index: index, linkedWeight: linkedWeight) { seedWeight[node, default: 0] += weight }
        var scores: SparseScores? = nil
        if !seedWeight.isEmpty {
            let seeds = seedWeight.sorted { $0.key < $1.key }.map { PPRSeed(node: $0.key, weight: $0.value) }
            do {
                scores = try engine.scores(view: view, seeds: seeds, parameters: PPRParameters(restart: query.restart, tolerance: Self.pprTolerance))
            } catch {
                throw RetrievalError(.invalidArgument, error.description)
            }
        }
        let itemType = index.itemType
        func isCandidate(_ node: UInt32) -> Bool {
            snapshot.nodes.isLive(node) && snapshot.nodes.type(of: node) == itemType && (query.includeMentioned || !mentioned.contains(node))
        }
        var taken = Set<UInt32>()
        for entry in scores?.top(query.k, where: isCandidate) ?? [] {
            taken.insert(entry.node)
            result.candidates.append(.init(node: entry.node, name: ConversationIndex.name(of: entry.node, in: snapshot), score: entry.score,
                                           provenance: reasonerItems.contains(entry.node) ? .both : .ppr,
                                           description: describe(entry.node, snapshot: snapshot, index: index)))
        }
        for node in index.popularItems where result.candidates.count < query.k && isCandidate(node) && taken.insert(node).inserted {
            result.candidates.append(.init(node: node, name: ConversationIndex.name(of: node, in: snapshot), score: 0,
                                           provenance: .popularity, description: describe(node, snapshot: snapshot, index: index)))
        }

        if query.n > 0, let conversationType = index.conversationType, let scores {
            for entry in scores.top(query.n, where: { snapshot.nodes.isLive($0) && snapshot.nodes.type(of: $0) == conversationType }) {
                var recommended: [(edge: Int64, node: UInt32)] = [], topics: [(node: UInt32, weight: Float)] = []
                snapshot.forEachEdge(of: entry.node, direction: .both) { edge, nodeIsSource in
                    let other = nodeIsSource ? edge.record.target : edge.record.source
                    if edge.record.type == index.recommendedType {
                        recommended.append((edge.record.id, other))
                    } else if edge.record.type == index.mentionsType, snapshot.nodes.type(of: other) == index.entityType {
                        topics.append((other, edge.record.weight))
                    }
                    return true
                }
                // In the order they were recommended (edge ids), whatever the layout (see `ItemFacts`).
                recommended.sort { $0.edge < $1.edge }
                topics.sort { $0.weight != $1.weight ? $0.weight > $1.weight : $0.node < $1.node }
                result.similar.append(.init(node: entry.node, score: entry.score, recommended: recommended.prefix(20).map(\.node),
                                            topics: topics.prefix(6).map(\.node),
                                            excerpt: excerpt(snapshot.nodes.text(of: entry.node) ?? "")))
            }
        }
        result.prompt = ConversationPrompt(turns: query.turns, candidates: result.candidates, similar: result.similar, snapshot: snapshot)
        return result
    }

    /// The past conversations closest in words to the last `textSeedTurns` turns,
    /// each with its share of the text seeds' weight (similarity^`textSeedSimilarityPower`,
    /// normalised): together `textSeedShare` of all seed weight, or all of it
    /// when nothing was linked (`linkedWeight` 0).
    static func textSeeds(_ query: RetrievalQuery, index: ConversationIndex, linkedWeight: Double) -> [(node: UInt32, weight: Double)] {
        guard query.textSeeds > 0, query.textSeedShare > 0 || linkedWeight == 0 else { return [] }
        let text = query.turns.suffix(textSeedTurns).map(\.text).joined(separator: "\n")
        let similar = index.conversationText.similar(to: text, limit: query.textSeeds)
        let total = linkedWeight > 0 ? linkedWeight * query.textSeedShare / (1 - query.textSeedShare) : 1
        let sum = similar.reduce(0) { $0 + pow($1.similarity, textSeedSimilarityPower) }
        guard sum > 0 else { return [] }
        return similar.map { ($0.node, total * pow($0.similarity, textSeedSimilarityPower) / sum) }
    }

    /// Up to four KG facts about an item: "director: X; starring: Y, Z" (see
    /// `ItemFacts`); from the index, else (an item newer than the index) read now.
    static func describe(_ node: UInt32, snapshot: GraphSnapshot, index: ConversationIndex) -> String {
        if let description = index.itemDescriptions[node] { return description }
        return ItemFacts(of: node, snapshot: snapshot, labels: index.relationLabels).text(labels: index.relationLabels)
    }

    /// The first 300 characters of a conversation's text, on one line.
    static func excerpt(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " / ")
        return flat.count <= 300 ? flat : String(flat.prefix(300)) + "…"
    }
}

/// An item's first four KG relations in the order they were added, with their first three
/// values each; names are looked up only for values kept.
struct ItemFacts {
    private var facts: [(type: EdgeTypeID, values: [String])] = []
    private var complete = 0

    private init() {}

    /// The facts of `node` from its KG edges in the order they were added (edge
    /// ids), whatever the layout: a compacted graph visits a node's edges in
    /// another order than its delta, and graphds holding the same graph (a
    /// primary and its replicas) must describe items alike. `visit` sees every edge.
    init(of node: UInt32, snapshot: GraphSnapshot, labels: [EdgeTypeID: String], visit: (EdgeView) -> Void = { _ in }) {
        var relations: [(edge: EdgeView, nodeIsSource: Bool)] = []
        snapshot.forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
            visit(edge)
            if labels[edge.record.type] != nil { relations.append((edge, nodeIsSource)) }
            return true
        }
        relations.sort { $0.edge.record.id < $1.edge.record.id }
        for (edge, nodeIsSource) in relations {
            guard add(edge, nodeIsSource: nodeIsSource, snapshot: snapshot, labels: labels) else { break }
        }
    }

    /// Takes `edge` if it is a KG relation with room left; false once full.
    @discardableResult
    private mutating func add(_ edge: EdgeView, nodeIsSource: Bool, snapshot: GraphSnapshot, labels: [EdgeTypeID: String]) -> Bool {
        guard complete < 4 else { return false }
        let type = edge.record.type
        guard labels[type] != nil else { return true }
        let other = nodeIsSource ? edge.record.target : edge.record.source
        if let i = facts.firstIndex(where: { $0.type == type }) {
            guard facts[i].values.count < 3 else { return true }
            facts[i].values.append(ConversationIndex.name(of: other, in: snapshot))
            if facts[i].values.count == 3 { complete += 1 }
        } else if facts.count < 4 {
            facts.append((type, [ConversationIndex.name(of: other, in: snapshot)]))
        }
        return complete < 4
    }

    func text(labels: [EdgeTypeID: String]) -> String {
        facts.map { "\(labels[$0.type] ?? ""): \($0.values.joined(separator: ", "))" }.joined(separator: "; ")
    }
}

/// The prompt for the caller's LLM (template documented in README.md):
/// system part, the dialogue, the candidates with descriptions, similar
/// conversations, and the instruction to pick from the candidates only.
public struct ConversationPrompt: Sendable, Equatable {
    public var system = ""
    public var dialogue = ""
    public var candidates = ""
    public var similar = ""
    public var instruction = ""

    public init() {}

    init(turns: [RetrievalTurn], candidates: [Retrieval.Candidate], similar: [Retrieval.Similar], snapshot: GraphSnapshot) {
        system = """
            You are a movie recommender in a conversation with a user (the SEEKER). Recommend only \
            from the candidate list below, which a knowledge-graph retrieval selected for this dialogue.
            """
        dialogue = "Dialogue so far:\n" + turns.map { "\($0.role.isEmpty ? "USER" : $0.role): \($0.text)" }.joined(separator: "\n")
        self.candidates = "Candidates (best first):\n" + candidates.enumerated().map { i, candidate in
            "\(i + 1). \(candidate.name)" + (candidate.description.isEmpty ? "" : " — \(candidate.description)")
        }.joined(separator: "\n")
        if !similar.isEmpty {
            // Described by their topics and the candidates recommended in them, not by their
            // text: the prompt names no item outside the candidate set.
            let candidateNodes = Set(candidates.map(\.node))
            self.similar = "Similar past conversations:\n" + similar.enumerated().map { i, conversation in
                let topics = conversation.topics.map { ConversationIndex.name(of: $0, in: snapshot) }
                let names = conversation.recommended.filter(candidateNodes.contains).map { ConversationIndex.name(of: $0, in: snapshot) }
                return "\(i + 1). About: " + (topics.isEmpty ? "(no linked topics)" : topics.joined(separator: ", "))
                    + (names.isEmpty ? "" : "\n   Recommended there: " + names.joined(separator: ", "))
            }.joined(separator: "\n")
        }
        instruction = """
            Reply to the SEEKER's last turn: recommend one to three movies from the candidates, by their \
            exact names, and give a short reason for each that refers to the dialogue.
            """
    }

    /// The parts joined by blank lines (empty parts left out).
    public var text: String {
        [system, dialogue, candidates, similar, instruction].filter { !$0.isEmpty }.joined(separator: "\n\n")
    }
}
