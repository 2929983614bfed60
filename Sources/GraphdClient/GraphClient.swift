import Foundation
import GraphdProto
import SwiftProtobuf
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
@_exported import TTRPC
import Synchronization

/// A typed client for graphd.v1.Graph over one ttrpc connection.
///
/// Calls may be made concurrently from many tasks; they are multiplexed on the
/// connection. A non-OK status is thrown as `RPCError`.
///
/// ```swift
/// let client = try await GraphClient.connect(to: .unix(path: "/tmp/graphd.sock"))
/// let stats = try await client.stats()
/// print(stats.nodes, stats.edges)
/// await client.close()
/// ```
public struct GraphClient: Sendable {
    public let connection: TTRPCClient
    /// Applied to every call that does not pass its own.
    public var defaultTimeout: Duration?
    /// Sent with every call (e.g. `authorization: Bearer …` for a TCP listener, `request-id`).
    public var metadata: [(String, String)]
    /// A write refused by a replica is sent once to the primary it names (on a
    /// connection opened like this one, kept for later writes).
    public var followsPrimary = true
    /// Session consistency: every read carries the highest log sequence this
    /// client's writes were acknowledged at (`min-log-sequence`), so that a
    /// replica answers only once it holds them (read-your-writes).
    public var readsYourWrites = false
    private let session: ClientSession

    public init(connection: TTRPCClient, defaultTimeout: Duration? = nil, metadata: [(String, String)] = [],
                connector: (@Sendable (TTRPCEndpoint) async throws -> TTRPCClient)? = nil) {
        self.connection = connection
        self.defaultTimeout = defaultTimeout
        self.metadata = metadata
        self.session = ClientSession(connector: connector ?? { try await TTRPCClient.connect(to: $0) })
    }

