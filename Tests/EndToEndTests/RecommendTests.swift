import Foundation
import GraphdClient
import GraphdProto
import Testing

/// graphd.v1.Recommend against a real daemon.
@Suite(.serialized) struct RecommendTests {
    /// Users u0…u29 each interact with a window of items; a few shared items
    /// make co-occurrence walks meaningful.
    private func load(_ client: GraphClient) async throws {
        var request = Graphd_V1_AddEdgesRequest()
        for u in 0..<30 {
            for offset in 0..<6 {
                request.edges.append(makeEdge("interacted", ("user", "u\(u)"), ("item", "i\((u * 2 + offset) % 50)")))
            }
        }
        _ = try await client.addEdges(request)
    }

    private func recommend(_ client: GraphClient, _ user: String, k: UInt32 = 10, scorer: Graphd_V1_Scorer = .rp3Beta,
                           includeInteracted: Bool = false) async throws -> [String] {
        var request = Graphd_V1_RecommendRequest()
        request.user = Graphd_V1_NodeRef(type: "user", key: user)
        request.k = k
        request.scorer = scorer
        request.includeInteracted = includeInteracted
        return try await client.recommend(request).items.map(\.item.key)
    }

    private func ownItems(_ client: GraphClient, _ user: String) async throws -> Set<String> {
        var request = Graphd_V1_NeighborsRequest()
        request.node = Graphd_V1_NodeRef(type: "user", key: user)
        request.limit = 1000
        return Set(try await client.neighbors(request).neighbors.map(\.node.key))
    }

    @Test func recommendationsLeaveOutOwnItemsAreDeterministicAndSeeNewEdges() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("r.sock"), store: scratch.path("r.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        try await load(client)

        for scorer in [Graphd_V1_Scorer.rp3Beta, .graphFilter, .polynomialFilter, .ppr] {
            let own = try await ownItems(client, "u3")
            let items = try await recommend(client, "u3", scorer: scorer)
            #expect(!items.isEmpty, "\(scorer)")
            #expect(own.isDisjoint(with: items), "\(scorer) returned the user's own items")
            #expect(try await recommend(client, "u3", scorer: scorer) == items, "\(scorer) is not deterministic")
            // Asked to, it may return them (the user's items are the strongest walks back).
            let withOwn = try await recommend(client, "u3", k: 20, scorer: scorer, includeInteracted: true)
            #expect(!own.isDisjoint(with: withOwn), "\(scorer) with include_interacted")
        }

        // A new item shared only with a brand-new user who also has u3's items:
        // it must appear at once (delta), and the answer must not change after compaction.
        var request = Graphd_V1_AddEdgesRequest()
        for item in try await ownItems(client, "u3") { request.edges.append(makeEdge("interacted", ("user", "fan"), ("item", item))) }
        request.edges.append(makeEdge("interacted", ("user", "fan"), ("item", "fresh")))
        _ = try await client.addEdges(request)
        for scorer in [Graphd_V1_Scorer.rp3Beta, .ppr] {
            let beforeCompaction = try await recommend(client, "u3", scorer: scorer)
            #expect(beforeCompaction.contains("fresh"), "\(scorer) does not see the delta: \(beforeCompaction)")
            _ = try await client.compact()
            let afterCompaction = try await recommend(client, "u3", scorer: scorer)
            #expect(afterCompaction.contains("fresh"), "\(scorer) after compaction: \(afterCompaction)")
        }
        // The user's own new edge removes the item from their recommendations at once.
        var own = Graphd_V1_AddEdgesRequest()
        own.edges = [makeEdge("interacted", ("user", "u3"), ("item", "fresh"))]
        _ = try await client.addEdges(own)
        #expect(!(try await recommend(client, "u3")).contains("fresh"))

        // Stats says how fresh the models are.
        let stats = try await client.stats()
        #expect(stats.models.contains { $0.name.hasPrefix("recommend/graph_filter") })
        await client.close()
    }

    @Test func explanationsNameTheUsersItemsAndFiltersApply() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("e.sock"), store: scratch.path("e.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        try await load(client)
        let own = try await ownItems(client, "u5")
        var request = Graphd_V1_RecommendRequest()
        request.user = Graphd_V1_NodeRef(type: "user", key: "u5")
        request.k = 5
        request.explain = true
        let response = try await client.recommend(request)
        #expect(response.items.count == 5)
        for item in response.items {
            #expect(!item.because.isEmpty)
            #expect(item.because.allSatisfy { own.contains($0.node.key) && $0.share > 0 && $0.share <= 1 })
        }
        request.excludeKeys = [response.items[0].item.key]
        request.itemKeyPrefix = "i1"
        let filtered = try await client.recommend(request)
        #expect(filtered.items.allSatisfy { $0.item.key.hasPrefix("i1") && $0.item.key != response.items[0].item.key })
        await client.close()
    }

