import ArgumentParser
import Foundation
import GraphdHarness
import GraphdTools
import GraphAlgorithms
import GraphCore
import GraphStore
import GraphdClient
import GraphdProto
import Recommendation

// MARK: bench recommend

struct BenchRecommend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend", abstract: "Top-k recommendations for every user of a LightGCN training file.",
        discussion: """
        First, in this process, through graphd's own store and scoring code: loads --train \
        ('user item item …' per line) into a fresh temporary SQLite store as 'user' and 'item' \
        nodes joined by 'interacted' edges, compacts, builds the recommendation model, then \
        writes to --predictions one line per user, 'user item item …' with the --k best items \
        first (the user's own training items excluded), in the format \
        ../shared/bench/recsys_eval.py reads. Prints load, model build and per-user latency.

        Then, unless --rpc-queries 0, the same graph over the socket: starts graphd on a \
        temporary store, imports --train through AddEdges, and times --rpc-queries Recommend \
        calls for users drawn at random, from each number of concurrent clients in --clients: \
        p50/p99 latency and throughput.

        Example:
          graphd-bench recommend --train train.txt --k 20 --predictions pred.txt
          python3 ../shared/bench/recsys_eval.py train.txt test.txt pred.txt
        """)

    @Option(help: "LightGCN-format training file.")
    var train: String
    @Option(help: "Items per user.")
    var k: Int = 20
    @Option(help: "Where to write the predictions.")
    var predictions: String
    @Option(help: "Scorer: \(ScorerKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scorer: ScorerChoice = .rp3beta
    @Option(help: "Recommend calls over the Unix socket per concurrency level (0: skip the socket part).")
    var rpcQueries: Int = 3000
    @Option(help: "Concurrent clients for the socket part (comma-separated).")
    var clients: String = "1,2,8"
    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard k > 0, k <= RecommendationQuery.maxK else { throw ValidationError("--k must be in 1…\(RecommendationQuery.maxK)") }
    }

    func run() async throws {
        let file = try await LightGCNFile.read(train)
        let directory = try options.makeScratch()
        let store = directory + "/recommend.sqlite"
        for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) }
        defer { for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) } }

        // Load through the write path graphd uses (synchronous=NORMAL: a benchmark store).
        let loadStart = ContinuousClock.now
        let database = try GraphDatabase(path: store, synchronous: .normal,
                                         policy: CompactionPolicy(maxDeltaEdges: Int.max, maxDeltaAge: .seconds(1_000_000)))
        var batch: [EdgeInput] = []
        batch.reserveCapacity(10_000)
        for (user, items) in file.rows {
            for item in items {
                batch.append(EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: String(user)),
                                       target: NodeRefInput(type: "item", key: String(item)), timestampMs: 1))
                if batch.count == 10_000 {
                    _ = try await database.addEdges(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.isEmpty { _ = try await database.addEdges(batch) }
        _ = try await database.compact()
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        let snapshot = database.snapshot
        log(String(format: "loaded %d users' %d interactions in %.1f s", file.rows.count, snapshot.edgeCount, loadSeconds))

        let schema = snapshot.schema
        let spec = InteractionSpec(userType: try schema.requireNodeType("user"), itemType: try schema.requireNodeType("item"),
                                   edgeTypes: [try schema.requireEdgeType("interacted")])
        // Only the graph filter precomputes; the walk scorers read the live graph.
        let model = scorer.kind.needsModel
            ? try RecommendationModel(snapshot: snapshot, spec: spec, builtAtMs: Int64(Date().timeIntervalSince1970 * 1000)) : nil
        if let model { log(String(format: "model built in %.2f s", model.buildSeconds)) }

        let engine = PersonalizedPageRank(), walks = WalkViewCache()
        guard let output = FileHandle(forWritingAtPath: predictions) ?? {
            FileManager.default.createFile(atPath: predictions, contents: nil) ? FileHandle(forWritingAtPath: predictions) : nil
        }() else { throw fail(message: "cannot write \(predictions)", code: ToolExit.noInput) }
        try output.truncate(atOffset: 0)
        var latencies: [Double] = []
        latencies.reserveCapacity(file.rows.count)
        var text = ""
        let queryStart = ContinuousClock.now
        for (user, _) in file.rows {
            guard let node = snapshot.nodes.id(of: NodeKey(type: spec.userType, key: String(user))) else { continue }
            let start = ContinuousClock.now
            let items = try Recommender.recommend(RecommendationQuery(user: node, k: k, scorer: scorer.kind), spec: spec, model: model,
                                                  snapshot: snapshot, ppr: engine, walks: walks)
            latencies.append((ContinuousClock.now - start).seconds * 1000)
            text += String(user)
            for item in items { text += " " + snapshot.nodes.key(of: item.node) }
            text += "\n"
            if text.utf8.count > 1 << 20 {
                output.write(Data(text.utf8))
                text = ""
            }
        }
        output.write(Data(text.utf8))
        try output.close()
        let querySeconds = (ContinuousClock.now - queryStart).seconds
        let buildSeconds: Double = model?.buildSeconds ?? 0
        let sorted = latencies.sorted()
        var json: [String: Any] = [
            "users": latencies.count, "interactions": snapshot.edgeCount, "k": k, "scorer": scorer.rawValue,
            "load_seconds": loadSeconds, "model_build_seconds": buildSeconds,
            "query_p50_ms": quantile(sorted: sorted, 0.5), "query_p99_ms": quantile(sorted: sorted, 0.99),
            "queries_per_s_one_thread": Double(latencies.count) / querySeconds, "predictions": predictions,
        ]
        var rpcLines: [String] = []
        if rpcQueries > 0, let rpc = await {
            // The predictions are written: a failure here is reported, not fatal.
            do { return try await socketBenchmark(file: file, directory: directory) } catch {
                log("socket benchmark skipped: \(error)")
                return nil
            }
        }() {
            json["rpc"] = rpc.map { ["clients": $0.clients, "p50_ms": $0.p50, "p99_ms": $0.p99, "calls_per_s": $0.rate] as [String: Any] }
            rpcLines = rpc.map { String(format: "Recommend over the Unix socket, %d client(s): p50 %.3f ms, p99 %.3f ms, %.0f calls/s", $0.clients, $0.p50, $0.p99, $0.rate) }
        }
        switch options.format {
        case .json: printJSON(json)
        case .text:
            print(String(format: "%d users, %d interactions; scorer %@, k = %d", latencies.count, snapshot.edgeCount, scorer.rawValue, k))
            for line in rpcLines { print(line) }
            print(String(format: "load %.1f s, model build %.2f s; per user p50 %.3f ms, p99 %.3f ms (one query at a time)",
                         loadSeconds, buildSeconds, quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.99)))
            print("predictions: \(predictions)")
        }
    }
}

