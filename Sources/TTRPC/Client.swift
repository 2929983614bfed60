import Foundation
import NIOCore
import NIOPosix
import SwiftProtobuf

/// Where a ttrpc server listens.
public enum TTRPCEndpoint: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "tcp:\(host):\(port)"
        }
    }

    /// Parses `description`'s forms: "unix:PATH" and "tcp:HOST:PORT".
    public static func parse(_ text: String) -> TTRPCEndpoint? {
        if text.hasPrefix("unix:"), text.count > 5 { return .unix(path: String(text.dropFirst(5))) }
        if text.hasPrefix("tcp:") { return parseTCP(String(text.dropFirst(4))) }
        return nil
    }

    /// Parses "HOST:PORT" (IPv6 as "[::1]:PORT").
    public static func parseTCP(_ text: String) -> TTRPCEndpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return .tcp(host: host, port: port)
    }
}

/// Matches responses to requests by stream id on the client side.
final class TTRPCClientHandler: ChannelInboundHandler {
    typealias InboundIn = TTRPCInboundMessage
    typealias OutboundOut = TTRPCFrame

    /// A request waiting for its response, and the timer that gives up on it.
    private struct Pending {
        var promise: EventLoopPromise<Ttrpc_Response>
        var timer: Scheduled<Void>?
    }

    private var pending: [UInt32: Pending] = [:]

    /// How long past a request's own timeout the client waits for the server's
    /// DEADLINE_EXCEEDED (which says what timed out) before answering it itself.
    static let deadlineGrace = TimeAmount.milliseconds(250)
    private var nextStreamID: UInt32 = 1
    private var closedError: (any Error)?

