import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization

/// Limits a server connection enforces.
public struct TTRPCServerLimits: Sendable {
    /// Largest accepted message; larger ones get RESOURCE_EXHAUSTED (PROTOCOL.md: 4 MiB).
    public var maxMessageLength: UInt32 = TTRPCFrameHeader.defaultMaxLength
    /// Requests one connection may have in flight; more get RESOURCE_EXHAUSTED.
    public var maxInFlightPerConnection: Int = 256
    /// Upper bound applied to client deadlines (nil: none).
    public var maxDeadline: Duration? = nil
    /// Open connections per listener set; one more gets RESOURCE_EXHAUSTED for its
    /// first request and is then closed.
    public var maxConnections: Int = 1024
    /// A connection with nothing in flight and no traffic for this long is closed (nil: never).
    public var idleTimeout: Duration? = .seconds(300)

    public init() {}
}

/// Counts a server's open connections against `TTRPCServerLimits.maxConnections`.
public final class TTRPCConnectionGate: Sendable {
    private let open = Mutex(0)
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; false when all are taken.
    public func tryAcquire() -> Bool {
        open.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    public func release() { open.withLock { $0 -= 1 } }

    public var openConnections: Int { open.withLock { $0 } }
}

/// Who may call, decided per connection before any request is dispatched.
public struct TTRPCAdmission: Sendable {
    /// When set, every request must carry metadata `authorization: Bearer <token>`
    /// (compared in constant time); others get UNAUTHENTICATED.
    public var bearerToken: [UInt8]?
    /// When set, every request on this connection gets PERMISSION_DENIED with this reason.
    public var deniedReason: String?
    /// When set, the first request gets RESOURCE_EXHAUSTED with this reason and the connection closes.
    public var exhaustedReason: String?

    public init(bearerToken: [UInt8]? = nil, deniedReason: String? = nil, exhaustedReason: String? = nil) {
        self.bearerToken = bearerToken
        self.deniedReason = deniedReason
        self.exhaustedReason = exhaustedReason
    }

    public static let open = TTRPCAdmission()

