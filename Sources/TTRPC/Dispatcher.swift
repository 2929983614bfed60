import Foundation
import Logging
import SwiftProtobuf

/// What a handler knows about the request it serves.
public struct TTRPCRequestContext: Sendable {
    public var service: String
    public var method: String
    public var streamID: UInt32
    /// ttrpc metadata; a key may repeat.
    public var metadata: [(key: String, value: String)]
    /// When the caller stops waiting (from `timeout_nano`), if it set one.
    public var deadline: ContinuousClock.Instant?
    public var logger: Logger

    public init(
        service: String, method: String, streamID: UInt32,
        metadata: [(key: String, value: String)] = [], deadline: ContinuousClock.Instant? = nil,
        logger: Logger = Logger(label: "graphd.rpc")
    ) {
        self.service = service
        self.method = method
        self.streamID = streamID
        self.metadata = metadata
        self.deadline = deadline
        self.logger = logger
    }

    /// The first metadata value for `key`.
    public func metadataValue(_ key: String) -> String? {
        metadata.first(where: { $0.key == key })?.value
    }
}

/// Maps "package.Service/Method" to async handlers.
///
/// Handlers see decoded request messages and return response messages; the
/// dispatcher owns the envelope: it decodes payloads (INVALID_ARGUMENT when
/// they do not parse), answers UNIMPLEMENTED for unknown names and maps thrown
/// errors to a google.rpc.Status.
public struct TTRPCDispatcher: Sendable {
    public typealias RawHandler = @Sendable (_ payload: [UInt8], _ context: TTRPCRequestContext) async throws -> [UInt8]

    private var handlers: [String: [String: RawHandler]] = [:]

    public init() {}

    /// The registered services and their methods, sorted.
    public var methods: [String] {
        handlers.flatMap { service, methods in methods.keys.map { "\(service)/\($0)" } }.sorted()
    }

    public mutating func register(service: String, method: String, handler: @escaping RawHandler) {
        handlers[service, default: [:]][method] = handler
    }

    public mutating func register<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        register(service: service, method: method) { payload, context in
            let request: Request
            do {
                request = try Request(serializedBytes: payload)
            } catch {
                throw RPCError(.invalidArgument, "\(service)/\(method): request payload is not a valid \(Request.protoMessageName): \(error)")
            }
            return try await handler(request, context).serializedBytes()
        }
    }

    /// Runs one request to completion and returns the response envelope.
    public func dispatch(_ request: Ttrpc_Request, context: TTRPCRequestContext) async -> Ttrpc_Response {
        var response = Ttrpc_Response()
        guard let service = handlers[request.service] else {
            response.status = RPCError(.unimplemented, "service \(request.service)").status
            return response
        }
        guard let handler = service[request.method] else {
            response.status = RPCError(.unimplemented, "method \(request.method)").status
            return response
        }
        do {
            response.payload = Data(try await handler([UInt8](request.payload), context))
            response.status = Google_Rpc_Status()
        } catch {
            let rpcError = Self.rpcError(from: error)
            if rpcError.code == .internal || rpcError.code == .unknown {
                context.logger.error("\(request.service)/\(request.method) failed: \(rpcError.message)")
            }
            response.status = rpcError.status
        }
        return response
    }

    public static func rpcError(from error: any Error) -> RPCError {
        switch error {
        case let error as any RPCStatusConvertible: return error.rpcError
        case is CancellationError: return RPCError(.cancelled, "request cancelled")
        default: return RPCError(.internal, "\(error)")
        }
    }
}
