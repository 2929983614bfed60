import Foundation
import GraphCore
import MessagePassing
import Testing
@testable import Conversational
@testable import ConversationContent

/// A tiny INSPIRED-shaped fixture written to a temporary directory.
private func fixture() throws -> (directory: String, knowledge: InspiredKnowledge) {
    let directory = NSTemporaryDirectory() + "crs-fixture-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    func iri(_ name: String) -> String { "<http://dbpedia.org/resource/\(name)>" }
    let entities = [iri("Knives_Out"): 0, iri("Joker"): 1, iri("Action_film"): 2, iri("Rian_Johnson"): 3,
                    iri("Mystery_fiction"): 4, iri("Looper"): 5]
    func write(_ name: String, _ object: Any) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: directory + "/" + name))
    }
    try write("entity2id.json", entities)
    try write("item_ids.json", [0, 1, 5])
    try write("relation2id.json", ["<http://dbpedia.org/ontology/director>": 0, "self_loop": 1])
    try write("dbpedia_subkg.json", ["0": [[0, 3], [1, 0]], "5": [[0, 3]], "1": [[1, 1]]])
    func turn(_ role: String, _ text: String, entities: [String] = [], movies: [String] = []) -> [String: Any] {
        ["role": role, "text": text, "movie": [], "entity_link": entities.map(iri), "entity_name": [],
         "movie_link": movies.map(iri), "movie_name": []]
    }
    let dialogues: [[[String: Any]]] = [
        [turn("RECOMMENDER", "Hi! What do you like?"),
         turn("SEEKER", "Action and mystery.", entities: ["Action_film", "Mystery_fiction"]),
         turn("RECOMMENDER", "Try Knives Out, or Knives Out again.", movies: ["Knives_Out", "Knives_Out", "Unknown_Film"]),
         turn("SEEKER", "Seen it. By Rian Johnson?", entities: ["Rian_Johnson"], movies: ["Knives_Out"]),
         turn("RECOMMENDER", "Then Looper.", entities: ["Looper"], movies: ["Looper"])],
        [turn("SEEKER", "I liked Joker.", movies: ["Joker"]),
         turn("RECOMMENDER", "Nice.")],
        [turn("SEEKER", "Something gritty? I liked Joker.", movies: ["Joker"]),
         turn("RECOMMENDER", "Nice pick.")],
    ]
    let lines = try dialogues.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
    try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/train.jsonl", atomically: true, encoding: .utf8)
    return (directory, try InspiredKnowledge(directory: directory))
}

@Test func samplesFollowTheProtocol() throws {
    let (directory, knowledge) = try fixture()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    #expect(knowledge.triples.count == 2, "self-loops are left out")
    let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
    #expect(dialogues.count == 3)
    #expect(dialogues[0][2].movieIDs == [0, 0], "unknown URIs are dropped")
    let samples = knowledge.samples(dialogues)
    // Turn 2 (gold Knives Out, de-duplicated) and turn 4 (Looper); turn 1 of dialogue 1 names no item.
    #expect(samples == [
        CRSSample(dialog: 0, turn: 2, contextIDs: [2, 4], gold: [0]),
        CRSSample(dialog: 0, turn: 4, contextIDs: [2, 4, 0, 3], gold: [5]),
    ])
}

@Test func pprRanksItemsNearTheContextFirstAndPadsWithPopularOnes() throws {
    let (directory, knowledge) = try fixture()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
    let graph = try ConversationGraph(knowledge: knowledge, training: dialogues)
    func ranked(_ context: [Int], count: Int) throws -> [Int] {
        var query = RetrievalQuery(turns: [RetrievalTurn(role: "SEEKER", text: "", linkedNodes: context.compactMap(graph.node(ofEntity:)))])
        query.k = count
        query.linkText = false
        return try graph.retrieve(query).candidates.compactMap { graph.entity(ofNode: $0.node) }
    }
    // From Rian Johnson, his two films come before Joker, which no walk from him reaches.
    let fromDirector = try ranked([3], count: 3)
    #expect(Set(fromDirector.prefix(2)) == [0, 5])
    #expect(fromDirector.count == 3 && fromDirector[2] == 1)
    // No context: popularity (Knives Out and Looper are recommended once each, Joker never; ties by node).
    #expect(try ranked([], count: 2) == [0, 5])
}

@Suite struct RetrievalTests {
    private func graph() throws -> (ConversationGraph, String) {
        let (directory, knowledge) = try fixture()
        let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
        return (try ConversationGraph(knowledge: knowledge, training: dialogues), directory)
    }