    /// `tls`: speak TLS on a TCP endpoint (graphd --tls-cert/--tls-key), checking the
    /// server's certificate against the configuration's trust roots.
    public static func connect(to endpoint: TTRPCEndpoint, group: (any EventLoopGroup)? = nil,
                               defaultTimeout: Duration? = nil, bearerToken: String? = nil,
                               tls: TLSConfiguration? = nil) async throws -> GraphClient {
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let connector: @Sendable (TTRPCEndpoint) async throws -> TTRPCClient = { endpoint in
            var transport: (@Sendable (any Channel) throws -> Void)?
            if let context {
                guard case .tcp(let host, _) = endpoint else {
                    throw RPCError(.invalidArgument, "TLS applies to TCP endpoints only, not \(endpoint)")
                }
                transport = { channel in
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: host.isIPAddress ? nil : host))
                }
            }
            return try await TTRPCClient.connect(to: endpoint, group: group, transport: transport)
        }
        return GraphClient(connection: try await connector(endpoint), defaultTimeout: defaultTimeout,
                           metadata: bearerToken.map { [("authorization", "Bearer \($0)")] } ?? [], connector: connector)
    }

    /// Closes the connection (and the primary's, if a write followed one).
    public func close() async {
        await session.close()
        await connection.close()
    }

    /// The highest log sequence a write of this client was acknowledged at
    /// (0: none, or graphd runs alone).
    public var highestLogSequence: UInt64 { session.highestLogSequence }

    /// Runs `body` on this connection's event loop (see `TTRPCClient.onEventLoop`):
    /// calls made inside it skip the two thread hops a call from the cooperative
    /// pool pays.
    public func onEventLoop<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        try await connection.onEventLoop(body)
    }

    private func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ rpc: GraphdMethod, _ request: Request, timeout: Duration?
    ) async throws -> Response {
        let isWrite = rpc.isWrite
        var metadata = self.metadata
        if readsYourWrites, !isWrite, case let sequence = session.highestLogSequence, sequence > 0 {
            metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(sequence)"))
        }
        let kept = isWrite ? session.primary : nil
        let response: Response
        do {
            response = try await (kept ?? connection).call(service: rpc.service, method: rpc.method, request,
                                                           as: Response.self, timeout: timeout ?? defaultTimeout, metadata: metadata)
        } catch let error as RPCError where kept != nil && error.code == .unavailable {
            await session.forgetPrimary()  // the next write goes to this client's own graphd again
            throw error
        } catch let error as RPCError where isWrite && followsPrimary && error.code == .failedPrecondition {
            guard let address = GraphdReplicationWire.primaryAddress(inRefusal: error.message) else { throw error }
            guard let endpoint = TTRPCEndpoint.parse(address) else {
                throw RPCError(.failedPrecondition, "\(error.message) (an address this client cannot reach)")
            }
            let primary = try await session.connectPrimary(endpoint)
            response = try await primary.call(service: rpc.service, method: rpc.method, request,
                                              as: Response.self, timeout: timeout ?? defaultTimeout, metadata: metadata)
        }
        // Reads skip the dynamic cast: only write replies carry a log sequence.
        if isWrite, let written = response as? any LoggedWriteResponse { session.note(written.logSequence) }
        return response
    }

    public func health(timeout: Duration? = nil) async throws -> Graphd_V1_HealthResponse {
        try await call(.health, Graphd_V1_HealthRequest(), timeout: timeout)
    }

    /// Asks graphd for a consistent copy of its store (see `saveSnapshot`).
    public func snapshot(timeout: Duration? = nil) async throws -> Graphd_V1_SnapshotResponse {
        try await call(.snapshot, Graphd_V1_SnapshotRequest(), timeout: timeout)
    }

    public func readSnapshot(_ request: Graphd_V1_ReadSnapshotRequest, timeout: Duration? = nil) async throws -> Graphd_V1_ReadSnapshotResponse {
        try await call(.readSnapshot, request, timeout: timeout)
    }

    /// Writes a consistent copy of graphd's store to `path` (a new file; written
    /// aside and renamed into place once complete and synced): a backup, or the
    /// store of a new replica (`graphd --bootstrap`). Returns what graphd said
    /// the copy holds.
    public func saveSnapshot(to path: String, timeout: Duration? = nil) async throws -> Graphd_V1_SnapshotResponse {
        guard !FileManager.default.fileExists(atPath: path) else { throw RPCError(.alreadyExists, "\(path) exists") }
        let snapshot = try await self.snapshot(timeout: timeout)
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil) else {
            throw RPCError(.invalidArgument, "cannot create \(partial)")
        }
        do {
            let file = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            defer { try? file.close() }
            var request = Graphd_V1_ReadSnapshotRequest()
            request.snapshotID = snapshot.snapshotID
            while true {
                let chunk = try await readSnapshot(request, timeout: timeout)
                try file.write(contentsOf: chunk.data)
                request.offset += UInt64(chunk.data.count)
                if chunk.eof { break }
                guard !chunk.data.isEmpty else { throw RPCError(.dataLoss, "the snapshot ended early at byte \(request.offset)") }
            }
            guard request.offset == snapshot.bytes else {
                throw RPCError(.dataLoss, "read \(request.offset) bytes of a \(snapshot.bytes)-byte snapshot")
            }
            try file.synchronize()
            guard rename(partial, path) == 0 else { throw RPCError(.internal, "cannot rename \(partial) to \(path): errno \(errno)") }
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        return snapshot
    }

    /// - Parameter contentChecksum: also compute `content_checksum` (reads the whole graph).
    public func stats(contentChecksum: Bool = false, timeout: Duration? = nil) async throws -> Graphd_V1_StatsResponse {
        var request = Graphd_V1_StatsRequest()
        request.contentChecksum = contentChecksum
        return try await call(.stats, request, timeout: timeout)
    }

    public func defineTypes(_ request: Graphd_V1_DefineTypesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_DefineTypesResponse {
        try await call(.defineTypes, request, timeout: timeout)
    }

    public func listTypes(timeout: Duration? = nil) async throws -> Graphd_V1_ListTypesResponse {
        try await call(.listTypes, Graphd_V1_ListTypesRequest(), timeout: timeout)
    }

    public func addNodes(_ request: Graphd_V1_AddNodesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_AddNodesResponse {
        try await call(.addNodes, request, timeout: timeout)
    }

    public func addEdges(_ request: Graphd_V1_AddEdgesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_AddEdgesResponse {
        try await call(.addEdges, request, timeout: timeout)
    }

    public func removeNodes(_ request: Graphd_V1_RemoveNodesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RemoveNodesResponse {
        try await call(.removeNodes, request, timeout: timeout)
    }

    public func removeEdges(_ request: Graphd_V1_RemoveEdgesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RemoveEdgesResponse {
        try await call(.removeEdges, request, timeout: timeout)
    }

    public func getNode(_ request: Graphd_V1_GetNodeRequest, timeout: Duration? = nil) async throws -> Graphd_V1_GetNodeResponse {
        try await call(.getNode, request, timeout: timeout)
    }

    public func neighbors(_ request: Graphd_V1_NeighborsRequest, timeout: Duration? = nil) async throws -> Graphd_V1_NeighborsResponse {
        try await call(.neighbors, request, timeout: timeout)
    }

    public func listNodes(_ request: Graphd_V1_ListNodesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_ListNodesResponse {
        try await call(.listNodes, request, timeout: timeout)
    }

    public func listEdges(_ request: Graphd_V1_ListEdgesRequest, timeout: Duration? = nil) async throws -> Graphd_V1_ListEdgesResponse {
        try await call(.listEdges, request, timeout: timeout)
    }

    public func compact(timeout: Duration? = nil) async throws -> Graphd_V1_CompactResponse {
        try await call(.compact, Graphd_V1_CompactRequest(), timeout: timeout)
    }

    public func embed(_ request: Graphd_V1_EmbedRequest, timeout: Duration? = nil) async throws -> Graphd_V1_EmbedResponse {
        try await call(.embed, request, timeout: timeout)
    }

    // MARK: graphd.v1.Recommend

    public func recommend(_ request: Graphd_V1_RecommendRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RecommendResponse {
        try await call(.recommend, request, timeout: timeout)
    }

    public func personalizedPageRank(_ request: Graphd_V1_PersonalizedPageRankRequest, timeout: Duration? = nil) async throws -> Graphd_V1_PersonalizedPageRankResponse {
        try await call(.personalizedPageRank, request, timeout: timeout)
    }

    // MARK: graphd.v1.Router

    public func route(_ request: Graphd_V1_RouteRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RouteResponse {
        try await call(.route, request, timeout: timeout)
    }

    public func feedback(_ request: Graphd_V1_FeedbackRequest, timeout: Duration? = nil) async throws -> Graphd_V1_FeedbackResponse {
        try await call(.feedback, request, timeout: timeout)
    }

    public func addLLM(_ request: Graphd_V1_AddLLMRequest, timeout: Duration? = nil) async throws -> Graphd_V1_AddLLMResponse {
        try await call(.addLLM, request, timeout: timeout)
    }

    public func listLLMs(timeout: Duration? = nil) async throws -> Graphd_V1_ListLLMsResponse {
        try await call(.listLLMs, Graphd_V1_ListLLMsRequest(), timeout: timeout)
    }

    public func removeLLM(_ request: Graphd_V1_RemoveLLMRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RemoveLLMResponse {
        try await call(.removeLLM, request, timeout: timeout)
    }

    public func setTask(_ request: Graphd_V1_SetTaskRequest, timeout: Duration? = nil) async throws -> Graphd_V1_SetTaskResponse {
        try await call(.setTask, request, timeout: timeout)
    }

    public func listTasks(timeout: Duration? = nil) async throws -> Graphd_V1_ListTasksResponse {
        try await call(.listTasks, Graphd_V1_ListTasksRequest(), timeout: timeout)
    }

    public func trainRouter(_ request: Graphd_V1_TrainRouterRequest, timeout: Duration? = nil) async throws -> Graphd_V1_TrainRouterResponse {
        try await call(.train, request, timeout: timeout)
    }

    /// The running (or last) Train job's epoch and losses.
    public func trainRouterProgress(timeout: Duration? = nil) async throws -> Graphd_V1_TrainingProgress {
        try await call(.trainProgress, Graphd_V1_TrainingProgressRequest(), timeout: timeout)
    }

    // MARK: graphd.v1.Conversation

    public func retrieve(_ request: Graphd_V1_RetrieveRequest, timeout: Duration? = nil) async throws -> Graphd_V1_RetrieveResponse {
        try await call(.retrieve, request, timeout: timeout)
    }

    public func trainReasoner(_ request: Graphd_V1_TrainReasonerRequest, timeout: Duration? = nil) async throws -> Graphd_V1_TrainReasonerResponse {
        try await call(.trainReasoner, request, timeout: timeout)
    }

    /// Stores a dialogue as a conversation node (online learning).
    public func addConversation(_ request: Graphd_V1_AddConversationRequest, timeout: Duration? = nil) async throws -> Graphd_V1_AddConversationResponse {
        try await call(.addConversation, request, timeout: timeout)
    }

    /// The running (or last) TrainReasoner job's epoch and losses.
    public func trainReasonerProgress(timeout: Duration? = nil) async throws -> Graphd_V1_TrainingProgress {
        try await call(.trainReasonerProgress, Graphd_V1_TrainingProgressRequest(), timeout: timeout)
    }
}

extension Graphd_V1_NodeRef {
    public init(type: String, key: String) {
        self.init()
        self.type = type
        self.key = key
    }
}

extension String {
    /// An IPv4 or IPv6 literal (no SNI for those).
    var isIPAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}

/// A write reply: it carries the log sequence the write is visible at.
protocol LoggedWriteResponse { var logSequence: UInt64 { get } }

extension Graphd_V1_DefineTypesResponse: LoggedWriteResponse {}
extension Graphd_V1_AddNodesResponse: LoggedWriteResponse {}
extension Graphd_V1_AddEdgesResponse: LoggedWriteResponse {}
extension Graphd_V1_RemoveNodesResponse: LoggedWriteResponse {}
extension Graphd_V1_RemoveEdgesResponse: LoggedWriteResponse {}
extension Graphd_V1_FeedbackResponse: LoggedWriteResponse {}
extension Graphd_V1_AddLLMResponse: LoggedWriteResponse {}
extension Graphd_V1_RemoveLLMResponse: LoggedWriteResponse {}
extension Graphd_V1_TrainRouterResponse: LoggedWriteResponse {}
extension Graphd_V1_SetTaskResponse: LoggedWriteResponse {}
extension Graphd_V1_TrainReasonerResponse: LoggedWriteResponse {}
extension Graphd_V1_AddConversationResponse: LoggedWriteResponse {}

/// What a client (and its copies) share across calls: the primary a write was
/// sent on to, and the highest log sequence its writes were acknowledged at.
final class ClientSession: Sendable {
    private let connector: @Sendable (TTRPCEndpoint) async throws -> TTRPCClient
    private let state = Mutex<(primary: (endpoint: TTRPCEndpoint, client: TTRPCClient)?, highest: UInt64)>((nil, 0))

    init(connector: @escaping @Sendable (TTRPCEndpoint) async throws -> TTRPCClient) {
        self.connector = connector
    }

    var primary: TTRPCClient? { state.withLock { $0.primary?.client } }
    var highestLogSequence: UInt64 { state.withLock { $0.highest } }

    func note(_ sequence: UInt64) { state.withLock { $0.highest = max($0.highest, sequence) } }

    /// A connection to the primary at `endpoint`: the one kept, or a new one
    /// (which replaces a connection to a primary that was deposed).
    func connectPrimary(_ endpoint: TTRPCEndpoint) async throws -> TTRPCClient {
        if let kept = state.withLock({ $0.primary }), kept.endpoint == endpoint { return kept.client }
        let client = try await connector(endpoint)
        let replaced = state.withLock { state in
            defer { state.primary = (endpoint, client) }
            return state.primary?.client
        }
        await replaced?.close()
        return client
    }

    func forgetPrimary() async { await close() }

    func close() async {
        await state.withLock { state in
            defer { state.primary = nil }
            return state.primary?.client
        }?.close()
    }
}
