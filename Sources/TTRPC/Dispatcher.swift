import Foundation
import Logging
import SwiftProtobuf
import Synchronization

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

/// What a server decides about a request before its handler runs (see `TTRPCDispatcher.gate`).
public enum TTRPCGateDecision: Sendable {
    case proceed
    /// Answer with this error; the handler does not run.
    case refuse(RPCError)
    /// Run `condition` first, off the event loop (it may wait, up to the
    /// request's deadline); the handler runs once it returns, and does not
    /// when it throws (its error is the answer).
    case wait(@Sendable () async throws -> Void)
}

/// Maps "package.Service/Method" to async handlers.
///
/// Handlers see decoded request messages and return response messages; the
/// dispatcher owns the envelope: it decodes payloads (INVALID_ARGUMENT when
/// they do not parse), answers UNIMPLEMENTED for unknown names and maps thrown
/// errors to a google.rpc.Status.
public struct TTRPCDispatcher: Sendable {
    public typealias RawHandler = @Sendable (_ payload: [UInt8], _ context: TTRPCRequestContext) async throws -> [UInt8]
    public typealias RawInlineHandler = @Sendable (_ payload: [UInt8], _ context: TTRPCRequestContext) throws -> [UInt8]

    /// Async handlers run as tasks; inline handlers run on the connection's
    /// event loop and must be short and non-blocking (snapshot reads).
    enum Handler: Sendable {
        case async(RawHandler)
        case inline(RawInlineHandler)
    }

    private var handlers: [String: [String: Handler]] = [:]

    /// Looked at before every registered handler runs (inline or not), on the
    /// event loop: it must be quick. A server refuses requests with it (writes
    /// on a read-only replica) or holds them until a condition holds (a replica
    /// catching up to what the caller has seen).
    public var gate: (@Sendable (TTRPCRequestContext) -> TTRPCGateDecision)?
    /// Every registered "service/method" pair, sorted.
    public var registeredMethods: [(service: String, method: String)] {
        handlers.flatMap { service, methods in methods.keys.map { (service, $0) } }.sorted { ($0.service, $0.method) < ($1.service, $1.method) }
    }

    /// Requests dispatched to async handlers and not answered yet (all copies
    /// of this dispatcher share it): what a graceful shutdown waits for.
    public let requestsInFlight = TTRPCRequestTracker()

    public init() {}

    /// The registered services and their methods, sorted.
    public var methods: [String] {
        handlers.flatMap { service, methods in methods.keys.map { "\(service)/\($0)" } }.sorted()
    }

    public mutating func register(service: String, method: String, handler: @escaping RawHandler) {
        handlers[service, default: [:]][method] = .async(handler)
    }

    public mutating func registerInline(service: String, method: String, handler: @escaping RawInlineHandler) {
        handlers[service, default: [:]][method] = .inline(handler)
    }