    /// Sends a request on a new odd stream id; must run on the channel's loop.
    func send(_ request: Ttrpc_Request, context: ChannelHandlerContext, promise: EventLoopPromise<Ttrpc_Response>) {
        if let closedError {
            promise.fail(closedError)
            return
        }
        let streamID = nextStreamID
        nextStreamID &+= 2
        if nextStreamID < 3 { nextStreamID = 1 }  // wrapped: odd ids only
        let bytes: [UInt8]
        do {
            bytes = try request.serializedBytes()
        } catch {
            promise.fail(RPCError(.invalidArgument, "cannot encode request: \(error)"))
            return
        }
        guard bytes.count <= TTRPCFrameHeader.defaultMaxLength else {
            promise.fail(RPCError(.resourceExhausted, "request of \(bytes.count) bytes exceeds the 4 MiB ttrpc message limit; send smaller batches"))
            return
        }
        // The server enforces the deadline it is sent; this enforces it when the
        // server cannot answer at all (paused, partitioned, overloaded).
        var timer: Scheduled<Void>?
        if request.timeoutNano > 0 {
            timer = context.eventLoop.scheduleTask(in: .nanoseconds(request.timeoutNano) + Self.deadlineGrace) { [self] in
                let expired = pending.removeValue(forKey: streamID)
                expired?.promise.fail(RPCError(.deadlineExceeded, "\(request.service)/\(request.method): no answer from the server "
                                               + "within the deadline of \(Double(request.timeoutNano) / 1e9) seconds"))
            }
        }
        pending[streamID] = Pending(promise: promise, timer: timer)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(TTRPCFrame(streamID: streamID, type: .request, payload: buffer)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .oversized(let header):
            pending.removeValue(forKey: header.streamID).map { $0.timer?.cancel(); return $0.promise }?.fail(
                RPCError(.resourceExhausted, "response of \(header.length) bytes exceeds the message size limit"))
        case .frame(let frame):
            guard frame.header.messageType == .response, let waiting = pending.removeValue(forKey: frame.header.streamID) else { return }
            waiting.timer?.cancel()
            let promise = waiting.promise
            do {
                promise.succeed(try Ttrpc_Response(serializedBytes: Array(frame.payload.readableBytesView)))
            } catch {
                promise.fail(RPCError(.internal, "server sent an undecodable response: \(error)"))
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RPCError(.unavailable, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RPCError(.unavailable, "connection error: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: RPCError) {
        closedError = error
        let promises = pending.values
        pending.removeAll()
        for waiting in promises {
            waiting.timer?.cancel()
            waiting.promise.fail(error)
        }
    }
}

/// A ttrpc client connection. Safe to share: calls from many tasks are
/// multiplexed on one connection, each on its own stream id.
public final class TTRPCClient: Sendable {
    private let channel: any Channel
    private let ownedGroup: MultiThreadedEventLoopGroup?
    /// The pipeline's handler and its context, looked up once at connect time.
    private let handler: NIOLoopBound<(TTRPCClientHandler, ChannelHandlerContext)>
    private let executor: EventLoopTaskExecutor

    private init(channel: any Channel, ownedGroup: MultiThreadedEventLoopGroup?,
                 handler: NIOLoopBound<(TTRPCClientHandler, ChannelHandlerContext)>) {
        self.channel = channel
        self.ownedGroup = ownedGroup
        self.handler = handler
        executor = EventLoopTaskExecutor(channel.eventLoop)
    }

    /// Connects to a server. Fails with UNAVAILABLE when nothing listens there.
    /// `transport` runs first on the new channel, on its event loop: it adds handlers
    /// below the framing (TLS, for one).
    public static func connect(
        to endpoint: TTRPCEndpoint, group: (any EventLoopGroup)? = nil,
        transport: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws -> TTRPCClient {
        let ownedGroup = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let bootstrap = ClientBootstrap(group: group ?? ownedGroup!)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try transport?(channel)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(TTRPCFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(TTRPCFrameEncoder()))
                    try channel.pipeline.syncOperations.addHandler(TTRPCClientHandler())
                }
            }
        do {
            let channel: any Channel
            switch endpoint {
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let host, let port):
                _ = bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
            let handler = try await channel.eventLoop.submit {
                // A connection closed right after it opened (a refused TLS handshake, say) has lost its handlers.
                guard channel.isActive else { throw RPCError(.unavailable, "the connection closed as it opened") }
                let handler = try channel.pipeline.syncOperations.handler(type: TTRPCClientHandler.self)
                let context = try channel.pipeline.syncOperations.context(handlerType: TTRPCClientHandler.self)
                return NIOLoopBound((handler, context), eventLoop: channel.eventLoop)
            }.get()
            return TTRPCClient(channel: channel, ownedGroup: ownedGroup, handler: handler)
        } catch {
            try? await ownedGroup?.shutdownGracefully()
            throw RPCError(.unavailable, "cannot connect to graphd at \(endpoint): \(error)")
        }
    }

    /// Sends one request and waits for its response; a non-OK status is thrown as RPCError.
    public func call(
        service: String, method: String, payload: [UInt8],
        timeout: Duration? = nil, metadata: [(String, String)] = []
    ) async throws -> [UInt8] {
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = Data(payload)
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            request.timeoutNano = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        }
        request.metadata = metadata.map { key, value in
            var pair = Ttrpc_KeyValue()
            pair.key = key
            pair.value = value
            return pair
        }
        let promise = channel.eventLoop.makePromise(of: Ttrpc_Response.self)
        let finalRequest = request
        let handler = self.handler
        let send: @Sendable () -> Void = {
            let (handler, context) = handler.value
            handler.send(finalRequest, context: context, promise: promise)
        }
        // Inside `onEventLoop` send from here: the response resumes this task on the loop too.
        if channel.eventLoop.inEventLoop { send() } else { channel.eventLoop.execute(send) }
        let response = try await promise.futureResult.get()
        if response.hasStatus, response.status.code != 0 {
            throw RPCError(status: response.status)
        }
        return [UInt8](response.payload)
    }

    /// Typed call: encodes the request message and decodes the response message.
    public func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        service: String, method: String, _ request: Request,
        as: Response.Type = Response.self, timeout: Duration? = nil, metadata: [(String, String)] = []
    ) async throws -> Response {
        let bytes = try await call(
            service: service, method: method, payload: try request.serializedBytes(),
            timeout: timeout, metadata: metadata)
        do {
            return try Response(serializedBytes: bytes)
        } catch {
            throw RPCError(.internal, "cannot decode \(Response.protoMessageName): \(error)")
        }
    }

    /// Runs `body` with this connection's event loop as its task executor. A
    /// call from the cooperative pool pays two thread hops (to the loop to send,
    /// back to the pool with the response); calls made inside `body` send from
    /// the loop's thread and resume there. For a caller that makes many calls in
    /// a row and does little else between them (another connection's calls, or
    /// heavy work, would then run on this loop too).
    public func onEventLoop<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        try await withTaskExecutorPreference(executor, operation: body)
    }

    public func close() async {
        try? await channel.close()
        try? await ownedGroup?.shutdownGracefully()
    }
}
