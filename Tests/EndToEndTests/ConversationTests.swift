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
        await expectCode(.invalidArgument, "k too large") {
            var bad = Graphd_V1_RetrieveRequest()
            bad.turns = [turn("SEEKER", "hi")]
            bad.k = 500
            _ = try await client.retrieve(bad)
        }
        await expectCode(.invalidArgument, "restart out of range") {
            var bad = Graphd_V1_RetrieveRequest()
            bad.turns = [turn("SEEKER", "hi")]
            bad.restart = 2
            _ = try await client.retrieve(bad)
        }
        // The daemon still serves after the refusals.
        _ = try await client.health()

        let dialogue = scratch.path("dialogue.txt")
        try "RECOMMENDER: Hi!\nSEEKER: Anything like Looper?\n".write(toFile: dialogue, atomically: true, encoding: .utf8)
        let converse = try run(Products.graphctl, ["converse", dialogue, "-k", "2", "--socket", daemon.socket, "--format", "json"])
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
}
