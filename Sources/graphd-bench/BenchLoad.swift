import ArgumentParser
import Foundation
import GraphdHarness
import GraphdTools
import GraphdClient
import GraphdProto
import Synchronization
import TTRPC

// MARK: bench load

/// Hands out distinct edge numbers to the writers.
final class WriteCounter: Sendable {
    let value = Atomic<Int>(0)
}

struct BenchLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Many concurrent connections with a mix of reads and writes for a fixed time.",
        discussion: """
        Starts graphd (synchronous=FULL), loads --users × --items-per-user edges, then drives \
        --connections connections, each issuing requests back to back for --seconds: with \
        probability --write-share an AddEdges batch of --write-batch new edges, otherwise a read \
        (Neighbors of a random user, GetNode, or Recommend, in equal parts). Baseline in the same \
        run: the empty Health RPC from the same connections for the same time. Reports \
        throughput, p50/p99/p999 per kind, errors (must be 0) and graphd's peak resident memory \
        (VmHWM). --write-share 1 is the writes-only run.
        """)

    @Option(help: "Concurrent connections.")
    var connections: Int = 64
    @Option(help: "Seconds of load (and of baseline).")
    var seconds: Double = 20
    @Option(help: "Share of requests that write (0…1).")
    var writeShare: Double = 0.2
    @Option(help: "Edges per write request.")
    var writeBatch: Int = 10
    @Option(help: "Users in the preloaded graph.")
    var users: Int = 10_000
    @Option(help: "Items per user in the preloaded graph.")
    var itemsPerUser: Int = 20
    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard connections > 0, connections <= 4096, seconds > 0, (0...1).contains(writeShare), writeBatch > 0, users > 0, itemsPerUser > 0 else {
            throw ValidationError("--connections 1…4096, --seconds > 0, --write-share 0…1, positive --write-batch, --users, --items-per-user")
        }
    }

    struct Sample { var kind: Int; var micros: Double }

    func run() async throws {
        let scratch = try options.makeScratch()
        let daemon = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/load.sock", store: scratch + "/load.sqlite",
                                     arguments: ["--max-connections", "\(connections + 16)"])
        defer { daemon.stop() }
        try await daemon.waitUntilServing()
        let itemCount = users * itemsPerUser / 4
        let loader = try await GraphClient.connect(to: .unix(path: daemon.socket))
        var batch = Graphd_V1_AddEdgesRequest()
        for u in 0..<users {
            for j in 0..<itemsPerUser {
                batch.edges.append(edge(user: u, item: (u &* 7919 &+ j &* 104_729) % itemCount))
            }
            if batch.edges.count >= 10_000 { _ = try await loader.addEdges(batch); batch.edges.removeAll() }
        }
        if !batch.edges.isEmpty { _ = try await loader.addEdges(batch) }
        _ = try await loader.compact()
        await loader.close()
        log("loaded \(users * itemsPerUser) edges")

        let socketPath = daemon.socket
        let clients = try await withThrowingTaskGroup(of: GraphClient.self) { group in
            for _ in 0..<connections { group.addTask { try await GraphClient.connect(to: .unix(path: socketPath)) } }
            var all: [GraphClient] = []
            for try await client in group { all.append(client) }
            return all
        }
        let baseline = try await drive(clients: clients, writeShare: -1, itemCount: itemCount)
        let load = try await drive(clients: clients, writeShare: writeShare, itemCount: itemCount)
        for client in clients { await client.close() }
        let peak = Self.peakResidentBytes(pid: daemon.process.processIdentifier)

        let kinds = ["health", "write", "neighbors", "get_node", "recommend"]
        var json: [String: Any] = ["connections": connections, "seconds": seconds, "write_share": writeShare, "write_batch": writeBatch,
                                   "preloaded_edges": users * itemsPerUser, "graphd_peak_rss_bytes": peak]
        var lines = ["load: \(connections) connections, \(seconds) s, write share \(writeShare) (batches of \(writeBatch)), \(users * itemsPerUser) edges preloaded"]
        for (name, result) in [("baseline_health", baseline), ("mix", load)] {
            let all = LatencySummary(result.samples.map(\.micros))
            let throughput = Double(result.samples.count) / result.seconds
            var entry: [String: Any] = ["requests": result.samples.count, "requests_per_second": throughput, "errors": result.errors,
                                        "latency": all.json]
            lines.append(String(format: "  %-16@ %9.0f req/s  p50 %8.1f µs  p99 %8.1f µs  p999 %8.1f µs  errors %d",
                                name as NSString, throughput, all.p50, all.p99, all.p999, result.errors))
            for (k, kind) in kinds.enumerated() {
                let series = result.samples.filter { $0.kind == k }.map(\.micros)
                guard !series.isEmpty else { continue }
                let s = LatencySummary(series)
                entry[kind] = s.json
                lines.append(String(format: "    %-14@ %9d      p50 %8.1f µs  p99 %8.1f µs  p999 %8.1f µs",
                                    kind as NSString, series.count, s.p50, s.p99, s.p999))
            }
            if name == "mix" { entry["edges_written_per_second"] = Double(result.samples.filter { $0.kind == 1 }.count * writeBatch) / result.seconds }
            json[name] = entry
        }
        lines.append(String(format: "  graphd peak RSS %.1f MiB", Double(peak) / 1_048_576))
        switch options.format {
        case .json: printJSON(json)
        case .text: lines.forEach { print($0) }
        }
        let errors = baseline.errors + load.errors
        if errors > 0 { throw fail(message: "\(errors) requests failed under load", code: ToolExit.software) }
    }

    private func edge(user: Int, item: Int) -> Graphd_V1_Edge {
        var e = Graphd_V1_Edge()
        e.type = "interacted"
        e.source = Graphd_V1_NodeRef(type: "user", key: "u\(user)")
        e.target = Graphd_V1_NodeRef(type: "item", key: "i\(item)")
        return e
    }

    /// Every client issues requests back to back until the time is up. writeShare < 0: Health only.
    private func drive(clients: [GraphClient], writeShare: Double, itemCount: Int) async throws
        -> (samples: [Sample], errors: Int, seconds: Double) {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int64(seconds * 1000))
        let users = self.users, writeBatch = self.writeBatch
        let written = WriteCounter()
        let results = await withTaskGroup(of: ([Sample], Int).self) { group in
            for (c, client) in clients.enumerated() {
                group.addTask {
                    var rng = SystemRandomNumberGenerator()
                    var samples: [Sample] = [], errors = 0
                    samples.reserveCapacity(100_000)
                    while ContinuousClock.now < end {
                        let kind: Int
                        if writeShare < 0 { kind = 0 } else if Double.random(in: 0..<1, using: &rng) < writeShare { kind = 1 } else {
                            kind = 2 + Int.random(in: 0..<3, using: &rng)
                        }
                        let t0 = ContinuousClock.now
                        do {
                            switch kind {
                            case 0: _ = try await client.health()
                            case 1:
                                var request = Graphd_V1_AddEdgesRequest()
                                let base = written.value.wrappingAdd(writeBatch, ordering: .relaxed).oldValue
                                for i in 0..<writeBatch {
                                    var e = Graphd_V1_Edge()
                                    e.type = "interacted"
                                    e.source = Graphd_V1_NodeRef(type: "user", key: "w\(c)-\((base + i) % 5000)")
                                    e.target = Graphd_V1_NodeRef(type: "item", key: "i\((base + i) % itemCount)")
                                    request.edges.append(e)
                                }
                                _ = try await client.addEdges(request)
                            case 2:
                                var request = Graphd_V1_NeighborsRequest()
                                request.node = Graphd_V1_NodeRef(type: "user", key: "u\(Int.random(in: 0..<users, using: &rng))")
                                request.limit = 20
                                _ = try await client.neighbors(request)
                            case 3:
                                var request = Graphd_V1_GetNodeRequest()
                                request.node = Graphd_V1_NodeRef(type: "item", key: "i\(Int.random(in: 0..<itemCount, using: &rng))")
                                _ = try await client.getNode(request)
                            default:
                                var request = Graphd_V1_RecommendRequest()
                                request.user = Graphd_V1_NodeRef(type: "user", key: "u\(Int.random(in: 0..<users, using: &rng))")
                                request.k = 10
                                _ = try await client.recommend(request)
                            }
                            let elapsed = ContinuousClock.now - t0
                            samples.append(Sample(kind: kind, micros: Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6))
                        } catch {
                            errors += 1
                        }
                    }
                    return (samples, errors)
                }
            }
            var samples: [Sample] = [], errors = 0
            for await (s, e) in group { samples += s; errors += e }
            return (samples, errors)
        }
        return (results.0, results.1, (ContinuousClock.now - start).seconds)
    }

    /// VmHWM of a process, from /proc (Linux); 0 when unreadable.
    static func peakResidentBytes(pid: Int32) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kb = UInt64(fields[1]) { return kb * 1024 }
        }
        return 0
    }
}
