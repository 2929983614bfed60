import GraphdProto
import TTRPC
import Testing

/// The Graph service's rules for each field, in process: empty requests,
/// invalid and out-of-range values in rows and in columnar blocks, type
/// definitions, listings and removals. Each gets its status and nothing of a
/// refused request is written. (Garbage payloads, frames over the limit and
/// "the daemon keeps serving" need the wire: EndToEndTests' BadInputTests.)
@Suite struct GraphRequestRulesTests {
    @Test func emptyRequests() async throws {
        let server = try InProcessServer()
        // Reads need a node; writes of nothing are a no-op.
        #expect(try await server.status(.getNode, Graphd_V1_GetNodeRequest()) == .invalidArgument)
        #expect(try await server.status(.neighbors, Graphd_V1_NeighborsRequest()) == .invalidArgument)
        let edges = try await server.call(.addEdges, Graphd_V1_AddEdgesRequest(), as: Graphd_V1_AddEdgesResponse.self)
        #expect(edges.status == .ok && edges.response?.created == 0)
        let nodes = try await server.call(.addNodes, Graphd_V1_AddNodesRequest(), as: Graphd_V1_AddNodesResponse.self)
        #expect(nodes.status == .ok && nodes.response?.created == 0)
        let removedNodes = try await server.call(.removeNodes, Graphd_V1_RemoveNodesRequest(), as: Graphd_V1_RemoveNodesResponse.self)
        #expect(removedNodes.status == .ok && removedNodes.response?.nodesRemoved == 0)
        let removedEdges = try await server.call(.removeEdges, Graphd_V1_RemoveEdgesRequest(), as: Graphd_V1_RemoveEdgesResponse.self)
        #expect(removedEdges.status == .ok && removedEdges.response?.removed == 0)
        let types = try await server.call(.defineTypes, Graphd_V1_DefineTypesRequest(), as: Graphd_V1_DefineTypesResponse.self)
        #expect(types.status == .ok && types.response?.nodeTypesCreated == 0)
        let listedNodes = try await server.call(.listNodes, Graphd_V1_ListNodesRequest(), as: Graphd_V1_ListNodesResponse.self)
        #expect(listedNodes.status == .ok && listedNodes.response?.nodes.isEmpty == true)
        let listedEdges = try await server.call(.listEdges, Graphd_V1_ListEdgesRequest(), as: Graphd_V1_ListEdgesResponse.self)
        #expect(listedEdges.status == .ok && listedEdges.response?.edges.isEmpty == true)
        await server.stop()
    }

    @Test func edgeRowRules() async throws {
        let server = try InProcessServer()
        var timed = edge()
        timed.timestampMs = -5
        var attributed = edge()
        attributed.attributes = ["Bad Name": 1]
        let cases: [(RPCStatusCode, String, Graphd_V1_Edge)] = [
            (.invalidArgument, "NaN weight", edge(weight: .nan)),
            (.invalidArgument, "weight beyond Float32", edge(weight: 1e300)),
            (.notFound, "unknown edge type", edge("no_such_type")),
            (.notFound, "unknown node type", edge("interacted", ("no_such_node_type", "x"))),
            (.invalidArgument, "empty key", edge("interacted", ("user", ""))),
            (.invalidArgument, "key too long", edge("interacted", ("user", String(repeating: "k", count: 5000)))),
            (.invalidArgument, "endpoint of the wrong type", edge("interacted", ("llm", "x"))),
            (.invalidArgument, "negative timestamp", timed),
            (.invalidArgument, "bad attribute name", attributed),
        ]
        for (code, label, bad) in cases {
            var request = Graphd_V1_AddEdgesRequest()
            // A valid row first: a bad row refuses the whole batch.
            request.edges = [edge("interacted", ("user", "ok"), ("item", "ok")), bad]
            let answer = try await server.call(.addEdges, request, as: Graphd_V1_AddEdgesResponse.self)
            #expect(answer.status == code, "\(label): \(answer.status) \(answer.message)")
            #expect(!answer.message.isEmpty, "\(label): the message says what was wrong")
        }
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = [edge()]
        request.requireExistingNodes = true
        #expect(try await server.status(.addEdges, request) == .notFound, "require_existing_nodes")
        try await expectNothingWritten(server)
        await server.stop()
    }

