import Foundation
import GraphdClient
import GraphdProto
import SwiftProtobuf
import Testing

/// Over the wire, every RPC gets malformed and oversized requests; each gets a
/// clear status, the connection and the daemon keep serving. (The rules of each
/// field: GraphdServerTests' GraphRequestRulesTests, in process.)
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
        // A refused request on a connection (the rules of each field are tested in
        // process: GraphdServerTests' GraphRequestRulesTests).
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = [makeEdge(weight: .nan)]
        await expectCode(.invalidArgument, "NaN weight") { _ = try await client.addEdges(request) }
        request.edges = [makeEdge()]
        #expect(try await client.addEdges(request).created == 1)

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
