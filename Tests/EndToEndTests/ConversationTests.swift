import Foundation
import GraphdClient
import GraphdProto
import Testing
import TTRPC

/// graphd.v1.Conversation against a real daemon: `graphctl import inspired`,
/// Retrieve with text and with caller-linked ids, bad input, `graphctl converse`.
@Suite(.serialized) struct ConversationTests {
    /// Three films, a director, a genre; two training dialogues.
    private func writeDataset(_ scratch: Scratch) throws -> String {
        let directory = scratch.path("inspired")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func iri(_ name: String) -> String { "<http://dbpedia.org/resource/\(name)>" }
        func write(_ name: String, _ object: Any) throws {
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        try write("entity2id.json", [iri("Brick_(film)"): 0, iri("Looper_(film)"): 1, iri("Rian_Johnson"): 2,
                                     iri("Mystery_film"): 3, iri("Paddington_(film)"): 4])
        try write("item_ids.json", [0, 1, 4])
        try write("relation2id.json", ["<http://dbpedia.org/ontology/director>": 0, "<http://dbpedia.org/ontology/genre>": 1])
        try write("dbpedia_subkg.json", ["0": [[0, 2], [1, 3]], "1": [[0, 2]]])
        func turn(_ role: String, _ text: String, entities: [(String, String)] = [], movies: [(String, String)] = []) -> [String: Any] {
            ["role": role, "text": text, "movie": [], "entity_link": entities.map { iri($0.0) }, "entity_name": entities.map(\.1),
             "movie_link": movies.map { iri($0.0) }, "movie_name": movies.map(\.1)]
        }
        let dialogues: [[[String: Any]]] = [
            [turn("SEEKER", "I want a whodunit.", entities: [("Mystery_film", "whodunit")]),
             turn("RECOMMENDER", "Brick is a great whodunit.", entities: [("Mystery_film", "whodunit")], movies: [("Brick_(film)", "Brick")])],
            [turn("SEEKER", "Something for kids?"),
             turn("RECOMMENDER", "Paddington!", movies: [("Paddington_(film)", "Paddington")])],
            [turn("SEEKER", "I liked Looper.", movies: [("Looper_(film)", "Looper")]),
             turn("RECOMMENDER", "Then Brick.", movies: [("Brick_(film)", "Brick")])],
        ]
        let lines = try dialogues.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/train_data_dbpedia.jsonl", atomically: true, encoding: .utf8)
        return directory
    }

    /// A daemon on `scratch` (socket c.sock, store c.sqlite) with the fixture's
    /// training dialogues imported by graphctl, and a client.
    private func importedDaemon(_ scratch: Scratch) async throws -> (Daemon, GraphClient) {
        let data = try writeDataset(scratch)
        let daemon = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
        try await daemon.waitUntilServing()
        let imported = try run(Products.graphctl, ["import", "inspired", "--data-dir", data, "--socket", daemon.socket,
                                                   data + "/train_data_dbpedia.jsonl"])
        #expect(imported.status == 0, "\(imported.stderr)")
        return (daemon, try await daemon.client())
    }

    private func turn(_ role: String, _ text: String, keys: [String] = []) -> Graphd_V1_DialogueTurn {
        var turn = Graphd_V1_DialogueTurn()
        turn.role = role
        turn.text = text
        turn.entityKeys = keys
        return turn
    }

    /// New entities are linked once the index catches up (rebuilt aside while
    /// Retrieve answers from the previous one); a removed entity is never
    /// linked again, not even by the next request.
    @Test func theEntityIndexFollowsTheGraph() async throws {
        let scratch = Scratch()
        let (daemon, client) = try await importedDaemon(scratch)
        var request = Graphd_V1_RetrieveRequest()
        request.turns = [turn("SEEKER", "Something like Knives Out?")]
        #expect(try await client.retrieve(request).linked.isEmpty)

        var add = Graphd_V1_AddNodesRequest()
        var node = Graphd_V1_Node()
        node.type = "entity"
        node.key = "Knives_Out"
        node.text = "Knives Out"
        add.nodes = [node]
        _ = try await client.addNodes(add)
        var linked: [String] = []
        for _ in 0..<200 where linked.isEmpty {
            linked = try await client.retrieve(request).linked.map(\.node.key)
            if linked.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(linked == ["Knives_Out"])

        var remove = Graphd_V1_RemoveNodesRequest()
        remove.nodes = [Graphd_V1_NodeRef(type: "entity", key: "Knives_Out")]
        _ = try await client.removeNodes(remove)
        #expect(try await client.retrieve(request).linked.isEmpty)
        await client.close()
        _ = await daemon.terminate()
    }

    @Test func importRetrieveAndConverse() async throws {
        let scratch = Scratch()
        let (daemon, client) = try await importedDaemon(scratch)

        // Text only: "whodunit" is an alias learned from the training dialogues (seen twice).
        var request = Graphd_V1_RetrieveRequest()
        request.turns = [turn("RECOMMENDER", "What are you in the mood for?"), turn("SEEKER", "A whodunit, maybe by Rian Johnson.")]
        request.k = 3
        request.n = 1
        var response = try await client.retrieve(request)
        #expect(Set(response.linked.map(\.surface)) == ["whodunit", "rian johnson"])
        #expect(response.linked.allSatisfy { $0.turn == 1 })
        #expect(response.candidates.allSatisfy { $0.item.type == "item" })
        #expect(response.candidates.map(\.name).prefix(2).sorted() == ["Brick (film)", "Looper (film)"])
        #expect(response.candidates.map(\.provenance) == [.ppr, .ppr, .popularity])
        #expect(response.similar.first?.conversation.key == "train_data_dbpedia/0")
        #expect(response.similar.first?.recommended.map(\.key) == ["0"])
        #expect(response.prompt.text.contains("SEEKER: A whodunit, maybe by Rian Johnson."))
        for candidate in response.candidates { #expect(response.prompt.candidates.contains(candidate.name)) }

        // Caller-linked ids, no text linking: the same films first.
        request.turns = [turn("SEEKER", "…", keys: ["2"])]
        request.skipTextLinking = true
        response = try await client.retrieve(request)
        #expect(response.linked.map(\.node.key) == ["2"])
        #expect(response.candidates.map(\.name).prefix(2).sorted() == ["Brick (film)", "Looper (film)"])

        await expectCode(.invalidArgument, "unknown entity key") {
            var bad = Graphd_V1_RetrieveRequest()
            bad.turns = [turn("SEEKER", "hi", keys: ["999"])]
            _ = try await client.retrieve(bad)
        }
        await expectCode(.invalidArgument, "no turns") { _ = try await client.retrieve(Graphd_V1_RetrieveRequest()) }
        let refusals: [(String, (inout Graphd_V1_RetrieveRequest) -> Void)] = [
            ("k too large", { $0.k = 500 }),
            ("restart out of range", { $0.restart = 2 }),
            ("too many text seeds", { $0.textSeeds = 201 }),
            ("text seed share 1", { $0.textSeedShare = 1 }),
        ]
        for (label, spoil) in refusals {
            var bad = Graphd_V1_RetrieveRequest()
            bad.turns = [turn("SEEKER", "hi")]
            spoil(&bad)
            await expectCode(.invalidArgument, label) { _ = try await client.retrieve(bad) }
        }
        // The daemon still serves after the refusals.
        _ = try await client.health()

        let dialogue = scratch.path("dialogue.txt")
        try "RECOMMENDER: Hi!\nSEEKER: Anything like Looper?\n".write(toFile: dialogue, atomically: true, encoding: .utf8)
        let converse = try run(Products.graphctl, ["converse", dialogue, "-k", "2", "--text-seeds", "20", "--text-seed-share", "0.2",
                                                   "--socket", daemon.socket, "--format", "json"])
        #expect(converse.status == 0, "\(converse.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(converse.stdout.utf8)) as? [String: Any]
        let candidates = json?["candidates"] as? [[String: Any]] ?? []
        #expect(candidates.count == 2)
        #expect(candidates.first?["name"] as? String == "Brick (film)", "Looper's neighbour through Rian Johnson; Looper itself is mentioned")
        #expect((json?["prompt"] as? [String: Any])?["text"] as? String != nil)

        // The reasoner: refused before training, trained by graphctl, then used, and kept across a restart.
        var withReasoner = Graphd_V1_RetrieveRequest()
        withReasoner.turns = [turn("SEEKER", "I liked Looper.")]
        withReasoner.k = 2
        withReasoner.useReasoner = true
        await expectCode(.failedPrecondition, "reasoner not trained") { _ = try await client.retrieve(withReasoner) }
        let trained = try run(Products.graphctl, ["train", "reasoner", "--epochs", "30", "--socket", daemon.socket, "--format", "json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let figures = try JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any]
        #expect((figures?["training_examples"] as? Int ?? 0) + (figures?["validation_examples"] as? Int ?? 0) == 2)
        let progress = try await client.trainReasonerProgress()
        #expect(!progress.running && progress.outcome == "ok" && progress.maxEpochs == 30, "\(progress)")
        #expect(Int(progress.epoch) == figures?["epochs"] as? Int, "the job graphctl ran")
        let shown = try run(Products.graphctl, ["train", "progress", "reasoner", "--socket", daemon.socket])
        #expect(shown.status == 0 && shown.stdout.hasPrefix("finished (ok): epoch \(progress.epoch)/30"), "\(shown.stdout)\(shown.stderr)")
        response = try await client.retrieve(withReasoner)
        #expect(response.candidates.contains { $0.provenance == .both }, "the reasoner's items are among the candidates")
        // A live dialogue arrives: the reasoner laid onto the smaller graph answers while
        // it is laid onto the grown one aside, and then the new one answers.
        var live = Graphd_V1_AddEdgesRequest()
        var mention = Graphd_V1_Edge()
        mention.type = "mentions"
        mention.source = Graphd_V1_NodeRef(type: "conversation", key: "live/1")
        mention.target = Graphd_V1_NodeRef(type: "item", key: "2")
        live.edges = [mention]
        _ = try await client.addEdges(live)
        for _ in 0..<3 {
            #expect(try await client.retrieve(withReasoner).candidates.contains { $0.provenance == .both })
            try await Task.sleep(for: .milliseconds(100))
        }
        await expectCode(.invalidArgument, "too many reasoner seeds") {
            var bad = withReasoner
            bad.reasonerSeeds = 1000
            _ = try await client.retrieve(bad)
        }
        await client.close()
        _ = await daemon.terminate()
        let restarted = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
        try await restarted.waitUntilServing()
        let again = try await restarted.client()
        #expect(try await again.retrieve(withReasoner).candidates.contains { $0.provenance == .both })
        await again.close()
        _ = await restarted.terminate()
    }

    /// AddConversation: a live dialogue becomes a conversation node that later
    /// retrievals walk through; sent again, it grows; bad requests write nothing.
    @Test func liveDialoguesBecomeConversations() async throws {
        let scratch = Scratch()
        let (daemon, client) = try await importedDaemon(scratch)
        var add = Graphd_V1_AddConversationRequest()
        add.key = "live/1"
        add.turns = [turn("SEEKER", "I loved Looper."), turn("recommender", "Then Paddington.")]
        var added = try await client.addConversation(add)
        #expect(added.created && added.conversation.type == "conversation" && added.conversation.key == "live/1")
        #expect(added.linked.map(\.node.key) == ["1", "4"] && added.linked.map(\.turn) == [0, 1])
        // Looper is the seeker's; Paddington, linked in a recommender turn (any case), is recommended.
        #expect(added.mentions == 2 && added.recommended.map(\.key) == ["4"])

        // A later dialogue about Looper finds it among the similar conversations, with what it recommended.
        var retrieve = Graphd_V1_RetrieveRequest()
        retrieve.turns = [turn("SEEKER", "Anything like Looper?")]
        retrieve.n = 5
        let similar = try await client.retrieve(retrieve).similar
        let live = try #require(similar.first { $0.conversation.key == "live/1" }, "\(similar.map(\.conversation.key))")
        #expect(live.recommended.map(\.key) == ["4"])

        // The session grows: the text and the counts follow; an item recommended outside the text joins.
        add.turns.append(turn("SEEKER", "Looper twice, then?"))
        add.recommendedItemKeys = ["0"]
        added = try await client.addConversation(add)
        #expect(!added.created && added.mentions == 2 && added.recommended.map(\.key) == ["4", "0"])
        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = Graphd_V1_NodeRef(type: "conversation", key: "live/1")
        neighbors.edgeTypes = ["mentions"]
        let mentions = try await client.neighbors(neighbors).neighbors
        #expect(mentions.first { $0.node.key == "1" }?.weight == 2 && mentions.first { $0.node.key == "4" }?.weight == 1)
        var getNode = Graphd_V1_GetNodeRequest()
        getNode.node = neighbors.node
        #expect(try await client.getNode(getNode).node.text == "SEEKER: I loved Looper.\nrecommender: Then Paddington.\nSEEKER: Looper twice, then?")

        // A session that grows by words alone (nothing new linked) is searched by its new words:
        // two other conversations make "zany" a word of the index, then live/1 says it too.
        func similarKeys(_ text: String) async throws -> Set<String> {
            var request = Graphd_V1_RetrieveRequest()
            request.turns = [turn("SEEKER", text)]
            request.n = 5
            return Set(try await client.retrieve(request).similar.map(\.conversation.key))
        }
        func eventually(_ text: String, contains keys: Set<String>) async throws -> Set<String> {
            var found: Set<String> = []
            for _ in 0..<200 {
                found = try await similarKeys(text)
                if found.isSuperset(of: keys) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            return found
        }
        for key in ["zany/1", "zany/2"] {
            var other = Graphd_V1_AddConversationRequest()
            other.key = key
            other.turns = [turn("SEEKER", "Something zany and offbeat.")]
            _ = try await client.addConversation(other)
        }
        #expect(try await eventually("zany offbeat", contains: ["zany/1", "zany/2"]).isSuperset(of: ["zany/1", "zany/2"]))
        add.turns.append(turn("SEEKER", "Or anything zany and offbeat."))
        added = try await client.addConversation(add)
        #expect(!added.created && added.mentions == 2 && added.recommended.map(\.key) == ["4", "0"], "no new edge")
        #expect(try await eventually("zany offbeat", contains: ["live/1"]).contains("live/1"))

        // graphctl conversation add, from a file of 'ROLE: text' lines.
        let dialogue = scratch.path("live.txt")
        try "SEEKER: A whodunit please.\nRECOMMENDER: Brick.\n".write(toFile: dialogue, atomically: true, encoding: .utf8)
        let cli = try run(Products.graphctl, ["conversation", "add", "live/2", dialogue, "--socket", daemon.socket, "--format", "json"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [String: Any]
        #expect(json?["created"] as? Bool == true && (json?["recommended"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["0"])

        // The Python gateway example: retrieve, let the (stand-in) LLM pick, store the session.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = root.appendingPathComponent("clients/python/examples/converse.py").path
        let session = scratch.path("session.txt")
        try "RECOMMENDER: Hi! What do you like?\nSEEKER: Anything by Rian Johnson?\n".write(toFile: session, atomically: true, encoding: .utf8)
        let python = try run("/usr/bin/env", ["python3", example, "--socket", daemon.socket, "--session", "py-1", session])
        #expect(python.status == 0, "\(python.stdout)\(python.stderr)")
        #expect(python.stdout.hasPrefix("RECOMMENDER: You might like ") && python.stderr.contains("stored conversation py-1"), "\(python.stdout)\(python.stderr)")
        neighbors.node = Graphd_V1_NodeRef(type: "conversation", key: "py-1")
        neighbors.edgeTypes = ["recommended"]
        #expect(try await client.neighbors(neighbors).neighbors.count == 1, "the item the example chose is recorded")

        func bad(_ change: (inout Graphd_V1_AddConversationRequest) -> Void) -> Graphd_V1_AddConversationRequest {
            var request = Graphd_V1_AddConversationRequest()
            request.key = "bad"
            request.turns = [turn("SEEKER", "I loved Looper.")]
            change(&request)
            return request
        }
        let refused: [(String, Graphd_V1_AddConversationRequest)] = [
            ("empty key", bad { $0.key = "" }),
            ("key over 256 bytes", bad { $0.key = String(repeating: "k", count: 257) }),
            ("no turns", bad { $0.turns = [] }),
            ("unknown entity key", bad { $0.turns = [self.turn("SEEKER", "hi", keys: ["999"])] }),
            ("recommended key of a non-item", bad { $0.recommendedItemKeys = ["2"] }),
            ("turn text over 16 KiB", bad { $0.turns = [self.turn("SEEKER", String(repeating: "a", count: 16 * 1024 + 1))] }),
            ("dialogue text over 1 MiB", bad { $0.turns = Array(repeating: self.turn("SEEKER", String(repeating: "a", count: 16_000)), count: 70) }),
        ]
        for (label, request) in refused {
            await expectCode(.invalidArgument, label) { _ = try await client.addConversation(request) }
        }
        getNode.node = Graphd_V1_NodeRef(type: "conversation", key: "bad")
        await expectCode(.notFound, "nothing written by the refused requests") { _ = try await client.getNode(getNode) }
        await client.close()
        _ = await daemon.terminate()

        // A graph without conversations: a clear precondition, not a write.
        let empty = try Daemon(socket: scratch.path("e.sock"), store: scratch.path("e.sqlite"))
        try await empty.waitUntilServing()
        let emptyClient = try await empty.client()
        await expectCode(.failedPrecondition, "no conversation graph") { _ = try await emptyClient.addConversation(bad { _ in }) }
        await emptyClient.close()
        _ = await empty.terminate()
    }
}