    /// The columnar form: every column checked, and a bad block fails the whole batch.
    @Test func edgeBlockRules() async throws {
        let server = try InProcessServer()
        func block(_ change: (inout Graphd_V1_EdgeBlock) -> Void) -> Graphd_V1_AddEdgesRequest {
            var block = Graphd_V1_EdgeBlock()
            block.type = "interacted"
            block.sourceType = "user"
            block.targetType = "item"
            block.sourceKeys = ["bu1", "bu2"]
            block.targetKeys = ["bi1", "bi2"]
            change(&block)
            var request = Graphd_V1_AddEdgesRequest()
            request.edges = [edge("interacted", ("user", "ok"), ("item", "ok"))]
            request.blocks = [block]
            return request
        }
        func column(_ values: [Double]) -> Graphd_V1_AttributeColumn {
            var column = Graphd_V1_AttributeColumn()
            column.name = "rating"
            column.values = values
            return column
        }
        let badBlocks: [(RPCStatusCode, String, (inout Graphd_V1_EdgeBlock) -> Void)] = [
            (.invalidArgument, "fewer target keys", { $0.targetKeys = ["bi1"] }),
            (.invalidArgument, "weights not one per row", { $0.weights = [1] }),
            (.invalidArgument, "timestamps not one per row", { $0.timestampsMs = [1, 2, 3] }),
            (.invalidArgument, "NaN weight", { $0.weights = [1, .nan] }),
            (.invalidArgument, "negative timestamp", { $0.timestampsMs = [1, -1] }),
            (.invalidArgument, "attribute column too short", { $0.attributes = [column([1])] }),
            (.invalidArgument, "infinite attribute", { $0.attributes = [column([1, .infinity])] }),
            (.invalidArgument, "empty key", { $0.sourceKeys = ["bu1", ""] }),
            (.invalidArgument, "empty type", { $0.type = "" }),
            (.invalidArgument, "endpoint of the wrong type", { $0.sourceType = "llm" }),
            (.notFound, "unknown edge type", { $0.type = "no_such_type" }),
            (.notFound, "unknown node type", { $0.targetType = "no_such_node_type" }),
        ]
        for (code, label, change) in badBlocks {
            #expect(try await server.status(.addEdges, block(change)) == code, "block: \(label)")
        }
        var tooMany = block { _ in }
        tooMany.blocks[0].sourceKeys = (0..<100_000).map { String($0) }
        tooMany.blocks[0].targetKeys = tooMany.blocks[0].sourceKeys
        #expect(try await server.status(.addEdges, tooMany) == .resourceExhausted, "rows and blocks together over the batch limit")
        try await expectNothingWritten(server)
        // The valid block alone is taken.
        let accepted = try await server.call(.addEdges, block { _ in }, as: Graphd_V1_AddEdgesResponse.self)
        #expect(accepted.status == .ok && accepted.response?.created == 3)
        await server.stop()
    }

    @Test func nodeAndTypeRules() async throws {
        let server = try InProcessServer()
        var nodes = Graphd_V1_AddNodesRequest()
        var node = Graphd_V1_Node()
        node.type = "user"
        node.key = "v"
        node.features = [1, .infinity]
        nodes.nodes = [node]
        #expect(try await server.status(.addNodes, nodes) == .invalidArgument, "infinite feature")

        var define = Graphd_V1_DefineTypesRequest()
        var badType = Graphd_V1_NodeTypeSpec()
        badType.name = "9lives"
        define.nodeTypes = [badType]
        #expect(try await server.status(.defineTypes, define) == .invalidArgument, "bad type name")
        var conflicting = Graphd_V1_EdgeTypeSpec()
        conflicting.name = "interacted"
        conflicting.directed = true
        define = Graphd_V1_DefineTypesRequest()
        define.edgeTypes = [conflicting]
        #expect(try await server.status(.defineTypes, define) == .alreadyExists, "redefining a type differently")
        try await expectNothingWritten(server)
        await server.stop()
    }

    @Test func readAndRemovalRules() async throws {
        let server = try InProcessServer()
        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = ref("user", "nobody")
        #expect(try await server.status(.neighbors, neighbors) == .notFound, "neighbors of a missing node")
        var add = Graphd_V1_AddEdgesRequest()
        add.edges = [edge()]
        #expect(try await server.status(.addEdges, add) == .ok)
        neighbors.node = ref("user", "u")
        neighbors.limit = 20_000
        #expect(try await server.status(.neighbors, neighbors) == .outOfRange, "page too large")
        neighbors.limit = 10
        neighbors.pageToken = "garbage"
        #expect(try await server.status(.neighbors, neighbors) == .invalidArgument, "bad page token")
        neighbors.pageToken = ""
        neighbors.direction = .UNRECOGNIZED(99)
        #expect(try await server.status(.neighbors, neighbors) == .invalidArgument, "unknown direction")
        var listNodes = Graphd_V1_ListNodesRequest()
        listNodes.pageToken = "n-1"
        #expect(try await server.status(.listNodes, listNodes) == .invalidArgument, "bad node page token")
        var listEdges = Graphd_V1_ListEdgesRequest()
        listEdges.pageToken = "s1"
        #expect(try await server.status(.listEdges, listEdges) == .invalidArgument, "bad edge page token")
        var removeEdges = Graphd_V1_RemoveEdgesRequest()
        var missing = Graphd_V1_EdgeRef()
        missing.type = "interacted"
        missing.source = ref("user", "u")
        missing.target = ref("item", "zzz")
        removeEdges.edges = [missing]
        #expect(try await server.status(.removeEdges, removeEdges) == .notFound, "removing a missing edge")
        let stats = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self)
        #expect(stats.response?.edges == 1 && stats.response?.nodes == 2, "the one valid edge, nothing removed")
        await server.stop()
    }

    private func expectNothingWritten(_ server: InProcessServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let stats = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self)
        #expect(stats.response?.edges == 0 && stats.response?.nodes == 0, "a refused request wrote something", sourceLocation: sourceLocation)
    }
}
