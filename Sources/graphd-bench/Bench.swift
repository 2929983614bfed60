import ArgumentParser
import Foundation
import GraphdHarness
import GraphdTools
import GraphCore
import GraphStore
import GraphdClient
import GraphdProto
#if canImport(Glibc)
import Glibc
#endif

/// graphd's benchmarks, out of the admin CLI: each prints figures from a
/// release build beside a baseline measured in the same run.
@main
struct GraphdBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphd-bench", abstract: "Benchmarks: print medians with a baseline measured in the same run.",
        discussion: """
        Each benchmark starts its own graphd (the binary next to graphd-bench, or --graphd) on a \
        temporary socket and store. Build with 'swift build -c release' first; debug builds \
        measure nothing useful.
        """,
        version: GraphdVersion.string,
        subcommands: [BenchRPC.self, BenchIngest.self, BenchScale.self, BenchPPR.self, BenchRecommend.self, BenchEmbed.self, BenchRouter.self, BenchRoute.self, BenchLoad.self, BenchCrash.self, BenchCRS.self, BenchReplicate.self])
}

/// Options shared by the benchmarks.
struct BenchOptions: ParsableArguments {
    @Option(help: "graphd executable (default: the one next to graphd-bench).")
    var graphd: String?
    @Option(help: "Scratch directory for sockets and stores (default: a new one under /tmp).")
    var scratch: String?
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    var graphdPath: String {
        if let graphd { return graphd }
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("graphd").path
    }

    func makeScratch() throws -> String {
        let path = scratch ?? "/tmp/graphd-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A graphd process started by a benchmark: the harness the end-to-end tests
/// use, with the benchmark's exit codes.
final class BenchDaemon: Sendable {
    let graphd: GraphdProcess
    var socket: String { graphd.socket }
    var process: Process { graphd.process }

    init(graphd path: String, socket: String, store: String, arguments: [String] = []) throws {
        do {
            graphd = try GraphdProcess(executable: path, socket: socket, store: store, arguments: arguments)
        } catch let error as GraphdProcessError {
            throw fail(message: "\(error); build it (swift build -c release) or pass --graphd", code: ToolExit.noInput)
        }
    }

    /// Waits for Health; returns the seconds from launch.
    @discardableResult
    func waitUntilServing(since start: ContinuousClock.Instant = .now) async throws -> Double {
        do {
            return try await graphd.waitUntilServing(timeout: .seconds(3600), since: start)
        } catch let error as GraphdProcessError {
            throw fail(message: error.description, code: ToolExit.software)
        }
    }

    func stop() { graphd.stop() }
}

/// Latency summary of one series, in microseconds.
struct LatencySummary {
    var p50: Double, p99: Double, p999: Double, count: Int

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        p50 = quantile(sorted: sorted, 0.5); p99 = quantile(sorted: sorted, 0.99); p999 = quantile(sorted: sorted, 0.999)
        count = sorted.count
    }

    var json: [String: Any] { ["p50_us": p50, "p99_us": p99, "p999_us": p999, "samples": count] }
}

/// The q-quantile of ascending `sorted` (the sample at rank ⌊q·n⌋; 0 when empty).
func quantile(sorted: [Double], _ q: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))]
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

@inline(__always) func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

// MARK: Raw sockets (the baseline and a blocking ttrpc peer): GraphdHarness.RawSockets

typealias Raw = RawSockets

/// An echo server on its own thread: each connection gets a thread that echoes
/// whatever it reads. The baseline the RPC round trip is compared with.
final class EchoServer: @unchecked Sendable {
    let listener: Int32

    init(unixPath: String) throws {
        unlink(unixPath)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = Raw.unixAddress(unixPath)
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0, listen(listener, 16) == 0 else { throw RawSocketError(description: "echo bind \(unixPath): errno \(errno)") }
        start()
    }

    init(tcpPort: Int) throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Raw.loopback(port: tcpPort)
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0, listen(listener, 16) == 0 else { throw RawSocketError(description: "echo bind tcp \(tcpPort): errno \(errno)") }
        start()
    }

    private func start() {
        let listener = self.listener
        Thread.detachNewThread {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                        if n <= 0 { break }
                        if !buffer.withUnsafeBytes({ Raw.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) { break }
                    }
                    close(fd)
                }
            }
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

// MARK: bench rpc