    @Test func personalizedPageRankRanksByTypeAndRespectsExclusions() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("p.sock"), store: scratch.path("p.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        try await load(client)
        var request = Graphd_V1_PersonalizedPageRankRequest()
        var seed = Graphd_V1_Seed()
        seed.node = Graphd_V1_NodeRef(type: "user", key: "u7")
        request.seeds = [seed]
        request.topKByType = ["item": 5, "user": 3]
        request.exclude = [Graphd_V1_NodeRef(type: "user", key: "u7")]
        let response = try await client.personalizedPageRank(request)
        let items = try #require(response.top["item"]).nodes, users = try #require(response.top["user"]).nodes
        #expect(items.count == 5 && items.allSatisfy { $0.node.type == "item" })
        #expect(users.count == 3 && users.allSatisfy { $0.node.type == "user" && $0.node.key != "u7" })
        #expect(zip(items, items.dropFirst()).allSatisfy { $0.score >= $1.score })
        // The seed's own items rank first among items.
        let own = try await ownItems(client, "u7")
        #expect(own.contains(items[0].node.key))
        await client.close()
    }

    @Test func badRequestsGetClearStatuses() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("x.sock"), store: scratch.path("x.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        try await load(client)
        await expectCode(.notFound, "unknown user") { _ = try await recommend(client, "nobody") }
        await expectCode(.invalidArgument, "k = 0") { _ = try await recommend(client, "u1", k: 0) }
        await expectCode(.invalidArgument, "k too large") { _ = try await recommend(client, "u1", k: 1001) }
        await expectCode(.invalidArgument, "no user") {
            var request = Graphd_V1_RecommendRequest()
            request.k = 5
            _ = try await client.recommend(request)
        }
        await expectCode(.notFound, "unknown edge type") {
            var request = Graphd_V1_RecommendRequest()
            request.user = Graphd_V1_NodeRef(type: "user", key: "u1")
            request.k = 5
            request.edgeTypes = ["nope"]
            _ = try await client.recommend(request)
        }
        func ppr(_ configure: (inout Graphd_V1_PersonalizedPageRankRequest) -> Void) async throws {
            var request = Graphd_V1_PersonalizedPageRankRequest()
            var seed = Graphd_V1_Seed()
            seed.node = Graphd_V1_NodeRef(type: "user", key: "u1")
            request.seeds = [seed]
            configure(&request)
            _ = try await client.personalizedPageRank(request)
        }
        await expectCode(.invalidArgument, "no seeds") { try await ppr { $0.seeds = [] } }
        await expectCode(.invalidArgument, "unknown seed") { try await ppr { $0.seeds[0].node.key = "ghost" } }
        await expectCode(.invalidArgument, "negative weight") { try await ppr { $0.seeds[0].weight = -1 } }
        await expectCode(.invalidArgument, "NaN weight") { try await ppr { $0.seeds[0].weight = .nan } }
        for restart in [0.0, 1.0, -0.1, 2] {
            await expectCode(.invalidArgument, "restart \(restart)") { try await ppr { $0.restart = restart } }
        }
        await expectCode(.invalidArgument, "k = 0 by type") { try await ppr { $0.topKByType = ["item": 0] } }
        await expectCode(.invalidArgument, "garbage payload") {
            _ = try await client.connection.call(service: GraphdMethod.personalizedPageRank.service, method: GraphdMethod.personalizedPageRank.method, payload: [0x0A, 0xFF, 0xFF])
        }
        // Still serving.
        #expect(!(try await recommend(client, "u1")).isEmpty)
        await client.close()
    }

    /// Graph-filter models are kept for a bounded number of interaction specs: a
    /// client cycling through specs gets answers, and memory does not grow with it.
    @Test func graphFilterModelsAreBoundedPerSpec() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("m.sock"), store: scratch.path("m.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var define = Graphd_V1_DefineTypesRequest()
        for t in 0..<6 {
            var spec = Graphd_V1_EdgeTypeSpec()
            spec.name = "e\(t)"
            spec.sourceType = "user"
            spec.targetType = "item"
            define.edgeTypes.append(spec)
        }
        _ = try await client.defineTypes(define)
        var edges = Graphd_V1_AddEdgesRequest()
        for t in 0..<6 {
            for u in 0..<8 { for j in 0..<3 { edges.edges.append(makeEdge("e\(t)", ("user", "u\(u)"), ("item", "i\((u + j) % 10)"))) } }
        }
        _ = try await client.addEdges(edges)
        for t in 0..<6 {
            var request = Graphd_V1_RecommendRequest()
            request.user = Graphd_V1_NodeRef(type: "user", key: "u1")
            request.k = 3
            request.scorer = .graphFilter
            request.edgeTypes = ["e\(t)"]
            #expect(!(try await client.recommend(request).items.isEmpty), "spec e\(t)")
        }
        #expect(try await client.stats().models.count <= 4)
        await client.close()
        _ = await daemon.terminate()
    }
}
