import Foundation
import GraphdProto
import Logging
import SwiftProtobuf
import TTRPC

@testable import GraphdServer

/// A graphd's services in this process, on a store in a temporary directory:
/// requests go through the same dispatcher the daemon serves, without sockets,
/// for the services' validation rules and error mapping. (What needs a real
/// process — signals, the wire, restarts — stays in EndToEndTests.)
final class InProcessServer {
    let server: GraphdServer
    let dispatcher: TTRPCDispatcher
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("inproc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        server = try GraphdServer(configuration: GraphdConfiguration(storePath: directory.appendingPathComponent("s.sqlite").path),
                                  logger: Logger(label: "test"))
        dispatcher = server.makeDispatcher()
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Stops the background jobs (as the daemon does at shutdown).
    func stop() async { await server.jobs.shutdown() }

    /// The status and, when OK, the response of one call.
    func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, _ request: Request, as: Response.Type = Response.self, metadata: [(key: String, value: String)] = []
    ) async throws -> (status: RPCStatusCode, message: String, response: Response?) {
        var envelope = Ttrpc_Request()
        envelope.service = rpc.service
        envelope.method = rpc.method
        envelope.payload = try request.serializedData()
        let context = TTRPCRequestContext(service: rpc.service, method: rpc.method, streamID: 1, metadata: metadata)
        let answer: Ttrpc_Response
        if let inline = dispatcher.dispatchInline(envelope, context: context) {
            answer = inline
        } else {
            answer = await dispatcher.dispatch(envelope, context: context)
        }
        let status = RPCStatusCode(rawValue: answer.status.code) ?? .unknown
        return (status, answer.status.message, status == .ok ? try Response(serializedBytes: answer.payload) : nil)
    }

    /// The status code alone.
    func status<Request: SwiftProtobuf.Message>(_ rpc: GraphdMethod, _ request: Request) async throws -> RPCStatusCode {
        try await call(rpc, request, as: SwiftProtobuf.Google_Protobuf_Empty.self).status
    }
}

/// A node reference for requests.
func ref(_ type: String, _ key: String) -> Graphd_V1_NodeRef {
    var node = Graphd_V1_NodeRef()
    node.type = type
    node.key = key
    return node
}

/// An edge for requests; the defaults make a valid `interacted` edge.
func edge(_ type: String = "interacted", _ source: (String, String) = ("user", "u"), _ target: (String, String) = ("item", "i"),
          weight: Double? = nil) -> Graphd_V1_Edge {
    var edge = Graphd_V1_Edge()
    edge.type = type
    edge.source = ref(source.0, source.1)
    edge.target = ref(target.0, target.1)
    if let weight { edge.weight = weight }
    return edge
}
