import ArgumentParser
import Foundation
import GraphAlgorithms
import GraphCore
import GraphStore
import Recommendation

// MARK: bench recommend

struct BenchRecommend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend", abstract: "Top-k recommendations for every user of a LightGCN training file.",
        discussion: """
        In this process, through graphd's own store and model code: loads --train \
        ('user item item …' per line) into a fresh temporary SQLite store as 'user' and 'item' \
        nodes joined by 'interacted' edges, compacts, builds the recommendation model, then \
        writes to --predictions one line per user, 'user item item …' with the --k best items \
        first (the user's own training items excluded), in the format \
        ../shared/bench/recsys_eval.py reads. Prints load, model build and per-user latency.

        Example:
          graphctl bench recommend --train train.txt --k 20 --predictions pred.txt
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
    @Option(help: "Scratch directory for the temporary store (default: a new one under /tmp).")
    var scratch: String?
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        guard k > 0, k <= RecommendationQuery.maxK else { throw ValidationError("--k must be in 1…\(RecommendationQuery.maxK)") }
    }

    func run() async throws {
        let file = try await LightGCNFile.read(train)
        let directory = scratch ?? "/tmp/graphd-bench-recommend-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
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
        let model = scorer == .graph_filter
            ? try RecommendationModel(snapshot: snapshot, spec: spec, builtAtMs: Int64(Date().timeIntervalSince1970 * 1000)) : nil
        if let model { log(String(format: "model built in %.2f s", model.buildSeconds)) }

        let engine = PersonalizedPageRank(), walks = WalkViewCache()
        guard let output = FileHandle(forWritingAtPath: predictions) ?? {
            FileManager.default.createFile(atPath: predictions, contents: nil) ? FileHandle(forWritingAtPath: predictions) : nil
        }() else { throw fail(message: "cannot write \(predictions)", code: GraphctlExit.noInput) }
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
        let json: [String: Any] = [
            "users": latencies.count, "interactions": snapshot.edgeCount, "k": k, "scorer": scorer.rawValue,
            "load_seconds": loadSeconds, "model_build_seconds": buildSeconds,
            "query_p50_ms": quantile(sorted: sorted, 0.5), "query_p99_ms": quantile(sorted: sorted, 0.99),
            "queries_per_s_one_thread": Double(latencies.count) / querySeconds, "predictions": predictions,
        ]
        switch format {
        case .json: printJSON(json)
        case .text:
            print(String(format: "%d users, %d interactions; scorer %@, k = %d", latencies.count, snapshot.edgeCount, scorer.rawValue, k))
            print(String(format: "load %.1f s, model build %.2f s; per user p50 %.3f ms, p99 %.3f ms (one thread)",
                         loadSeconds, buildSeconds, quantile(sorted: sorted, 0.5), quantile(sorted: sorted, 0.99)))
            print("predictions: \(predictions)")
        }
    }
}

enum ScorerChoice: String, ExpressibleByArgument, CaseIterable {
    case rp3beta, graph_filter, ppr
    var kind: ScorerKind { ScorerKind(rawValue: rawValue) ?? .rp3beta }
}