    /// Constant-time comparison: the time taken does not depend on where the bytes differ.
    static func equalInConstantTime(_ a: some Collection<UInt8>, _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        var index = a.startIndex
        for i in 0..<max(a.count, b.count) {
            let x: UInt8 = i < a.count ? a[index] : 0
            if i < a.count { index = a.index(after: index) }
            let y: UInt8 = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }

    /// The refusal for `request`, if any.
    func refusal(for request: Ttrpc_Request) -> RPCError? {
        if let exhaustedReason { return RPCError(.resourceExhausted, exhaustedReason) }
        if let deniedReason { return RPCError(.permissionDenied, deniedReason) }
        guard let token = bearerToken else { return nil }
        guard let header = request.metadata.first(where: { $0.key.lowercased() == "authorization" })?.value else {
            return RPCError(.unauthenticated, "this listener needs metadata 'authorization: Bearer <token>'")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.equalInConstantTime(header.utf8.dropFirst(prefix.utf8.count), token) else {
            return RPCError(.unauthenticated, "the bearer token is not valid")
        }
        return nil
    }
}

/// Sees every request a server answers (metrics, logs): called on the
/// connection's event loop, so it must be quick.
public protocol TTRPCServerObserver: Sendable {
    func requestStarted(service: String, method: String)
    /// `code` is the google.rpc code sent back; `seconds` since the request arrived.
    func requestFinished(service: String, method: String, code: Int32, seconds: Double)
}

/// Serves ttrpc requests on one connection.
///
/// Requests run concurrently as tasks; responses go out in completion order,
/// tagged with the request's stream id. All state lives on the channel's event
/// loop. A request whose `timeout_nano` passes gets DEADLINE_EXCEEDED and its
/// task is cancelled.
public final class TTRPCServerHandler: ChannelInboundHandler {
    public typealias InboundIn = TTRPCInboundMessage
    public typealias OutboundOut = TTRPCFrame

    private let dispatcher: TTRPCDispatcher
    private let limits: TTRPCServerLimits
    private let logger: Logger
    private let observer: (any TTRPCServerObserver)?
    private let admission: TTRPCAdmission
    /// Service, method and arrival of every request not answered yet (observer only).
    private var observed: [UInt32: (service: String, method: String, start: ContinuousClock.Instant)] = [:]
    private var inFlight: [UInt32: InFlightRequest] = [:]
    private var context: ChannelHandlerContext?

    private var executor: EventLoopTaskExecutor?

    private func taskExecutor(for eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        if let executor { return executor }
        let executor = EventLoopTaskExecutor(eventLoop)
        self.executor = executor
        return executor
    }

    private struct InFlightRequest {
        var task: Task<Void, Never>?
        var deadlineTimer: Scheduled<Void>?
    }

    public init(dispatcher: TTRPCDispatcher, limits: TTRPCServerLimits = TTRPCServerLimits(), logger: Logger,
                observer: (any TTRPCServerObserver)? = nil, admission: TTRPCAdmission = .open) {
        self.dispatcher = dispatcher
        self.limits = limits
        self.logger = logger
        self.observer = observer
        self.admission = admission
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelAll()
        self.context = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelAll()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .oversized(let header):
            respond(streamID: header.streamID, error: RPCError(
                .resourceExhausted,
                "message length \(header.length) exceeds maximum message size of \(limits.maxMessageLength)"))
        case .frame(let frame):
            // PROTOCOL.md: unknown message types are ignored for forward compatibility.
            guard frame.header.messageType == .request else { return }
            handleRequest(frame, context: context)
        }
    }

    /// Idle connections (see `TTRPCServerLimits.idleTimeout`) close; ones with requests in flight stay.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            if inFlight.isEmpty {
                logger.debug("closing idle connection")
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error: \(error)")
        context.close(promise: nil)
    }

    private func handleRequest(_ frame: TTRPCFrame, context: ChannelHandlerContext) {
        let streamID = frame.header.streamID
        let request: Ttrpc_Request
        do {
            request = try Ttrpc_Request(serializedBytes: Array(frame.payload.readableBytesView))
        } catch {
            respond(streamID: streamID, error: RPCError(.invalidArgument, "unmarshal request error: \(error)"))
            return
        }
        guard streamID % 2 == 1 else {
            respond(streamID: streamID, error: RPCError(.invalidArgument, "StreamID must be odd for client initiated streams"))
            return
        }
        if let observer, observed[streamID] == nil {
            observed[streamID] = (request.service, request.method, .now)
            observer.requestStarted(service: request.service, method: request.method)
        }
        if let refusal = admission.refusal(for: request) {
            // Logged without the payload: only who was refused, and why.
            logger.warning("request refused", metadata: [
                "service": "\(request.service)", "method": "\(request.method)", "status": "\(refusal.code)", "reason": "\(refusal.message)",
            ])
            respond(streamID: streamID, error: refusal)
            if admission.exhaustedReason != nil { context.close(promise: nil) }
            return
        }
        guard inFlight[streamID] == nil else {
            respond(streamID: streamID, error: RPCError(.invalidArgument, "stream \(streamID) already has a request in flight"))
            return
        }
        guard inFlight.count < limits.maxInFlightPerConnection else {
            respond(streamID: streamID, error: RPCError(
                .resourceExhausted, "too many requests in flight on this connection (limit \(limits.maxInFlightPerConnection))"))
            return
        }
        guard request.timeoutNano >= 0 else {
            respond(streamID: streamID, error: RPCError(.invalidArgument, "timeout_nano must not be negative"))
            return
        }

        var timeout: Duration? = request.timeoutNano > 0 ? .nanoseconds(request.timeoutNano) : nil
        if let cap = limits.maxDeadline { timeout = min(timeout ?? cap, cap) }
        // Metadata costs allocations: attach only what the client asked to be traced by.
        var requestLogger = logger
        if let requestID = request.metadata.first(where: { $0.key == "request-id" })?.value {
            requestLogger[metadataKey: "request-id"] = "\(requestID)"
        }
        let requestContext = TTRPCRequestContext(
            service: request.service, method: request.method, streamID: streamID,
            metadata: request.metadata.map { ($0.key, $0.value) },
            deadline: timeout.map { ContinuousClock.now + $0 },
            logger: requestLogger)

        if let response = dispatcher.dispatchInline(request, context: requestContext) {
            write(streamID: streamID, response: response)
            return
        }
        inFlight[streamID] = InFlightRequest()
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        if let timeout {
            let nanos = Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            inFlight[streamID]?.deadlineTimer = context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
                let handler = loopBoundSelf.value
                handler.inFlight[streamID]?.task?.cancel()
                handler.respond(streamID: streamID, error: RPCError(
                    .deadlineExceeded, "\(request.service)/\(request.method): deadline of \(timeout) exceeded"))
            }
        }
        let dispatcher = self.dispatcher
        let eventLoop = context.eventLoop
        let executor = taskExecutor(for: eventLoop)
        let task = Task(executorPreference: executor) {
            let response = await dispatcher.dispatch(request, context: requestContext)
            if eventLoop.inEventLoop {
                loopBoundSelf.value.respond(streamID: streamID, response: response)
            } else {
                eventLoop.execute { loopBoundSelf.value.respond(streamID: streamID, response: response) }
            }
        }
        inFlight[streamID]?.task = task
    }

