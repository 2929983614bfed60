import ArgumentParser
import CBLAS
import Foundation
import GraphdClient
import GraphdHarness
import GraphdProto
import GraphdTools
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: bench replicate

struct BenchReplicate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate", abstract: "Replication on NATS JetStream: ingest, replica lag, failover, replica read latency.",
        discussion: """
        Starts three nats-servers (one JetStream cluster on loopback) and graphd processes on \
        this machine, and for each of --rounds measures:
          ingest     durable replicated ingest (a primary and two replicas, every batch in the \
        stream and committed on the primary before its reply) against a single graphd without \
        replication, in the same round: --edges new edges in columnar AddEdges blocks of each \
        --batch-sizes, one connection;
          lag        replica lag while the primary takes --lag-rate edges/s in --lag-batch blocks \
        for --lag-seconds: for each acknowledged write, the time until each replica has applied \
        its log sequence (a Health call with min-log-sequence, which a replica answers once it has);
          failover   kill -9 of the primary under a steady write load → the first write \
        acknowledged by the replica that takes over (graphd's default 5 s lease unless \
        --lease-seconds);
        then once: Route and Recommend p50 on a replica against the primary, interleaved, on the \
        demo graph (--demo-graph, imported with graphctl and the router trained).
        Medians over rounds. Needs nats-server (scripts/setup) and a release build.
        """)

    @Option(help: "Edges per ingest run.")
    var edges: Int = 300_000
    @Option(help: "Comma-separated ingest batch sizes.")
    var batchSizes: String = "1000,10000"
    @Option(help: "Rounds (medians are taken over rounds).")
    var rounds: Int = 3
    @Option(help: "Distinct users in the ingest workload (items: 4× as many).")
    var users: Int = 50_000
    @Option(help: "Edges per second the primary takes while replica lag is measured.")
    var lagRate: Int = 100_000
    @Option(help: "Edges per write while replica lag is measured.")
    var lagBatch: Int = 1000
    @Option(help: "Seconds of writes while replica lag is measured.")
    var lagSeconds: Double = 10
    @Option(help: "Primary lease TTL the graphds run with (graphd's default: 5).")
    var leaseSeconds: Double = 5
    @Option(help: "The demo graph for the read comparison (JSON Lines; graphctl import).")
    var demoGraph: String = "Graphs/demo.jsonl"
    @Option(help: "Route and Recommend calls on each of the primary and a replica (0: skip the read comparison).")
    var queries: Int = 2000
    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard edges > 0, rounds > 0, users > 0, lagRate > 0, lagBatch > 0, lagSeconds > 0, leaseSeconds >= 1, queries >= 0 else {
            throw ValidationError("--edges, --rounds, --users, --lag-rate, --lag-batch, --lag-seconds must be positive, --lease-seconds ≥ 1")
        }
        guard batchSizes.split(separator: ",").allSatisfy({ Int($0).map { (1...100_000).contains($0) } == true }) else {
            throw ValidationError("--batch-sizes: numbers in 1…100000")
        }
    }

    func run() async throws {
        let scratch = try options.makeScratch()
        let machine = MachineDescription()
        log("machine: \(machine.cpu), OpenBLAS core \(machine.openBLASCore), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        let cluster: NATSCluster
        do {
            cluster = try NATSCluster()
        } catch {
            throw fail(message: "cannot start nats-server: \(error)", code: ToolExit.unavailable)
        }
        let workload = IngestWorkload(edges: edges, users: users)
        let sizes = batchSizes.split(separator: ",").compactMap { Int($0) }
        var ingest: [Int: (single: [Double], replicated: [Double])] = [:]
        var lagP50: [Double] = [], lagP99: [Double] = [], lagRates: [Double] = [], failovers: [Double] = []
        var runs = RunNames(scratch: scratch, cluster: cluster, graphd: options.graphdPath, leaseSeconds: leaseSeconds)
        for round in 1...rounds {
            for size in sizes {
                let requests = workload.requests(batchSize: size, columnar: true)
                let single = try await runs.start("single", replicated: false)
                let singleRate = try await Self.ingest(requests, edges: edges, into: single.socket)
                single.stop()
                let trio = try await runs.startTrio("ingest")
                let replicatedRate = try await Self.ingest(requests, edges: edges, into: trio.primary.socket)
                try await Self.expectCaughtUp(trio)
                trio.stop()
                ingest[size, default: ([], [])].single.append(singleRate)
                ingest[size, default: ([], [])].replicated.append(replicatedRate)
                log("round \(round) ingest, blocks of \(size): " + String(format: "replicated %.0f edges/s, single %.0f edges/s (%.2f×)",
                                                                          replicatedRate, singleRate, replicatedRate / singleRate))
            }
            let trio = try await runs.startTrio("lag")
            let lag = try await measureLag(trio)
            lagP50.append(lag.summary.p50 / 1000)
            lagP99.append(lag.summary.p99 / 1000)
            lagRates.append(lag.rate)
            log("round \(round) lag at \(Int(lag.rate)) edges/s: " + String(format: "p50 %.2f ms, p99 %.2f ms over %d samples",
                                                                             lag.summary.p50 / 1000, lag.summary.p99 / 1000, lag.summary.count))
            let failover = try await measureFailover(trio)
            failovers.append(failover)
            log("round \(round) failover: " + String(format: "%.2f s from kill -9 to the first acknowledged write", failover))
            trio.stop()
        }
        var reads: (route: (primary: Double, replica: Double), recommend: (primary: Double, replica: Double))?
        if queries > 0 {
            let trio = try await runs.startTrio("reads")
            reads = try await compareReads(trio)
            trio.stop()
        }

        var json: [String: Any] = [
            "cpu": machine.cpu, "openblas_core": machine.openBLASCore, "rounds": rounds, "edges": edges,
            "lag_ms": ["p50": median(lagP50), "p99": median(lagP99), "rate_edges_per_s": median(lagRates)],
            "failover_seconds": median(failovers), "lease_seconds": leaseSeconds,
        ]
        for size in sizes {
            let single = median(ingest[size]?.single ?? []), replicated = median(ingest[size]?.replicated ?? [])
            json["ingest_\(size)"] = ["replicated_edges_per_s": replicated, "single_edges_per_s": single, "ratio": replicated / single]
        }
        if let reads {
            json["route_p50_us"] = ["primary": reads.route.primary, "replica": reads.route.replica, "ratio": reads.route.replica / reads.route.primary]
            json["recommend_p50_us"] = ["primary": reads.recommend.primary, "replica": reads.recommend.replica,
                                        "ratio": reads.recommend.replica / reads.recommend.primary]
        }
        switch options.format {
        case .json: printJSON(json)
        case .text:
            print("machine: \(machine.cpu); OpenBLAS core \(machine.openBLASCore); medians over \(rounds) rounds")
            for size in sizes {
                let single = median(ingest[size]?.single ?? []), replicated = median(ingest[size]?.replicated ?? [])
                print(String(format: "ingest, blocks of %6d: replicated %9.0f edges/s   single %9.0f edges/s   (%.2f×)", size, replicated, single, replicated / single))
            }
            print(String(format: "replica lag at %.0f edges/s: p50 %.2f ms, p99 %.2f ms", median(lagRates), median(lagP50), median(lagP99)))
            print(String(format: "failover (kill -9 primary → first acknowledged write, lease %.0f s): %.2f s", leaseSeconds, median(failovers)))
            if let reads {
                print(String(format: "Route p50:     replica %.0f µs, primary %.0f µs (%.2f×)", reads.route.replica, reads.route.primary,
                             reads.route.replica / reads.route.primary))
                print(String(format: "Recommend p50: replica %.0f µs, primary %.0f µs (%.2f×)", reads.recommend.replica, reads.recommend.primary,
                             reads.recommend.replica / reads.recommend.primary))
            }
        }
        withExtendedLifetime(cluster) {}
    }

    /// Sends every request on one connection, one at a time; edges per second.
    static func ingest(_ requests: [Graphd_V1_AddEdgesRequest], edges: Int, into socket: String) async throws -> Double {
        let client = try await GraphClient.connect(to: .unix(path: socket), defaultTimeout: .seconds(300))
        let start = ContinuousClock.now
        for request in requests { _ = try await client.addEdges(request) }
        let seconds = (ContinuousClock.now - start).seconds
        let stats = try await client.stats()
        await client.close()
        guard stats.edges == UInt64(edges) else {
            throw fail(message: "graphd holds \(stats.edges) edges after ingest, expected \(edges)", code: ToolExit.software)
        }
        return Double(edges) / seconds
    }

    /// Both replicas reach the primary's position with the same edges.
    static func expectCaughtUp(_ trio: Trio) async throws {
        let primary = try await GraphClient.connect(to: .unix(path: trio.primary.socket), defaultTimeout: .seconds(120))
        let stats = try await primary.stats()
        await primary.close()
        for replica in trio.replicas {
            var client = try await GraphClient.connect(to: .unix(path: replica.socket), defaultTimeout: .seconds(120))
            client.metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(stats.appliedLogSequence)"))
            let replicaStats = try await client.stats()
            await client.close()
            guard replicaStats.edges == stats.edges else {
                throw fail(message: "a replica holds \(replicaStats.edges) edges at sequence \(replicaStats.appliedLogSequence), the primary \(stats.edges)",
                           code: ToolExit.software)
            }
        }
    }

    /// Writes at `lagRate` (open loop: each write at its scheduled time, however
    /// long the previous one takes) and times each until both replicas applied it.
    func measureLag(_ trio: Trio) async throws -> (summary: LatencySummary, rate: Double) {
        let writes = Int(lagSeconds * Double(lagRate) / Double(lagBatch))
        let interval = Duration.nanoseconds(Int64(1e9 * Double(lagBatch) / Double(lagRate)))
        let workload = IngestWorkload(edges: writes * lagBatch, users: max(users, writes * lagBatch / 20), seed: 7)
        let requests = workload.requests(batchSize: lagBatch, columnar: true)
        let primary = try await GraphClient.connect(to: .unix(path: trio.primary.socket), defaultTimeout: .seconds(60))
        let replicas = try await trio.replicas.asyncMap { try await GraphClient.connect(to: .unix(path: $0.socket), defaultTimeout: .seconds(60)) }
        let lags = SampleList()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, request) in requests.enumerated() {
                try await Task.sleep(until: start + interval * i, clock: .continuous)
                group.addTask {
                    let reply = try await primary.addEdges(request)
                    let acknowledged = nowNanos()
                    try await withThrowingTaskGroup(of: Void.self) { waits in
                        for replica in replicas {
                            waits.addTask {
                                var reader = replica
                                reader.metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(reply.logSequence)"))
                                _ = try await reader.health()
                                let lag = Double(nowNanos() - acknowledged) / 1000
                                lags.append(lag)
                            }
                        }
                        try await waits.waitForAll()
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = (ContinuousClock.now - start).seconds
        await primary.close()
        for replica in replicas { await replica.close() }
        return (LatencySummary(lags.values), Double(requests.count * lagBatch) / seconds)
    }

    /// Writes 1000-edge batches to the primary, kills it (SIGKILL), and sends the
    /// next batch to each replica in turn until one acknowledges it: the seconds
    /// from the kill to that acknowledgement.
    func measureFailover(_ trio: Trio) async throws -> Double {
        let requests = IngestWorkload(edges: 200_000, users: 10_000, seed: 11).requests(batchSize: 1000, columnar: true)
        let sockets = [trio.primary.socket] + trio.replicas.map(\.socket)
        let killedAt = Mutex<ContinuousClock.Instant?>(nil)
        let killer = Task {
            try await Task.sleep(for: .seconds(1))
            killedAt.withLock { $0 = .now }
            await trio.primary.graphd.kill9()
        }
        var clients: [Int: GraphClient] = [:]
        var target = 0, index = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            do {
                if clients[target] == nil {
                    clients[target] = try await GraphClient.connect(to: .unix(path: sockets[target]), defaultTimeout: .seconds(2))
                }
                _ = try await clients[target]!.addEdges(requests[index % requests.count])
                index += 1
                if let killed = killedAt.withLock({ $0 }), target != 0 {
                    for client in clients.values { await client.close() }
                    return (ContinuousClock.now - killed).seconds
                }
            } catch {
                if let client = clients.removeValue(forKey: target) { await client.close() }
                target = (target + 1) % sockets.count
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        _ = try? await killer.value
        throw fail(message: "no replica took writes within 120 s of the primary's kill", code: ToolExit.software)
    }

    /// Route and Recommend p50 (µs) on the primary and on a replica, calls interleaved.
    func compareReads(_ trio: Trio) async throws -> (route: (primary: Double, replica: Double), recommend: (primary: Double, replica: Double)) {
        let graphctl = URL(fileURLWithPath: options.graphdPath).deletingLastPathComponent().appendingPathComponent("graphctl").path
        for arguments in [["import", "--format", "jsonl", demoGraph], ["train", "router", "--quiet", "--timeout", "300"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: graphctl)
            process.arguments = arguments + ["--socket", trio.primary.socket]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw fail(message: "graphctl \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)", code: ToolExit.software)
            }
        }
        try await Self.expectCaughtUp(trio)
        let primary = try await GraphClient.connect(to: .unix(path: trio.primary.socket), defaultTimeout: .seconds(30))
        let replica = try await GraphClient.connect(to: .unix(path: trio.replicas[0].socket), defaultTimeout: .seconds(30))
        let prompts = ["Write a Python function that reverses a list.", "Summarise this memo for my manager in two sentences.",
                       "What is 17 times 23?", "Translate 'good morning' into French.", "Explain recursion to a child."]
        var route: [[Double]] = [[], []], recommend: [[Double]] = [[], []]
        for i in 0..<queries {
            var routeRequest = Graphd_V1_RouteRequest()
            routeRequest.query = prompts[i % prompts.count] + " (\(i))"
            routeRequest.performanceWeight = 0.5
            routeRequest.costWeight = 0.5
            var recommendRequest = Graphd_V1_RecommendRequest()
            recommendRequest.user = Graphd_V1_NodeRef(type: "user", key: String(format: "u%03d", i % 160))
            recommendRequest.k = 10
            // Alternate which goes first, so neither always has the warmer caches.
            for (side, client) in (i % 2 == 0 ? [(0, primary), (1, replica)] : [(1, replica), (0, primary)]) {
                var start = nowNanos()
                _ = try await client.route(routeRequest)
                route[side].append(Double(nowNanos() - start) / 1000)
                start = nowNanos()
                _ = try await client.recommend(recommendRequest)
                recommend[side].append(Double(nowNanos() - start) / 1000)
            }
        }
        await primary.close()
        await replica.close()
        return ((median(route[0]), median(route[1])), (median(recommend[0]), median(recommend[1])))
    }
}

/// Samples recorded from concurrent tasks.
final class SampleList: Sendable {
    private let samples = Mutex<[Double]>([])
    func append(_ sample: Double) { samples.withLock { $0.append(sample) } }
    var values: [Double] { samples.withLock { $0 } }
}

/// The CPU model and the kernel OpenBLAS picked, printed beside timings.
struct MachineDescription {
    var cpu: String
    var openBLASCore: String

    init() {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        cpu = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        openBLASCore = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }
}

/// A primary and two replicas on one stream.
struct Trio: Sendable {
    var primary: BenchDaemon
    var replicas: [BenchDaemon]

    func stop() {
        primary.stop()
        for replica in replicas { replica.stop() }
    }
}

/// Fresh sockets, stores and stream names for each graphd a benchmark starts.
struct RunNames {
    let scratch: String
    let cluster: NATSCluster
    let graphd: String
    let leaseSeconds: Double
    private var count = 0

    init(scratch: String, cluster: NATSCluster, graphd: String, leaseSeconds: Double) {
        self.scratch = scratch
        self.cluster = cluster
        self.graphd = graphd
        self.leaseSeconds = leaseSeconds
    }

    mutating func start(_ name: String, replicated: Bool, stream: String? = nil) async throws -> BenchDaemon {
        count += 1
        let base = "\(scratch)/\(name)-\(count)"
        for suffix in ["", "-wal", "-shm"] { unlink(base + ".sqlite" + suffix) }
        var arguments = ["--compact-delta-edges", "10000000"]
        if replicated {
            arguments += ["--replication", cluster.urls.joined(separator: ","), "--replication-stream", stream ?? "\(name)-\(count)",
                          "--replication-lease-seconds", String(leaseSeconds)]
        }
        let daemon = try BenchDaemon(graphd: graphd, socket: base + ".sock", store: base + ".sqlite", arguments: arguments)
        try await daemon.waitUntilServing()
        return daemon
    }

    /// A primary (started first, so that it takes the lease) and two replicas on a new stream.
    mutating func startTrio(_ name: String) async throws -> Trio {
        let stream = "\(name)-\(count + 1)"
        let primary = try await start(name, replicated: true, stream: stream)
        let client = try await GraphClient.connect(to: .unix(path: primary.socket), defaultTimeout: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(60)
        while try await client.stats().role != "primary" {
            guard ContinuousClock.now < deadline else { throw fail(message: "the first graphd did not become primary", code: ToolExit.software) }
            try await Task.sleep(for: .milliseconds(50))
        }
        await client.close()
        return Trio(primary: primary, replicas: [try await start(name, replicated: true, stream: stream),
                                                 try await start(name, replicated: true, stream: stream)])
    }
}
