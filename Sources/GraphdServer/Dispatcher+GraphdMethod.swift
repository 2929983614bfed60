import GraphdProto
import SwiftProtobuf
import TTRPC

/// Registration by the one table of method names (`GraphdMethod`).
extension TTRPCDispatcher {
    mutating func register<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        register(service: rpc.service, method: rpc.method, handler)
    }

    mutating func registerCompute<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, when isLong: @escaping @Sendable (Request) -> Bool = { _ in true },
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        registerCompute(service: rpc.service, method: rpc.method, when: isLong, handler)
    }

    mutating func registerCompute<Request: SwiftProtobuf.Message, Prepared: Sendable, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, prepare: @escaping @Sendable (Request) -> (Prepared, isLong: Bool),
        _ handler: @escaping @Sendable (Request, Prepared, TTRPCRequestContext) async throws -> Response
    ) {
        registerCompute(service: rpc.service, method: rpc.method, prepare: prepare, handler)
    }

    mutating func registerInline<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, _ handler: @escaping @Sendable (Request, TTRPCRequestContext) throws -> Response
    ) {
        registerInline(service: rpc.service, method: rpc.method, handler)
    }
}
