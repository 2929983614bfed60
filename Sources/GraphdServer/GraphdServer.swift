import BackgroundWork
import Foundation
import GraphStore
import GraphdProto
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Replication
import Routing
import ServiceLifecycle
import Synchronization
import TTRPC

/// Everything graphd is configured with.
public struct GraphdConfiguration: Sendable {
    /// Default Unix socket path when neither --socket nor GRAPHD_SOCKET is given.
    public static let defaultSocketPath = "/tmp/graphd.sock"
    /// Default TCP address when --tcp is given without one (loopback only).
    public static let defaultTCPAddress = "127.0.0.1:7419"

    public var socketPath: String = defaultSocketPath
    /// Permission bits of the socket file (owner read/write only by default).
    public var socketMode: mode_t = 0o600
    public var tcp: (host: String, port: Int)? = nil
    public var storePath: String
    public var synchronous: StoreSynchronous = .full
    public var compaction = CompactionPolicy()
    public var connectionLimits = TTRPCServerLimits()
    public var serviceLimits = GraphServiceLimits()
    public var embedding = EmbeddingConfiguration()
    /// Router: the part of a prompt that identifies the query, for tasks without a setting of their own.
    public var routerQueryText: QueryTextFocus = .full
    /// Router: how long, and how many, Route decisions stay resolvable for Feedback by decision_id.
    public var routerDecisions = DecisionLog.Limits()
    /// Router: how Route explores when a request does not say (nil: it does not).
    public var routerExploration: RouteExploration? = nil
    /// Metrics (observer of every request) and the HTTP address for /metrics,
    /// /healthz and /readyz; nil: no metrics listener.
    public var metrics: GraphdMetrics? = nil
    public var metricsAddress: (host: String, port: Int)? = nil
    /// Bearer token every request on the TCP listener must carry (nil: none required).
    public var tcpToken: [UInt8]? = nil
    /// Unix-socket peers allowed by uid (SO_PEERCRED); nil: any (the socket is 0600).
    public var allowedPeerUIDs: Set<UInt32>? = nil
    /// TLS on the TCP listener (certificate chain and key); nil: plain TCP.
    public var tcpTLS: TLSConfiguration? = nil
    /// Replication through a NATS JetStream log (nil: this graphd runs alone, role "single").
    /// Open the server with `GraphdServer.open` when it is set.
    public var replication: ReplicationOptions? = nil
    /// A store snapshot (`graphctl snapshot`) copied to `storePath` when no store
    /// is there yet (a new replica); ignored once the store exists.
    public var bootstrapSnapshot: String? = nil
    /// A replica's /readyz says ready only while it is at most this far behind the log.
    public var maxReadyLag: Duration = .seconds(5)
    /// Tests only: a background job that multiplies matrices for this long (see `GraphdBackground`).
    public var diagnosticGEMM: Duration? = nil

    public init(storePath: String) {
        self.storePath = storePath
    }
}

/// The daemon: opens the store and serves ttrpc on a Unix socket (and
/// optionally TCP) until graceful shutdown. Its background work (compaction,
/// model refreshes, jobs) is the service `makeBackground()` returns, which must
/// run beside it in the same `ServiceGroup`, listed before it.
public final class GraphdServer: Service, Sendable {
    public let configuration: GraphdConfiguration
    public let database: GraphDatabase
    /// graphd.v1.Router, kept for the life of the server so its predictor cache survives.
    let router: RouterService
    let conversation: ConversationService
    /// Recommendation models, built in the background and reported by Stats.
    public let models: RecommendationModels
    /// Every background job (training, model builds, rebuilds aside): stopped and
    /// drained at shutdown before the process exits.
    public let jobs = BackgroundJobs()
    /// The compaction and refresh loops and the jobs' drain at shutdown, as a
    /// service to run beside this one (one per server).
    public func makeBackground() -> GraphdBackground { GraphdBackground(server: self) }
    /// This graphd's part in replication (nil: it runs alone).
    public let replication: ReplicationController?
    /// Store copies written by Snapshot; removed when the server stops.
    let snapshots: SnapshotFiles
    /// The replication loop as a service, to run first in the `ServiceGroup`
    /// (it stops last: a primary keeps its lease until its requests drained).
    public func makeReplication() -> ReplicationService? { replication.map(ReplicationService.init) }
    let logger: Logger
    let group: any EventLoopGroup