    @Test func candidatesAreItemsRankedFromLinkedText() throws {
        let (graph, directory) = try graph()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var query = RetrievalQuery(turns: [
            RetrievalTurn(role: "RECOMMENDER", text: "Hi! What do you like?"),
            RetrievalTurn(role: "SEEKER", text: "Anything by Rian Johnson."),
        ])
        query.k = 3
        query.n = 1
        let result = try graph.retrieve(query)
        #expect(result.linked.map(\.surface) == ["rian johnson"] && result.linked.first?.turn == 1)
        let snapshot = graph.state.snapshot
        let itemType = try #require(snapshot.schema.nodeTypeID("item"))
        #expect(result.candidates.allSatisfy { snapshot.nodes.type(of: $0.node) == itemType })
        #expect(result.candidates.map(\.name) == ["Knives Out", "Looper", "Joker"] || result.candidates.map(\.name) == ["Looper", "Knives Out", "Joker"])
        #expect(result.candidates.map(\.provenance) == [.ppr, .ppr, .popularity])
        #expect(result.candidates[0].description.contains("director: Rian Johnson"))
        // The training conversation that talks about Rian Johnson, with what was recommended in it.
        let similar = try #require(result.similar.first)
        #expect(snapshot.nodes.key(of: similar.node) == "train/0")
        #expect(Set(similar.recommended.map { snapshot.nodes.key(of: $0) }) == ["0", "5"])
    }

    /// Nothing links, but the words match past conversations: they seed the walk.
    @Test func pastConversationsCloseInWordsSeedTheWalk() throws {
        let (graph, directory) = try graph()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(graph.index.conversationText.count == 2, "train/0 shares no word with the others")
        var query = RetrievalQuery(turns: [RetrievalTurn(role: "SEEKER", text: "Gritty stuff, nothing cheerful. I liked that kind.")])
        query.k = 2
        query.n = 2
        let result = try graph.retrieve(query)
        #expect(result.linked.isEmpty)
        #expect(result.candidates.first?.name == "Joker")
        #expect(result.candidates.first?.provenance == .ppr)
        let snapshot = graph.state.snapshot
        #expect(Set(result.similar.map { snapshot.nodes.key(of: $0.node) }) == ["train/1", "train/2"])
        // Without text seeds nothing seeds the walk: the most recommended items.
        query.textSeeds = 0
        let cold = try graph.retrieve(query)
        #expect(cold.candidates.map(\.name) == ["Knives Out", "Looper"])
        #expect(cold.candidates.allSatisfy { $0.provenance == .popularity })
        // With links, the text seeds carry only their share of the seed weight:
        // a large share puts their item first, a small one after the linked director's films.
        query.textSeeds = 100
        query.turns.append(RetrievalTurn(role: "SEEKER", text: "Anything by Rian Johnson?"))
        query.k = 3
        query.textSeedShare = 0.5
        #expect(try graph.retrieve(query).candidates.first?.name == "Joker")
        query.textSeedShare = 0.1
        let mixed = try graph.retrieve(query)
        #expect(Set(mixed.candidates.prefix(2).map(\.name)) == ["Knives Out", "Looper"])
        #expect(mixed.candidates.last?.name == "Joker" && mixed.candidates.allSatisfy { $0.provenance == .ppr })
    }