struct BenchRPC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc", abstract: "Empty RPC round trip (Health) over Unix and TCP against a raw socket echo.",
        discussion: """
        Clients per transport, alternated over --rounds rounds: a raw echo of the same \
        bytes as the ttrpc request (baseline), a blocking ttrpc client (frames Health by hand), \
        the Swift async GraphClient called from the cooperative pool, and the same client \
        inside onEventLoop (calls send and resume on the connection's loop). Medians over \
        rounds of each round's p50/p99.
        """)

    @Option(help: "Round trips per client per round.")
    var requests: Int = 20_000
    @Option(help: "Rounds (medians are taken over rounds).")
    var rounds: Int = 5
    @Option(name: .customLong("client"), help: """
        Client series to run (repeatable): ttrpc_blocking, swift_client, swift_on_loop; \
        default all. The echo baseline always runs. One series alone is what to profile.
        """)
    var clients: [String] = []
    @OptionGroup var options: BenchOptions

    static let clientSeries = ["ttrpc_blocking", "swift_client", "swift_on_loop"]

    func validate() throws {
        for name in clients where !Self.clientSeries.contains(name) {
            throw ValidationError("--client \(name): expected one of \(Self.clientSeries.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let selected = ["echo"] + (clients.isEmpty ? Self.clientSeries : Self.clientSeries.filter(clients.contains))
        let scratch = try options.makeScratch()
        let port = Raw.freePort()
        let daemon = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/rpc.sock", store: scratch + "/rpc.sqlite",
                                     arguments: ["--tcp", "127.0.0.1:\(port)", "--tcp-insecure"])
        defer { daemon.stop() }
        try await daemon.waitUntilServing()
        let echoPort = Raw.freePort()
        let unixEcho = try EchoServer(unixPath: scratch + "/echo.sock")
        let tcpEcho = try EchoServer(tcpPort: echoPort)
        defer { unixEcho.stop(); tcpEcho.stop() }

        var request = Ttrpc_Request()
        request.service = GraphdMethod.health.service
        request.method = GraphdMethod.health.method
        let body: [UInt8] = try request.serializedBytes()
        var frame = [UInt8]()
        frame += withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init)
        frame += withUnsafeBytes(of: UInt32(1).bigEndian, Array.init)
        frame += [1, 0] + body

        struct Series { var p50: [Double] = [], p99: [Double] = [] }
        var results: [String: Series] = [:]
        let transports: [(name: String, connect: () throws -> Int32, echo: () throws -> Int32, endpoint: TTRPCEndpoint)] = [
            ("unix", { try Raw.connectUnix(daemon.socket) }, { try Raw.connectUnix(scratch + "/echo.sock") }, .unix(path: daemon.socket)),
            ("tcp", { try Raw.connectTCP(port: port) }, { try Raw.connectTCP(port: echoPort) }, .tcp(host: "127.0.0.1", port: port)),
        ]
        for round in 0..<rounds {
            for transport in transports {
                var measured = ["echo": try blockingSeries(fd: try transport.echo(), frame: frame, ttrpc: false, requests: requests)]
                if selected.contains("ttrpc_blocking") {
                    measured["ttrpc_blocking"] = try blockingSeries(fd: try transport.connect(), frame: frame, ttrpc: true, requests: requests)
                }
                let client = try await GraphClient.connect(to: transport.endpoint)
                for _ in 0..<min(1000, requests) { _ = try await client.health() }
                /// Microseconds of each of `requests` Health calls.
                @Sendable func series() async throws -> [Double] {
                    var samples: [Double] = []
                    samples.reserveCapacity(requests)
                    for _ in 0..<requests {
                        let start = nowNanos()
                        _ = try await client.health()
                        samples.append(Double(nowNanos() - start) / 1000)
                    }
                    return samples
                }
                if selected.contains("swift_client") { measured["swift_client"] = try await series() }
                if selected.contains("swift_on_loop") { measured["swift_on_loop"] = try await client.onEventLoop { try await series() } }
                await client.close()
                for (name, series) in measured {
                    let summary = LatencySummary(series)
                    results["\(transport.name).\(name)", default: Series()].p50.append(summary.p50)
                    results["\(transport.name).\(name)", default: Series()].p99.append(summary.p99)
                }
            }
            log("round \(round + 1)/\(rounds) done")
        }
        var json: [String: Any] = ["requests_per_round": requests, "rounds": rounds]
        var lines: [String] = []
        for transport in ["unix", "tcp"] {
            guard let echo = results["\(transport).echo"] else { continue }
            let echo50 = median(echo.p50), echo99 = median(echo.p99)
            for name in selected {
                guard let series = results["\(transport).\(name)"] else { continue }
                let p50 = median(series.p50), p99 = median(series.p99)
                json["\(transport).\(name)"] = ["p50_us": p50, "p99_us": p99, "p50_ratio_to_echo": p50 / echo50, "p99_ratio_to_echo": p99 / echo99]
                let label = "\(transport) \(name)".padding(toLength: 20, withPad: " ", startingAt: 0)
                lines.append(label + String(format: "p50 %7.1f µs  p99 %7.1f µs  (p50 ×%.2f, p99 ×%.2f the echo)",
                                            p50, p99, p50 / echo50, p99 / echo99))
            }
        }
        switch options.format {
        case .json: printJSON(json)
        case .text: lines.forEach { print($0) }
        }
    }
}