    public mutating func register<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        register(service: service, method: method) { payload, context in
            try await handler(Self.decode(payload, service: service, method: method), context).serializedBytes()
        }
    }

    /// Registers a handler that computes for long (milliseconds or more of
    /// CPU): it runs on the cooperative thread pool, not on the connection's
    /// event loop, so that other requests on that loop are not held up. Work
    /// that takes seconds belongs on a serial queue of its own (graphd: BackgroundJobs).
    public mutating func registerCompute<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        registerCompute(service: service, method: method, when: { _ in true }, handler)
    }

    /// Registers a handler whose cost depends on the request: those `isLong`
    /// picks (after decoding, on the event loop) run on the cooperative thread
    /// pool, the others where the connection's requests run, without a thread hop.
    public mutating func registerCompute<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String, when isLong: @escaping @Sendable (Request) -> Bool,
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) async throws -> Response
    ) {
        registerCompute(service: service, method: method, prepare: { (request: Request) in ((), isLong: isLong(request)) }) { request, _, context in
            try await handler(request, context)
        }
    }

    /// Like `registerCompute(when:)` for a handler whose cost depends on state it
    /// reads (a cache that may be stale): `prepare` reads it once, on the event
    /// loop, and says where the request runs; the handler gets what it read, so
    /// the choice and the work see the same state.
    public mutating func registerCompute<Request: SwiftProtobuf.Message, Prepared: Sendable, Response: SwiftProtobuf.Message>(
        service: String, method: String, prepare: @escaping @Sendable (Request) -> (Prepared, isLong: Bool),
        _ handler: @escaping @Sendable (Request, Prepared, TTRPCRequestContext) async throws -> Response
    ) {
        register(service: service, method: method) { payload, context in
            let request: Request = try Self.decode(payload, service: service, method: method)
            let (prepared, isLong) = prepare(request)
            guard isLong else { return try await handler(request, prepared, context).serializedBytes() }
            return try await withTaskExecutorPreference(globalConcurrentExecutor) {
                try await handler(request, prepared, context).serializedBytes()
            }
        }
    }

    /// Registers a handler that runs inline on the event loop: only for short,
    /// non-blocking work such as reading an immutable snapshot.
    public mutating func registerInline<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String,
        _ handler: @escaping @Sendable (Request, TTRPCRequestContext) throws -> Response
    ) {
        registerInline(service: service, method: method) { payload, context in
            try handler(Self.decode(payload, service: service, method: method), context).serializedBytes()
        }
    }

    private static func decode<Request: SwiftProtobuf.Message>(_ payload: [UInt8], service: String, method: String) throws -> Request {
        do {
            return try Request(serializedBytes: payload)
        } catch {
            throw RPCError(.invalidArgument, "\(service)/\(method): request payload is not a valid \(Request.protoMessageName): \(error)")
        }
    }

    /// Answers the request at once when it needs no task: unknown names, and
    /// inline handlers. Returns nil for async handlers (call `dispatch`).
    public func dispatchInline(_ request: Ttrpc_Request, context: TTRPCRequestContext) -> Ttrpc_Response? {
        switch lookup(request) {
        case .failure(let error):
            return Self.response(error)
        case .success(.inline(let handler)):
            switch gate?(context) ?? .proceed {
            case .proceed: return runInline(handler, request, context)
            case .refuse(let error): return Self.response(error)
            case .wait: return nil
            }
        case .success(.async):
            return nil
        }
    }

    private func runInline(_ handler: RawInlineHandler, _ request: Ttrpc_Request, _ context: TTRPCRequestContext) -> Ttrpc_Response {
        do {
            return Self.response(payload: try handler([UInt8](request.payload), context))
        } catch {
            return Self.response(Self.rpcError(from: error), request: request, context: context)
        }
    }

    /// Runs one request to completion and returns the response envelope.
    public func dispatch(_ request: Ttrpc_Request, context: TTRPCRequestContext) async -> Ttrpc_Response {
        switch lookup(request) {
        case .failure(let error):
            return Self.response(error)
        case .success(let handler):
            requestsInFlight.begin()
            defer { requestsInFlight.end() }
            do {
                switch gate?(context) ?? .proceed {
                case .proceed: break
                case .refuse(let error): return Self.response(error)
                case .wait(let condition): try await condition()
                }
                switch handler {
                case .inline(let handler): return runInline(handler, request, context)
                case .async(let handler): return Self.response(payload: try await handler([UInt8](request.payload), context))
                }
            } catch {
                return Self.response(Self.rpcError(from: error), request: request, context: context)
            }
        }
    }

    private func lookup(_ request: Ttrpc_Request) -> Result<Handler, RPCError> {
        guard let service = handlers[request.service] else {
            return .failure(RPCError(.unimplemented, "service \(request.service)"))
        }
        guard let handler = service[request.method] else {
            return .failure(RPCError(.unimplemented, "method \(request.method)"))
        }
        return .success(handler)
    }

    private static func response(payload: [UInt8]) -> Ttrpc_Response {
        var response = Ttrpc_Response()
        response.payload = Data(payload)
        response.status = Google_Rpc_Status()
        return response
    }

    private static func response(_ error: RPCError, request: Ttrpc_Request? = nil, context: TTRPCRequestContext? = nil) -> Ttrpc_Response {
        if let request, let context, error.code == .internal || error.code == .unknown {
            context.logger.error("\(request.service)/\(request.method) failed: \(error.message)")
        }
        var response = Ttrpc_Response()
        response.status = error.status
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

/// Counts requests in flight, for a server that drains them before it exits.
public final class TTRPCRequestTracker: Sendable {
    private let count = Mutex(0)

    public init() {}

    public var inFlight: Int { count.withLock { $0 } }

    func begin() { count.withLock { $0 += 1 } }
    func end() { count.withLock { $0 -= 1 } }

    /// Returns true once no request is in flight, false if some still are after `timeout`.
    public func waitUntilIdle(timeout: Duration) async -> Bool {
        let end = ContinuousClock.now + timeout
        while inFlight > 0 {
            guard ContinuousClock.now < end else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}