    @Test func thePromptHoldsTheDialogueAndOnlyCandidateItems() throws {
        let (graph, directory) = try graph()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var query = RetrievalQuery(turns: [RetrievalTurn(role: "SEEKER", text: "I like films by Rian Johnson and mystery fiction.")])
        query.k = 1
        query.n = 2
        let result = try graph.retrieve(query)
        let prompt = result.prompt.text
        #expect(prompt.contains("SEEKER: I like films by Rian Johnson and mystery fiction."))
        #expect(result.candidates.count == 1)
        #expect(prompt.contains(result.candidates[0].name))
        let snapshot = graph.state.snapshot
        let itemType = try #require(snapshot.schema.nodeTypeID("item"))
        let outside = (0..<UInt32(snapshot.nodes.idCount)).filter {
            snapshot.nodes.type(of: $0) == itemType && $0 != result.candidates[0].node
        }.map { ConversationIndex.name(of: $0, in: snapshot) }
        #expect(outside.count == 2)
        for name in outside { #expect(!prompt.contains(name), "\(name) is not a candidate") }
        #expect(prompt.contains("Recommend only from the candidate list"))
    }

    @Test func mentionedItemsAreLeftOutUnlessAsked() throws {
        let (graph, directory) = try graph()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var query = RetrievalQuery(turns: [RetrievalTurn(role: "SEEKER", text: "Knives Out was great.")])
        query.k = 3
        #expect(!(try graph.retrieve(query)).candidates.contains { $0.name == "Knives Out" })
        query.includeMentioned = true
        #expect(try graph.retrieve(query).candidates.contains { $0.name == "Knives Out" })
    }

    @Test(arguments: ["no turns", "k = 0", "k too large", "n too large", "restart 1", "decay 0", "long turn", "long role",
                      "text seeds too many", "text seed share 1", "text seed share NaN"])
    func badQueriesAreRefused(_ name: String) throws {
        let (graph, directory) = try graph()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var query = RetrievalQuery(turns: [RetrievalTurn(role: "SEEKER", text: "hello")])
        switch name {
        case "no turns": query.turns = []
        case "k = 0": query.k = 0
        case "k too large": query.k = 201
        case "n too large": query.n = 51
        case "restart 1": query.restart = 1
        case "decay 0": query.recencyDecay = 0
        case "long role": query.turns[0].role = String(repeating: "R", count: 65)
        case "text seeds too many": query.textSeeds = 201
        case "text seed share 1": query.textSeedShare = 1
        case "text seed share NaN": query.textSeedShare = .nan
        default: query.turns[0].text = String(repeating: "a", count: 20_000)
        }
        #expect(throws: RetrievalError.self, "\(name)") { try graph.retrieve(query) }
    }
}

@Suite struct ReasonerTests {
    private func setUp() throws -> (ReasonerGraph, [ReasonerGraph.Sample], String) {
        let (directory, knowledge) = try fixture()
        let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
        let graph = try ConversationGraph(knowledge: knowledge, training: dialogues)
        let reasoner = try ReasonerGraph(snapshot: graph.state.snapshot, index: graph.index)
        return (reasoner, reasoner.samples(snapshot: graph.state.snapshot, index: graph.index), directory)
    }

    @Test func samplesComeFromRecommendedItems() throws {
        let (graph, samples, directory) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(graph.nodeCount == 6 && graph.itemRows.count == 3 && graph.relationNames == ["kg_director"])
        // Dialogue 0 recommends Knives Out and Looper; dialogue 1 recommends nothing.
        #expect(samples.count == 2)
        #expect(samples.allSatisfy { !$0.context.contains(graph.itemRows[$0.target]) })
    }

    /// Every tensor's gradient against central differences of the loss.
    @Test func gradientMatchesFiniteDifferences() throws {
        let (graph, samples, directory) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let p = ReasonerParameters(nodeCount: graph.nodeCount, relationCount: 1, dimension: 4, seed: 3)
        let (_, gradient) = try GraphReasoner.lossAndGradient(p, graph: graph, samples: samples, weightDecay: 0.1, embeddingDecay: 0.05)
        var generator = SplitMix(seed: 5)
        var checked = 0
        for t in p.tensors.indices {
            for _ in 0..<6 {
                let i = Int(generator.next() % UInt64(p.tensors[t].values.count))
                let h: Float = 1e-2
                var plus = p, minus = p
                plus.tensors[t].values[i] += h
                minus.tensors[t].values[i] -= h
                let numeric = (try GraphReasoner.lossAndGradient(plus, graph: graph, samples: samples, weightDecay: 0.1, embeddingDecay: 0.05).loss
                    - GraphReasoner.lossAndGradient(minus, graph: graph, samples: samples, weightDecay: 0.1, embeddingDecay: 0.05).loss) / (2 * h)
                let analytic = gradient.tensors[t].values[i]
                #expect(abs(numeric - analytic) <= 2e-3 + 2e-2 * abs(numeric), "tensor \(t)[\(i)]: numeric \(numeric), analytic \(analytic)")
                checked += 1
            }
        }
        #expect(checked == 18)
    }