    /// Opens the store (creating it if missing) and rebuilds the graph from it,
    /// for a graphd that runs alone (`configuration.replication` nil).
    public convenience init(configuration: GraphdConfiguration, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        guard configuration.replication == nil else {
            throw GraphdStartupError("a replicated graphd connects to NATS at start: open it with GraphdServer.open")
        }
        let start = ContinuousClock.now
        try self.init(configuration: configuration, logger: logger, group: group,
                      database: Self.openStore(configuration, logger: logger), replication: nil)
        logOpened(since: start)
    }

    /// Opens the store and, when `configuration.replication` is set, joins the
    /// replication log: NATS unreachable, or a store ahead of the stream, fail
    /// here with a clear error and nothing written.
    public static func open(configuration: GraphdConfiguration, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> GraphdServer {
        guard let options = configuration.replication else { return try GraphdServer(configuration: configuration, logger: logger, group: group) }
        let start = ContinuousClock.now
        let link: ReplicationLink
        do {
            link = try await ReplicationLink(options: options)
        } catch {
            throw GraphdStartupError("cannot reach replication stream \(options.stream) at \(options.connection.servers.joined(separator: ",")): \(error)")
        }
        // Decisions go to a bucket every graphd of the stream reads: the primary
        // resolves a replica's, and a new primary the old one's.
        var decisionArchive: (any DecisionArchive)?
        if configuration.routerDecisions.lifetime > .zero {
            do {
                let bucket = try await link.expiringBucket(options.decisionBucket, ttl: configuration.routerDecisions.lifetime)
                decisionArchive = BucketDecisionArchive(bucket: bucket, logger: logger)
            } catch {
                throw GraphdStartupError("cannot open the decision bucket \(options.decisionBucket): \(error)")
            }
        }
        let database = try openStore(configuration, logger: logger)
        let replication: ReplicationController
        do {
            replication = try await ReplicationController(link: link, database: database, logger: logger)
        } catch {
            throw GraphdStartupError("cannot replicate \(configuration.storePath) from stream \(options.stream): \(error)")
        }
        let server = try GraphdServer(configuration: configuration, logger: logger, group: group, database: database, replication: replication,
                                      decisionArchive: decisionArchive)
        server.logOpened(since: start)
        return server
    }

    private static func openStore(_ configuration: GraphdConfiguration, logger: Logger) throws -> GraphDatabase {
        if let snapshot = configuration.bootstrapSnapshot { try bootstrap(configuration.storePath, from: snapshot, logger: logger) }
        return try GraphDatabase(path: configuration.storePath, synchronous: configuration.synchronous, policy: configuration.compaction)
    }

    /// Copies `snapshot` to `store` (aside, synced, then renamed into place),
    /// unless a store is there already: a restarted replica keeps its own.
    private static func bootstrap(_ store: String, from snapshot: String, logger: Logger) throws {
        guard !FileManager.default.fileExists(atPath: store) else {
            logger.notice("the store exists: --bootstrap ignored", metadata: ["store": "\(store)", "snapshot": "\(snapshot)"])
            return
        }
        let partial = store + ".bootstrap"
        do {
            try? FileManager.default.removeItem(atPath: partial)
            try FileManager.default.copyItem(atPath: snapshot, toPath: partial)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(atPath: partial, toPath: store)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw GraphdStartupError("cannot bootstrap \(store) from snapshot \(snapshot): \(error)")
        }
        logger.info("store bootstrapped from a snapshot", metadata: ["store": "\(store)", "snapshot": "\(snapshot)"])
    }

    private init(configuration: GraphdConfiguration, logger: Logger, group: any EventLoopGroup,
                 database: GraphDatabase, replication: ReplicationController?, decisionArchive: (any DecisionArchive)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        self.database = database
        self.replication = replication
        self.snapshots = SnapshotFiles(storePath: configuration.storePath)
        self.models = RecommendationModels(jobs: jobs)
        let decisions = DecisionLog(limits: configuration.routerDecisions, archive: decisionArchive)
        self.router = RouterService(database: database, router: Router(store: database, embedding: configuration.embedding, jobs: jobs,
                                                   defaultQueryText: configuration.routerQueryText, decisions: decisions,
                                                   defaultExploration: configuration.routerExploration, logger: logger))
        self.conversation = ConversationService(database: database, jobs: jobs)
    }

    private func logOpened(since start: ContinuousClock.Instant) {
        let snapshot = database.snapshot
        logger.info("store opened", metadata: [
            "store": "\(configuration.storePath)", "nodes": "\(snapshot.nodeCount)", "edges": "\(snapshot.edgeCount)",
            "seconds": "\(ContinuousClock.now - start)", "applied_log_sequence": "\(database.appliedLogSequence)",
        ])
    }

    public func makeDispatcher() -> TTRPCDispatcher {
        var dispatcher = TTRPCDispatcher()
        dispatcher.gate = ReplicationGate(replication: replication).decide
        GraphService(database: database, limits: configuration.serviceLimits, models: models, embedding: configuration.embedding,
                     replication: replication, snapshots: snapshots).register(into: &dispatcher)
        RecommendService(database: database, models: models).register(into: &dispatcher)
        router.register(into: &dispatcher)
        conversation.register(into: &dispatcher)
        return dispatcher
    }

    public func run() async throws {
        let dispatcher = makeDispatcher()
        let limits = configuration.connectionLimits
        let logger = self.logger
        let observer = configuration.metrics
        let tcpToken = configuration.tcpToken, allowedUIDs = configuration.allowedPeerUIDs
        let gate = TTRPCConnectionGate(limit: limits.maxConnections)
        let connections = OpenConnections()
        let tlsContext: NIOSSLContext?
        do {
            tlsContext = try configuration.tcpTLS.map { try NIOSSLContext(configuration: $0) }
        } catch {
            throw GraphdStartupError("cannot set up TLS for the TCP listener: \(error)")
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // One read per readiness event: a request fits one read, and a second
            // read would only return EAGAIN (a wasted syscall per request).
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { channel in
                Self.admission(for: channel, tcpToken: tcpToken, allowedUIDs: allowedUIDs, logger: logger).flatMapThrowing { admission in
                    var admission = admission
                    if let tlsContext, !Self.isUnix(channel) {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    connections.insert(channel)
                    if gate.tryAcquire() {
                        channel.closeFuture.whenComplete { _ in gate.release() }
                    } else {
                        logger.warning("connection refused", metadata: ["reason": "connection limit", "limit": "\(limits.maxConnections)"])
                        admission.exhaustedReason = "too many connections (limit \(limits.maxConnections)); retry later"
                    }
                    if let idle = limits.idleTimeout {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: TimeAmount.nanoseconds(Int64(idle.components.seconds) * 1_000_000_000 + idle.components.attoseconds / 1_000_000_000)))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(TTRPCFrameDecoder(maxLength: limits.maxMessageLength)))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(TTRPCFrameEncoder()))
                    try channel.pipeline.syncOperations.addHandler(TTRPCServerHandler(
                        dispatcher: dispatcher, limits: limits, logger: logger, observer: observer, admission: admission))
                }
            }

        var listeners: [any Channel] = []
        // TCP first: once Health answers on the Unix socket, every listener is up.
        if let tcp = configuration.tcp {
            do {
                let channel = try await bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                    .bind(host: tcp.host, port: tcp.port).get()
                listeners.append(channel)
                logger.info("listening", metadata: ["tcp": "\(channel.localAddress?.description ?? "\(tcp.host):\(tcp.port)")"])
            } catch {
                throw GraphdStartupError("cannot listen on tcp \(tcp.host):\(tcp.port): \(error)")
            }
        }

        let socketPath = configuration.socketPath
        do {
            try await removeStaleSocket(at: socketPath)
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
        // The umask makes the socket owner-only from the moment it exists.
        let previousMask = umask(0o777 & ~configuration.socketMode)
        let unixChannel: any Channel
        do {
            unixChannel = try await bootstrap.bind(unixDomainSocketPath: socketPath).get()
            umask(previousMask)
        } catch {
            umask(previousMask)
            for listener in listeners { try? await listener.close() }
            throw GraphdStartupError("cannot listen on unix socket \(socketPath): \(error)")
        }
        chmod(socketPath, configuration.socketMode)
        listeners.append(unixChannel)
        logger.info("listening", metadata: ["unix": "\(socketPath)"])

        if let metrics = configuration.metrics, let address = configuration.metricsAddress {
            let database = self.database, models = self.models, replication = self.replication
            let http = ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(MetricsHTTPHandler(metrics: metrics, database: database, models: models,
                                                                       replication: replication, ready: { self.isReady }))
                    }
                }
            do {
                let channel = try await http.bind(host: address.host, port: address.port).get()
                listeners.append(channel)
                logger.info("metrics listening", metadata: ["http": "\(channel.localAddress?.description ?? "\(address.host):\(address.port)")"])
            } catch {
                for listener in listeners { try? await listener.close() }
                throw GraphdStartupError("cannot listen for metrics on \(address.host):\(address.port): \(error)")
            }
        }

