import CoreMetrics
import Foundation
import GraphCore
import GraphStore
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Replication
import TTRPC

/// graphd's metrics, through swift-metrics (bootstrapped with swift-prometheus
/// by the daemon): per-request counters and latency by service, method and
/// status; requests in flight; and, refreshed on every scrape, graph size by
/// type, delta size, compactions and model freshness.
public final class GraphdMetrics: TTRPCServerObserver, Sendable {
    public let registry: PrometheusCollectorRegistry
    private let inFlight: CoreMetrics.Meter

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.inFlight = CoreMetrics.Meter(label: "graphd_requests_in_flight")
    }

    public func requestStarted(service: String, method: String) {
        inFlight.increment(by: 1)
    }

    public func requestFinished(service: String, method: String, code: Int32, seconds: Double) {
        inFlight.decrement(by: 1)
        let status = RPCStatusCode(rawValue: code).map { "\($0)" } ?? "\(code)"
        CoreMetrics.Counter(label: "graphd_requests_total", dimensions: [("service", service), ("method", method), ("status", status)]).increment()
        CoreMetrics.Timer(label: "graphd_request_duration_seconds", dimensions: [("service", service), ("method", method)])
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Sets the gauges that describe the graph as it is now.
    func refresh(database: GraphDatabase, models: RecommendationModels, replication: ReplicationController?) {
        let snapshot = database.snapshot
        CoreMetrics.Gauge(label: "graphd_nodes").record(snapshot.nodeCount)
        CoreMetrics.Gauge(label: "graphd_edges").record(snapshot.edgeCount)
        for info in snapshot.schema.nodeTypes {
            CoreMetrics.Gauge(label: "graphd_nodes_by_type", dimensions: [("type", info.name)]).record(snapshot.nodes.countByType[info.id] ?? 0)
        }
        for info in snapshot.schema.edgeTypes {
            CoreMetrics.Gauge(label: "graphd_edges_by_type", dimensions: [("type", info.name)]).record(snapshot.edgeCountByType[info.id] ?? 0)
        }
        CoreMetrics.Gauge(label: "graphd_delta_edges").record(snapshot.deltaEdgeCount)
        CoreMetrics.Gauge(label: "graphd_delta_removals").record(snapshot.removedSinceCompaction)
        CoreMetrics.Gauge(label: "graphd_graph_version").record(Double(snapshot.version))
        let compactions = database.compactionStats
        CoreMetrics.Gauge(label: "graphd_compactions").record(compactions.count)
        CoreMetrics.Gauge(label: "graphd_last_compaction_seconds").record(compactions.lastSeconds)
        CoreMetrics.Gauge(label: "graphd_resident_memory_bytes").record(Double(ProcessMemory.residentBytes()))
        if let status = replication?.status {
            for role in [ReplicationRole.primary, .replica] {
                CoreMetrics.Gauge(label: "graphd_replication_role", dimensions: [("role", role.rawValue)]).record(status.role == role ? 1 : 0)
            }
            CoreMetrics.Gauge(label: "graphd_replication_applied_sequence").record(Double(status.appliedSequence))
            CoreMetrics.Gauge(label: "graphd_replication_last_sequence").record(Double(status.lastSequence))
            CoreMetrics.Gauge(label: "graphd_replication_lag_entries").record(Double(status.lagEntries))
            CoreMetrics.Gauge(label: "graphd_replication_lag_seconds").record(status.lagSeconds)
        }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        for (name, model) in models.inventory() {
            CoreMetrics.Gauge(label: "graphd_model_age_seconds", dimensions: [("model", name)]).record(Double(nowMs - model.builtAtMs) / 1000)
            CoreMetrics.Gauge(label: "graphd_model_graph_version", dimensions: [("model", name)]).record(Double(model.matrix.version))
        }
    }
}

/// The optional HTTP listener: GET /metrics (Prometheus text format),
/// /healthz (the process answers), /readyz (the store is loaded and the ttrpc
/// listeners are up; a replica, also at most `maxReadyLag` behind the log),
/// /role (single, primary or replica). Anything else is 404; non-GET is 405.
final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: GraphdMetrics
    let database: GraphDatabase
    let models: RecommendationModels
    let replication: ReplicationController?
    let ready: @Sendable () -> Bool

    init(metrics: GraphdMetrics, database: GraphDatabase, models: RecommendationModels, replication: ReplicationController?,
         ready: @escaping @Sendable () -> Bool) {
        self.metrics = metrics
        self.database = database
        self.models = models
        self.replication = replication
        self.ready = ready
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, body, type): (HTTPResponseStatus, [UInt8], String)
        if head.method != .GET {
            (status, body, type) = (.methodNotAllowed, Array("only GET\n".utf8), "text/plain")
        } else {
            switch head.uri.split(separator: "?").first.map(String.init) ?? head.uri {
            case "/metrics":
                metrics.refresh(database: database, models: models, replication: replication)
                (status, body, type) = (.ok, metrics.registry.emitToBuffer(), "text/plain; version=0.0.4")
            case "/healthz":
                (status, body, type) = (.ok, Array("ok\n".utf8), "text/plain")
            case "/role":
                // For a deployment to label the pod that holds the lease (deploy/kubernetes).
                (status, body, type) = (.ok, Array("\(replication?.role.rawValue ?? "single")\n".utf8), "text/plain")
            case "/readyz":
                (status, body, type) = ready() ? (.ok, Array("ready\n".utf8), "text/plain") : (.serviceUnavailable, Array("not ready: a replica behind the log\n".utf8), "text/plain")
            default:
                (status, body, type) = (.notFound, Array("not found: try /metrics, /healthz, /readyz, /role\n".utf8), "text/plain")
            }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