/// Round trips of one frame on a blocking socket, in microseconds, after a warm-up of
/// min(1000, requests). With `ttrpc`, each request gets a new odd stream id and the
/// response must carry status OK; otherwise the peer is an echo of the same bytes.
func blockingSeries(fd: Int32, frame: [UInt8], ttrpc: Bool, requests: Int) throws -> [Double] {
    defer { close(fd) }
    var samples: [Double] = []
    samples.reserveCapacity(requests)
    var header = [UInt8](repeating: 0, count: 10)
    var payload = [UInt8](repeating: 0, count: 65536)
    var streamID: UInt32 = 1
    var frame = frame
    for i in 0..<(requests + min(1000, requests)) {
        if ttrpc {
            // A new odd stream id for every request, as a ttrpc client must use.
            frame.withUnsafeMutableBytes { $0.storeBytes(of: streamID.bigEndian, toByteOffset: 4, as: UInt32.self) }
            streamID &+= 2
        }
        let start = nowNanos()
        guard frame.withUnsafeBytes({ Raw.writeAll(fd, $0) }) else { throw RawSocketError(description: "write failed") }
        if ttrpc {
            guard header.withUnsafeMutableBytes({ Raw.readAll(fd, $0, count: 10) }) else { throw RawSocketError(description: "read failed") }
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            guard length <= payload.count, payload.withUnsafeMutableBytes({ Raw.readAll(fd, $0, count: length) }) else {
                throw RawSocketError(description: "read failed")
            }
            let response = try Ttrpc_Response(serializedBytes: Array(payload[0..<length]))
            guard response.status.code == 0 else { throw RPCError(status: response.status) }
        } else {
            guard payload.withUnsafeMutableBytes({ Raw.readAll(fd, $0, count: frame.count) }) else { throw RawSocketError(description: "read failed") }
        }
        if i >= min(1000, requests) { samples.append(Double(nowNanos() - start) / 1000) }
    }
    return samples
}

// MARK: bench ingest

struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Durable ingest: AddEdges batches over the socket against SQLite's batched insert alone.",
        discussion: """
        For each batch size and request form, a fresh graphd (synchronous=FULL) receives --edges \
        new user–item edges in AddEdges batches from --connections concurrent clients: "rows" \
        sends one Edge message per edge, "blocks" the same edges as one columnar EdgeBlock per \
        request. The baseline is the \
        classic way to store them: one row per edge in an edges table (id, type, source, \
        target, weight, timestamp, attributes), one transaction per batch, same WAL mode and \
        durability, in this process. graphd itself stores a batch as one edge segment row and one \
        node segment row (store \
        schema v4). Medians over --rounds.
        """)

    @Option(help: "Edges per run.")
    var edges: Int = 1_000_000
    @Option(help: "Comma-separated batch sizes.")
    var batchSizes: String = "1000,10000"
    @Option(help: "Concurrent client connections sending batches.")
    var connections: Int = 1
    @Option(help: "Rounds (medians are taken over rounds).")
    var rounds: Int = 3
    @Option(help: "Distinct users (items: 4× as many).")
    var users: Int = 50_000
    @Option(help: "Comma-separated request forms: rows (an Edge message per edge), blocks (columnar EdgeBlock).")
    var forms: String = "rows,blocks"
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let sizes = batchSizes.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, sizes.allSatisfy({ (1...100_000).contains($0) }) else { throw ValidationError("--batch-sizes: numbers in 1…100000") }
        let formList = forms.split(separator: ",").map(String.init)
        guard !formList.isEmpty, formList.allSatisfy({ $0 == "rows" || $0 == "blocks" }) else {
            throw ValidationError("--forms: rows and/or blocks")
        }
        let scratch = try options.makeScratch()
        let workload = IngestWorkload(edges: edges, users: users)
        let (sources, targets) = (workload.sources, workload.targets)
        var json: [String: Any] = ["edges": edges, "connections": connections, "rounds": rounds]
        for (size, form) in sizes.flatMap({ size in formList.map { (size, $0) } }) {
            let requests = workload.requests(batchSize: size, columnar: form == "blocks")
            var graphdRates: [Double] = [], sqliteRates: [Double] = []
            for round in 0..<rounds {
                for file in ["ingest.sqlite", "ingest.sqlite-wal", "ingest.sqlite-shm", "baseline.sqlite", "baseline.sqlite-wal", "baseline.sqlite-shm"] {
                    unlink(scratch + "/" + file)
                }
                let baselineSeconds = try StoreBenchmark.batchedEdgeInsert(path: scratch + "/baseline.sqlite", sources: sources, targets: targets, batchSize: size)
                sqliteRates.append(Double(edges) / baselineSeconds)
                let daemon = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/ingest.sock", store: scratch + "/ingest.sqlite",
                                             arguments: ["--compact-delta-edges", String(max(edges, 1))])
                defer { daemon.stop() }
                try await daemon.waitUntilServing()
                let clients = try await (0..<connections).asyncMap { _ in try await GraphClient.connect(to: .unix(path: daemon.socket), defaultTimeout: .seconds(300)) }
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (c, client) in clients.enumerated() {
                        let mine = stride(from: c, to: requests.count, by: connections).map { requests[$0] }
                        group.addTask { for request in mine { _ = try await client.addEdges(request) } }
                    }
                    try await group.waitForAll()
                }
                let seconds = (ContinuousClock.now - start).seconds
                let stats = try await clients[0].stats()
                guard stats.edges == UInt64(edges) else {
                    throw fail(message: "graphd holds \(stats.edges) edges after ingest, expected \(edges)", code: ToolExit.software)
                }
                for client in clients { await client.close() }
                daemon.stop()
                graphdRates.append(Double(edges) / seconds)
                log("batch \(size) \(form) round \(round + 1): " + String(format: "graphd %.0f edges/s, SQLite alone %.0f rows/s", graphdRates.last!, sqliteRates.last!))
            }
            let g = median(graphdRates), s = median(sqliteRates)
            json["batch_\(size)_\(form)"] = ["graphd_edges_per_s": g, "sqlite_rows_per_s": s, "ratio": g / s]
            if options.format == .text {
                print(String(format: "batch %6d ", size) + form.padding(toLength: 7, withPad: " ", startingAt: 0)
                      + String(format: "graphd %10.0f edges/s   SQLite batched insert alone %10.0f rows/s   (graphd = %.2f× SQLite)", g, s, g / s))
            }
        }
        if options.format == .json { printJSON(json) }
    }
}

/// Distinct random user–item edges (seeded: the same in every run), and the
/// AddEdges requests that carry them in batches.
struct IngestWorkload {
    var sources: [UInt32] = []
    var targets: [UInt32] = []

    init(edges: Int, users: Int, seed: UInt64 = 42) {
        var generator = SplitMix(seed: seed)
        var pairs = Set<UInt64>()
        sources.reserveCapacity(edges)
        targets.reserveCapacity(edges)
        while sources.count < edges {
            let user = UInt32(generator.next() % UInt64(users)), item = UInt32(generator.next() % UInt64(users * 4))
            if pairs.insert(UInt64(user) << 32 | UInt64(item)).inserted {
                sources.append(user)
                targets.append(item)
            }
        }
    }

    /// `batchSize` edges per request: one Edge message each, or one columnar EdgeBlock.
    func requests(batchSize: Int, columnar: Bool) -> [Graphd_V1_AddEdgesRequest] {
        stride(from: 0, to: sources.count, by: batchSize).map { start in
            let rows = (start..<min(start + batchSize, sources.count)).map { i in
                var edge = Graphd_V1_Edge()
                edge.type = "interacted"
                edge.source = Graphd_V1_NodeRef(type: "user", key: String(sources[i]))
                edge.target = Graphd_V1_NodeRef(type: "item", key: String(targets[i]))
                return edge
            }
            return columnar ? .columnar(rows) : Graphd_V1_AddEdgesRequest.with { $0.edges = rows }
        }
    }
}

// MARK: bench scale