    private func respond(streamID: UInt32, error: RPCError) {
        var response = Ttrpc_Response()
        response.status = error.status
        // Immediate refusals have no in-flight entry; send them directly.
        if inFlight[streamID] == nil {
            write(streamID: streamID, response: response)
        } else {
            respond(streamID: streamID, response: response)
        }
    }

    /// Sends the first response for a stream; later ones (a handler finishing
    /// after its deadline fired) are dropped.
    private func respond(streamID: UInt32, response: Ttrpc_Response) {
        guard let entry = inFlight.removeValue(forKey: streamID) else { return }
        entry.deadlineTimer?.cancel()
        write(streamID: streamID, response: response)
    }

    private func write(streamID: UInt32, response: Ttrpc_Response) {
        if let observer, let entry = observed.removeValue(forKey: streamID) {
            observer.requestFinished(service: entry.service, method: entry.method, code: response.status.code,
                                     seconds: Self.secondsSince(entry.start))
        }
        guard let context else { return }
        let bytes: [UInt8]
        do {
            bytes = try response.serializedBytes()
        } catch {
            logger.error("cannot encode response: \(error)")
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        if bytes.count > limits.maxMessageLength {
            var tooLarge = Ttrpc_Response()
            tooLarge.status = RPCError(.resourceExhausted, "response of \(bytes.count) bytes exceeds the maximum message size of \(limits.maxMessageLength); ask for a smaller page").status
            buffer.clear()
            buffer.writeBytes((try? tooLarge.serializedBytes()) ?? [])
        }
        context.writeAndFlush(wrapOutboundOut(TTRPCFrame(streamID: streamID, type: .response, payload: buffer)), promise: nil)
    }

    private static func secondsSince(_ start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    private func cancelAll() {
        if let observer {
            for entry in observed.values {
                observer.requestFinished(service: entry.service, method: entry.method, code: RPCStatusCode.cancelled.rawValue,
                                         seconds: Self.secondsSince(entry.start))
            }
            observed.removeAll()
        }
        for entry in inFlight.values {
            entry.task?.cancel()
            entry.deadlineTimer?.cancel()
        }
        inFlight.removeAll()
    }
}