        await withGracefulShutdownHandler {
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            logger.info("shutting down")
        }
        for listener in listeners { try? await listener.close() }
        unlink(socketPath)
        snapshots.removeAll()
        logger.info("stopped listening")
        // Requests in flight get a moment to answer; then the connections close,
        // which cancels what still runs (a Train stops at its next epoch), and
        // nothing of theirs may still compute when the process exits.
        let requests = dispatcher.requestsInFlight
        if await !requests.waitUntilIdle(timeout: Self.shutdownGrace) {
            logger.info("closing connections with requests in flight", metadata: ["requests": "\(requests.inFlight)"])
        }
        await connections.closeAll()
        if await !requests.waitUntilIdle(timeout: .seconds(30)) {
            logger.warning("requests still running at shutdown", metadata: ["requests": "\(requests.inFlight)"])
        }
    }

    /// How long requests in flight may take to answer once shutdown begins.
    static let shutdownGrace = Duration.seconds(5)

    /// Linux's `struct ucred` (hidden from Swift's Glibc module behind _GNU_SOURCE).
    struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// TCP connections need the token; Unix peers must have an allowed uid.
    private static func isUnix(_ channel: any Channel) -> Bool {
        if case .unixDomainSocket? = channel.localAddress { return true }
        return false
    }

    private static func admission(for channel: any Channel, tcpToken: [UInt8]?, allowedUIDs: Set<UInt32>?,
                                  logger: Logger) -> EventLoopFuture<TTRPCAdmission> {
        guard isUnix(channel) else { return channel.eventLoop.makeSucceededFuture(TTRPCAdmission(bearerToken: tcpToken)) }
        guard let allowedUIDs, let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(.open)
        }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return credentials.map { peer in
            if allowedUIDs.contains(peer.uid) { return TTRPCAdmission.open }
            logger.warning("peer refused", metadata: ["uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            return TTRPCAdmission(deniedReason: "uid \(peer.uid) may not use this socket")
        }.recover { error -> TTRPCAdmission in
            TTRPCAdmission(deniedReason: "cannot read the peer's credentials: \(error)")
        }
    }

    private func removeStaleSocket(at path: String) async throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        if let client = try? await TTRPCClient.connect(to: .unix(path: path), group: group) {
            await client.close()
            throw GraphdStartupError("another process is listening on \(path); stop it or choose another --socket")
        }
        unlink(path)
    }
}

/// The client connections open now, to close them at shutdown.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func insert(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = channels.withLock { $0.removeValue(forKey: id) } }
    }

    func closeAll() async {
        for channel in channels.withLock({ Array($0.values) }) { try? await channel.close() }
    }
}

public struct GraphdStartupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