extension BenchRecommend {
    /// Recommend over a real graphd: latency and throughput per concurrency level.
    private func socketBenchmark(file: LightGCNFile, directory: String) async throws -> [(clients: Int, p50: Double, p99: Double, rate: Double)] {
        let levels = clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
        let store = directory + "/recommend-rpc.sqlite"
        for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) }
        defer { for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) } }
        let daemon = try BenchDaemon(graphd: options.graphdPath, socket: directory + "/recommend.sock", store: store,
                                     arguments: ["--sync", "normal"])
        defer { daemon.stop() }
        try await daemon.waitUntilServing()
        let loader = try await GraphClient.connect(to: .unix(path: daemon.socket), defaultTimeout: .seconds(120))
        var request = Graphd_V1_AddEdgesRequest()
        for (user, items) in file.rows {
            for item in items {
                var edge = Graphd_V1_Edge()
                edge.type = "interacted"
                edge.source = Graphd_V1_NodeRef(type: "user", key: String(user))
                edge.target = Graphd_V1_NodeRef(type: "item", key: String(item))
                request.edges.append(edge)
                if request.edges.count == 10_000 {
                    _ = try await loader.addEdges(request)
                    request.edges.removeAll(keepingCapacity: true)
                }
            }
        }
        if !request.edges.isEmpty { _ = try await loader.addEdges(request) }
        _ = try await loader.compact()
        await loader.close()
        let users = file.rows.map(\.user)
        let socketPath = daemon.socket
        let k = UInt32(self.k), scorerValue = scorer.wire
        var results: [(clients: Int, p50: Double, p99: Double, rate: Double)] = []
        for level in levels {
            let perClient = max(1, rpcQueries / level)
            let start = ContinuousClock.now
            let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
                for worker in 0..<level {
                    group.addTask {
                        let client = try await GraphClient.connect(to: .unix(path: socketPath), defaultTimeout: .seconds(60))
                        var random = SplitMix(seed: UInt64(worker + 1) * 7919)
                        var latencies: [Double] = []
                        for _ in 0..<perClient {
                            var call = Graphd_V1_RecommendRequest()
                            call.user = Graphd_V1_NodeRef(type: "user", key: String(users[Int(random.next() % UInt64(users.count))]))
                            call.k = k
                            call.scorer = scorerValue
                            let t0 = ContinuousClock.now
                            _ = try await client.recommend(call)
                            latencies.append((ContinuousClock.now - t0).seconds * 1000)
                        }
                        await client.close()
                        return latencies
                    }
                }
                var all: [Double] = []
                for try await part in group { all += part }
                return all
            }
            let elapsed = (ContinuousClock.now - start).seconds
            let sorted = samples.sorted()
            results.append((level, quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.99), Double(samples.count) / elapsed))
            log(String(format: "%d client(s): p50 %.3f ms, p99 %.3f ms, %.0f calls/s", level, results.last!.p50, results.last!.p99, results.last!.rate))
        }
        return results
    }
}

extension ScorerChoice {
    /// The scorer in process.
    var kind: ScorerKind { ScorerKind(rawValue: rawValue) ?? .rp3beta }
}