    @Test func adamStepsLowerTheLoss() throws {
        let (graph, _, directory) = try setUp()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Rows follow entity ids here; items 0, 1, 5 are positions 0, 1, 2.
        // Rian Johnson → Looper, action → Knives Out, mystery → Joker.
        let samples = [ReasonerGraph.Sample(context: [3], target: 2), ReasonerGraph.Sample(context: [2], target: 0),
                       ReasonerGraph.Sample(context: [4], target: 1)]
        var p = ReasonerParameters(nodeCount: graph.nodeCount, relationCount: 1, dimension: 8, seed: 1)
        let initial = try GraphReasoner.lossAndGradient(p, graph: graph, samples: samples, weightDecay: 0).loss
        var adam = AdamOptimizer(like: p.tensors, learningRate: 0.05)
        for _ in 0..<60 {
            let (_, gradient) = try GraphReasoner.lossAndGradient(p, graph: graph, samples: samples, weightDecay: 0)
            adam.update(&p.tensors, gradient: gradient.tensors)
        }
        let final = try GraphReasoner.lossAndGradient(p, graph: graph, samples: samples, weightDecay: 0).loss
        #expect(final < initial * 0.5, "loss \(initial) → \(final)")
        // The trained states rank each sample's gold item first.
        let states = try GraphReasoner.states(p, graph: graph)
        for sample in samples {
            let scores = GraphReasoner.itemScores(states: states, graph: graph, context: sample.context)
            #expect(scores.indices.max(by: { scores[$0] < scores[$1] }) == sample.target)
        }
    }
}

/// A candidate's description: at most four KG relations, three values each,
/// relation labels without the prefix and with spaces, no non-KG edges.
@Test func descriptionsKeepFourRelationsOfThreeValues() throws {
    var state = GraphState()
    let relations = ["kg_starring", "kg_director", "kg_music_composer", "kg_writer", "kg_producer"]
    state.apply(try state.planDefineTypes(nodeTypes: [NodeTypeInput(name: ConversationSchema.item), NodeTypeInput(name: ConversationSchema.entity),
                                                      NodeTypeInput(name: ConversationSchema.conversation)],
                                          edgeTypes: relations.map { EdgeTypeInput(name: $0, directed: false) }
                                              + [EdgeTypeInput(name: ConversationSchema.mentions, directed: false)]))
    let item = NodeRefInput(type: ConversationSchema.item, key: "film")
    var nodes = [NodeInput(type: item.type, key: item.key, text: "Film"), NodeInput(type: ConversationSchema.conversation, key: "c", text: "talk")]
    var edges = [EdgeInput(type: ConversationSchema.mentions, source: NodeRefInput(type: ConversationSchema.conversation, key: "c"), target: item)]
    // Values per relation: 4, 1, 2, 3, 1 — the fifth relation must not show.
    for (relation, count) in zip(relations, [4, 1, 2, 3, 1]) {
        for v in 0..<count {
            let key = "\(relation)-\(v)"
            nodes.append(NodeInput(type: ConversationSchema.entity, key: key, text: "Name \(key)"))
            edges.append(EdgeInput(type: relation, source: item, target: NodeRefInput(type: ConversationSchema.entity, key: key)))
        }
    }
    // The starring edges added in the reverse order of their nodes' creation: a
    // compacted graph visits them by node id, the order they were added is 3, 2, 1, 0.
    let starring = edges.filter { $0.type == "kg_starring" }
    edges = edges.filter { $0.type == ConversationSchema.mentions } + starring.reversed()
        + edges.filter { $0.type != "kg_starring" && $0.type != ConversationSchema.mentions }
    state.apply(try state.planAddNodes(nodes))
    state.apply(try state.planAddEdges(edges, requireExistingNodes: true, nowMs: 1))
    let expected = [
        "starring: Name kg_starring-3, Name kg_starring-2, Name kg_starring-1",
        "director: Name kg_director-0",
        "music composer: Name kg_music_composer-0, Name kg_music_composer-1",
        "writer: Name kg_writer-0, Name kg_writer-1, Name kg_writer-2",
    ].joined(separator: "; ")
    // Facts come in the order their edges were added; the mentions edge is not a fact.
    let snapshot = state.snapshot
    let index = try ConversationIndex(snapshot: snapshot)
    let node = try #require(index.entityNode(key: "film", in: snapshot))
    #expect(ConversationRetriever.describe(node, snapshot: snapshot, index: index) == expected)
    #expect(index.itemDescriptions[node] == expected)
    // The same graph compacted (its edges now in the base, visited in another
    // order): the same description, as a replica that compacted at another
    // moment than its primary must give.
    try state.compact(topology: try IgraphTopology())
    let compacted = try ConversationIndex(snapshot: state.snapshot)
    #expect(ConversationRetriever.describe(node, snapshot: state.snapshot, index: compacted) == expected)
    #expect(compacted.itemDescriptions[node] == expected)
}
