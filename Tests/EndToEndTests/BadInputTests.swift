import Foundation
import GraphdClient
import GraphdProto
import SwiftProtobuf
import Testing

/// Every RPC gets malformed, empty, oversized and out-of-range requests; each
/// gets a clear status and the daemon keeps serving.
@Suite(.serialized) struct BadInputTests {
    /// Every method of graphd.v1.Graph but Embed (EmbedTests).
    static let methods = GraphdMethod.all.filter { $0.service == GraphdServiceName.graph && $0 != .embed }.map(\.method)

    @Test func everyMethodSurvivesBadRequests() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("b.sock"), store: scratch.path("b.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        let raw = client.connection
        let service = GraphdServiceName.graph

        // Malformed payloads: not a protobuf message at all.
        for method in Self.methods {
            await expectCode(.invalidArgument, "\(method) with garbage") {
                _ = try await raw.call(service: service, method: method, payload: [0x0A, 0xFF, 0xFF, 0xFF, 0x0F])
            }
        }
        // Empty requests: reads need a node; writes of nothing are a no-op.
        await expectCode(.invalidArgument, "GetNode empty") { _ = try await client.getNode(Graphd_V1_GetNodeRequest()) }
        await expectCode(.invalidArgument, "Neighbors empty") { _ = try await client.neighbors(Graphd_V1_NeighborsRequest()) }
        #expect(try await client.addEdges(Graphd_V1_AddEdgesRequest()).created == 0)
        #expect(try await client.addNodes(Graphd_V1_AddNodesRequest()).created == 0)
        #expect(try await client.removeNodes(Graphd_V1_RemoveNodesRequest()).nodesRemoved == 0)
        #expect(try await client.removeEdges(Graphd_V1_RemoveEdgesRequest()).removed == 0)
        #expect(try await client.defineTypes(Graphd_V1_DefineTypesRequest()).nodeTypesCreated == 0)
        #expect(try await client.listNodes(Graphd_V1_ListNodesRequest()).nodes.isEmpty)
        #expect(try await client.listEdges(Graphd_V1_ListEdgesRequest()).edges.isEmpty)

        // Invalid and out-of-range values.
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = [makeEdge(weight: .nan)]
        await expectCode(.invalidArgument, "NaN weight") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge(weight: 1e300)]
        await expectCode(.invalidArgument, "weight beyond Float32") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge("no_such_type")]
        await expectCode(.notFound, "unknown edge type") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge("interacted", ("no_such_node_type", "x"))]
        await expectCode(.notFound, "unknown node type") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge("interacted", ("user", ""))]
        await expectCode(.invalidArgument, "empty key") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge("interacted", ("user", String(repeating: "k", count: 5000)))]
        await expectCode(.invalidArgument, "key too long") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge("interacted", ("llm", "x"))]
        await expectCode(.invalidArgument, "endpoint of the wrong type") { _ = try await client.addEdges(request) }
        var timed = makeEdge()
        timed.timestampMs = -5
        request.edges = [timed]
        await expectCode(.invalidArgument, "negative timestamp") { _ = try await client.addEdges(request) }
        var attributed = makeEdge()
        attributed.attributes = ["Bad Name": 1]
        request.edges = [attributed]
        await expectCode(.invalidArgument, "bad attribute name") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge()]
        request.requireExistingNodes = true
        await expectCode(.notFound, "require_existing_nodes") { _ = try await client.addEdges(request) }
        request.requireExistingNodes = false

        // The columnar form: every column checked, and a bad block fails the whole batch.
        func block(_ change: (inout Graphd_V1_EdgeBlock) -> Void) -> Graphd_V1_AddEdgesRequest {
            var block = Graphd_V1_EdgeBlock()
            block.type = "interacted"
            block.sourceType = "user"
            block.targetType = "item"
            block.sourceKeys = ["bu1", "bu2"]
            block.targetKeys = ["bi1", "bi2"]
            change(&block)
            var request = Graphd_V1_AddEdgesRequest()
            request.edges = [makeEdge("interacted", ("user", "ok"), ("item", "ok"))]
            request.blocks = [block]
            return request
        }
        let badBlocks: [(RPCStatusCode, String, (inout Graphd_V1_EdgeBlock) -> Void)] = [
            (.invalidArgument, "block: fewer target keys", { $0.targetKeys = ["bi1"] }),
            (.invalidArgument, "block: weights not one per row", { $0.weights = [1] }),
            (.invalidArgument, "block: timestamps not one per row", { $0.timestampsMs = [1, 2, 3] }),
            (.invalidArgument, "block: NaN weight", { $0.weights = [1, .nan] }),
            (.invalidArgument, "block: negative timestamp", { $0.timestampsMs = [1, -1] }),
            (.invalidArgument, "block: attribute column too short", {
                var column = Graphd_V1_AttributeColumn(); column.name = "rating"; column.values = [1]; $0.attributes = [column] }),
            (.invalidArgument, "block: infinite attribute", {
                var column = Graphd_V1_AttributeColumn(); column.name = "rating"; column.values = [1, .infinity]; $0.attributes = [column] }),
            (.invalidArgument, "block: empty key", { $0.sourceKeys = ["bu1", ""] }),
            (.invalidArgument, "block: empty type", { $0.type = "" }),
            (.invalidArgument, "block: endpoint of the wrong type", { $0.sourceType = "llm" }),
            (.notFound, "block: unknown edge type", { $0.type = "no_such_type" }),
            (.notFound, "block: unknown node type", { $0.targetType = "no_such_node_type" }),
        ]
        let edgesBefore = try await client.stats().edges
        for (code, label, change) in badBlocks {
            await expectCode(code, label) { _ = try await client.addEdges(block(change)) }
        }
        #expect(try await client.stats().edges == edgesBefore, "a refused block left edges behind")
        var tooMany = block { _ in }
        tooMany.blocks[0].sourceKeys = (0..<100_000).map { String($0) }
        tooMany.blocks[0].targetKeys = tooMany.blocks[0].sourceKeys
        await expectCode(.resourceExhausted, "rows and blocks together over the batch limit") { _ = try await client.addEdges(tooMany) }

        var nodes = Graphd_V1_AddNodesRequest()
        var node = Graphd_V1_Node()
        node.type = "user"
        node.key = "v"
        node.features = [1, .infinity]
        nodes.nodes = [node]
        await expectCode(.invalidArgument, "infinite feature") { _ = try await client.addNodes(nodes) }

        var define = Graphd_V1_DefineTypesRequest()
        var badType = Graphd_V1_NodeTypeSpec()
        badType.name = "9lives"
        define.nodeTypes = [badType]
        await expectCode(.invalidArgument, "bad type name") { _ = try await client.defineTypes(define) }
        var conflicting = Graphd_V1_EdgeTypeSpec()
        conflicting.name = "interacted"
        conflicting.directed = true
        define = Graphd_V1_DefineTypesRequest()
        define.edgeTypes = [conflicting]
        await expectCode(.alreadyExists, "redefining a type differently") { _ = try await client.defineTypes(define) }

        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "nobody")
        await expectCode(.notFound, "neighbors of a missing node") { _ = try await client.neighbors(neighbors) }
        _ = try await client.addEdges({ var r = Graphd_V1_AddEdgesRequest(); r.edges = [makeEdge()]; return r }())
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "u")
        neighbors.limit = 20_000
        await expectCode(.outOfRange, "page too large") { _ = try await client.neighbors(neighbors) }
        neighbors.limit = 10
        neighbors.pageToken = "garbage"
        await expectCode(.invalidArgument, "bad page token") { _ = try await client.neighbors(neighbors) }
        neighbors.pageToken = ""
        neighbors.direction = .UNRECOGNIZED(99)
        await expectCode(.invalidArgument, "unknown direction") { _ = try await client.neighbors(neighbors) }
        var listNodes = Graphd_V1_ListNodesRequest()
        listNodes.pageToken = "n-1"
        await expectCode(.invalidArgument, "bad node page token") { _ = try await client.listNodes(listNodes) }
        var listEdges = Graphd_V1_ListEdgesRequest()
        listEdges.pageToken = "s1"
        await expectCode(.invalidArgument, "bad edge page token") { _ = try await client.listEdges(listEdges) }
        var removeNodes = Graphd_V1_RemoveNodesRequest()
        removeNodes.nodes = [Graphd_V1_NodeRef(type: "user", key: "nobody")]
        await expectCode(.notFound, "removing a missing node") { _ = try await client.removeNodes(removeNodes) }
        var removeEdges = Graphd_V1_RemoveEdgesRequest()
        var missing = Graphd_V1_EdgeRef()
        missing.type = "interacted"
        missing.source = Graphd_V1_NodeRef(type: "user", key: "u")
        missing.target = Graphd_V1_NodeRef(type: "item", key: "zzz")
        removeEdges.edges = [missing]
        await expectCode(.notFound, "removing a missing edge") { _ = try await client.removeEdges(removeEdges) }

        // Oversized batch by count (small enough to fit the 4 MiB frame).
        var big = Graphd_V1_AddEdgesRequest()
        big.edges = (0..<100_001).map { _ in
            var e = Graphd_V1_Edge()
            e.type = "x"
            return e
        }
        await expectCode(.resourceExhausted, "more than 100000 edges") { _ = try await client.addEdges(big) }

        // Oversized frame: the 4 MiB limit, sent raw since the Swift client refuses to.
        let socket = try RawSocket(path: daemon.socket)
        let length = (4 << 20) + 16
        socket.write(RawSocket.header(length: length, stream: 1) + [UInt8](repeating: 0, count: length))
        let frame = try #require(socket.readFrame())
        let response = try Ttrpc_Response(serializedBytes: frame.data)
        #expect(frame.stream == 1 && response.status.code == RPCStatusCode.resourceExhausted.rawValue)
        // The same connection keeps working.
        var health = Ttrpc_Request()
        health.service = service
        health.method = GraphdMethod.health.method
        let bytes: [UInt8] = try health.serializedBytes()
        socket.write(RawSocket.header(length: bytes.count, stream: 3) + bytes)
        let healthFrame = try #require(socket.readFrame())
        let healthResponse = try Ttrpc_Response(serializedBytes: healthFrame.data)
        #expect(healthFrame.stream == 3 && healthResponse.status.code == 0)

        // Nothing invalid was written; the daemon still serves.
        let stats = try await client.stats()
        #expect(stats.edges == 1 && stats.nodes == 2)
        #expect(try await client.health().status == .serving)
        await client.close()
        _ = await daemon.terminate()
    }
}