struct BenchScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale", abstract: "Compaction time, resident memory per edge and start-up time at a given size.",
        discussion: """
        Builds a store of --edges synthetic power-law edges (in this process, through the same \
        database code graphd runs), compacts it, then starts graphd on it: start-up time until \
        Health answers, and resident memory per edge against an empty graphd started in the same run.
        """)

    @Option(help: "Edges in the graph.")
    var edges: Int = 1_000_000
    @Option(help: "Nodes (half users, half items).")
    var nodes: Int = 0
    @Option(help: "Start-up repetitions (median).")
    var rounds: Int = 3
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let scratch = try options.makeScratch()
        let nodeCount = nodes > 0 ? nodes : max(1000, edges / 10)
        let store = scratch + "/scale-\(edges).sqlite"
        for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) }
        // Build: sources uniform, targets Zipf-like (power law on item popularity).
        log("building \(edges) edges over \(nodeCount) nodes …")
        var generator = SplitMix(seed: 7)
        let database = try GraphDatabase(path: store, synchronous: .normal, policy: CompactionPolicy(maxDeltaEdges: Int.max, maxDeltaAge: .seconds(1_000_000)))
        let users = nodeCount / 2, items = nodeCount - users
        var added = 0
        let buildStart = ContinuousClock.now
        var compactionSeconds: [Double] = []
        while added < edges {
            let count = min(100_000, edges - added)
            let batch = (0..<count).map { _ -> EdgeInput in
                let user = Int(generator.next() % UInt64(users))
                let u = Double(generator.next() % 1_000_000 + 1) / 1_000_001
                let item = min(items - 1, Int(pow(u, 3) * Double(items)))
                return EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: String(user)),
                                 target: NodeRefInput(type: "item", key: String(item)), timestampMs: 1)
            }
            let plan = try await database.addEdges(batch)
            added += plan.created
            if database.snapshot.deltaEdgeCount >= edges / 10 {
                compactionSeconds.append(try await database.compact().seconds)
            }
        }
        compactionSeconds.append(try await database.compact().seconds)
        let buildSeconds = (ContinuousClock.now - buildStart).seconds
        // A final compaction that merges a 1% delta into the full graph.
        let delta = (0..<max(1, edges / 100)).map { i in
            EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "late-\(i % 1000)"),
                      target: NodeRefInput(type: "item", key: String(i % items)), timestampMs: 1)
        }
        _ = try await database.addEdges(delta)
        let fullCompaction = try await database.compact().seconds
        let totalEdges = database.snapshot.edgeCount
        log(String(format: "built in %.1f s; compaction of a 1%% delta at %d edges: %.3f s", buildSeconds, totalEdges, fullCompaction))

        var startups: [Double] = [], rss: [Double] = [], emptyRSS: [Double] = []
        for round in 0..<rounds {
            let empty = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/empty.sock", store: scratch + "/empty-\(round).sqlite")
            try await empty.waitUntilServing()
            let emptyClient = try await GraphClient.connect(to: .unix(path: empty.socket))
            emptyRSS.append(Double(try await emptyClient.stats().memoryBytes))
            await emptyClient.close()
            empty.stop()

            let start = ContinuousClock.now
            let daemon = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/scale.sock", store: store)
            startups.append(try await daemon.waitUntilServing(since: start))
            let client = try await GraphClient.connect(to: .unix(path: daemon.socket))
            let stats = try await client.stats()
            guard stats.edges == UInt64(totalEdges) else {
                throw fail(message: "graphd loaded \(stats.edges) edges, expected \(totalEdges)", code: ToolExit.software)
            }
            rss.append(Double(stats.memoryBytes))
            await client.close()
            daemon.stop()
        }
        let bytesPerEdge = (median(rss) - median(emptyRSS)) / Double(totalEdges)
        let json: [String: Any] = [
            "edges": totalEdges, "nodes": database.snapshot.nodeCount,
            "compaction_seconds_median": median(compactionSeconds), "compaction_of_1pct_delta_seconds": fullCompaction,
            "startup_seconds_median": median(startups), "rss_bytes_median": median(rss), "empty_rss_bytes_median": median(emptyRSS),
            "bytes_per_edge": bytesPerEdge,
        ]
        switch options.format {
        case .json: printJSON(json)
        case .text:
            print("edges \(totalEdges), nodes \(database.snapshot.nodeCount)")
            print(String(format: "compaction: median %.3f s over %d compactions while building; merging a 1%% delta: %.3f s", median(compactionSeconds), compactionSeconds.count, fullCompaction))
            print(String(format: "start-up from the store: median %.2f s (%d runs)", median(startups), rounds))
            print(String(format: "resident memory: %.0f MiB loaded vs %.0f MiB empty → %.1f bytes per edge", median(rss) / 1_048_576, median(emptyRSS) / 1_048_576, bytesPerEdge))
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
