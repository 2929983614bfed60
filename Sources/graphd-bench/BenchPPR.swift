import ArgumentParser
import Dispatch
import Foundation
import GraphdHarness
import GraphdTools
import GraphAlgorithms
import GraphCore

// MARK: bench ppr

struct BenchPPR: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppr", abstract: "Personalized PageRank: the forward-push engine against igraph's PRPACK on the same seeds.",
        discussion: """
        Builds a graph in this process through graphd's own snapshot code: a synthetic \
        power-law graph (Chung–Lu, exponent --exponent, average degree 2·--edges/--nodes) or, \
        with --lightgcn, a 'user item item …' file as an undirected user–item graph. Then, for \
        --seeds single-node seeds, times the engine's top-100 (p50/p99), and for the first \
        --igraph-seeds of them times igraph_personalized_pagerank (PRPACK, the exact reference) \
        and scores the engine's top-100 against the exact top-100 (precision@100). Throughput \
        runs every seed again on --threads threads.

        Examples:
          graphd-bench ppr --edges 1000000 --format json
          graphd-bench ppr --lightgcn ../shared/data/gowalla/train.txt
        """)

    @Option(help: "Edges of the synthetic graph.")
    var edges: Int = 1_000_000
    @Option(help: "Nodes of the synthetic graph (default: edges / 10).")
    var nodes: Int = 0
    @Option(help: "Power-law exponent of the synthetic degree distribution.")
    var exponent: Double = 2.2
    @Option(help: "Use this LightGCN-format file instead of a synthetic graph.")
    var lightgcn: String?
    @Option(help: "Single-node queries timed for the engine.")
    var seeds: Int = 1000
    @Option(help: "Seeds also run through igraph PRPACK (slow: a fraction of a second to seconds each).")
    var igraphSeeds: Int = 20
    @Option(help: "Top-k compared.")
    var k: Int = 100
    @Option(help: "Restart probability (igraph damping = 1 − restart).")
    var restart: Double = PPRParameters.defaultRestart
    @Option(help: "Forward-push tolerance (residual per unit of degree).")
    var tolerance: Double = PPRParameters.defaultTolerance
    @Option(help: "Threads for the throughput run (default: all cores).")
    var threads: Int = 0
    @Option(help: "Corrected estimator: residual nodes heavier than this spread by row weight.")
    var spreadLimit: Double = PPRParameters.defaultSpreadLimit
    @Option(help: "Corrected estimator: residuals below this fraction of their push threshold spread by row weight.")
    var spreadFraction: Double = PPRParameters.defaultSpreadFraction
    @Option(help: "Estimator: corrected (residuals accounted for) or push (pushed mass only).")
    var estimator: EstimatorChoice = .corrected
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        guard edges > 0, seeds > 0, igraphSeeds >= 0, k > 0 else { throw ValidationError("--edges, --seeds and --k must be positive") }
        guard exponent > 2 else { throw ValidationError("--exponent must be above 2") }
        do { try PPRParameters(restart: restart, tolerance: tolerance, spreadLimit: spreadLimit, spreadFraction: spreadFraction).validate() } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let buildStart = ContinuousClock.now
        let graph: PPRBenchGraph
        if let lightgcn {
            graph = try PPRBenchGraph(interactions: try await LightGCNFile.read(lightgcn))
        } else {
            graph = try PPRBenchGraph(powerLawEdges: edges, nodes: nodes > 0 ? nodes : max(100, edges / 10), exponent: exponent)
        }
        let view = graph.state.snapshot.walkView(.all)
        log(String(format: "graph: %d nodes, %d edges (%d walk steps), built in %.1f s", view.nodeCount, graph.state.snapshot.edgeCount, view.stepCount, (ContinuousClock.now - buildStart).seconds))

        // Seeds: nodes with at least one step, drawn deterministically.
        var random = SplitMix(seed: 20261127)
        var seedNodes: [UInt32] = []
        while seedNodes.count < seeds {
            let node = UInt32(random.next() % UInt64(view.nodeCount))
            if view.rowWeight(node) > 0 { seedNodes.append(node) }
        }
        let engine = PersonalizedPageRank()
        let parameters = PPRParameters(restart: restart, tolerance: tolerance, estimator: estimator.value, spreadLimit: spreadLimit, spreadFraction: spreadFraction)
        for node in seedNodes.prefix(20) { _ = try engine.scores(view: view, seeds: [PPRSeed(node: node)], parameters: parameters).top(k) }
        var fastMs: [Double] = [], fastTop: [[UInt32]] = [], pushes: [Double] = []
        for node in seedNodes {
            let start = ContinuousClock.now
            let result = try engine.scores(view: view, seeds: [PPRSeed(node: node)], parameters: parameters)
            let top = result.top(k)
            fastMs.append((ContinuousClock.now - start).seconds * 1000)
            fastTop.append(top.map(\.node))
            pushes.append(Double(result.work))
        }
        // Throughput: every seed again, spread over threads.
        let threadCount = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        let throughputStart = ContinuousClock.now
        let seedList = seedNodes
        DispatchQueue.concurrentPerform(iterations: threadCount) { worker in
            for i in stride(from: worker, to: seedList.count, by: threadCount) {
                _ = try? engine.scores(view: view, seeds: [PPRSeed(node: seedList[i])], parameters: parameters).top(k)
            }
        }
        let queriesPerSecond = Double(seedNodes.count) / (ContinuousClock.now - throughputStart).seconds

        // igraph PRPACK on the first seeds: time, and the exact top-k.
        var igraphMs: [Double] = [], precisions: [Double] = []
        if igraphSeeds > 0 {
            let topology = try IgraphTopology(vertexCount: view.nodeCount)
            try topology.addEdges(sources: graph.sources, targets: graph.targets)
            for (i, node) in seedNodes.prefix(igraphSeeds).enumerated() {
                var reset = [Double](repeating: 0, count: view.nodeCount)
                reset[Int(node)] = 1
                let start = ContinuousClock.now
                let exact = try topology.personalizedPageRank(reset: reset, weights: nil, damping: 1 - restart, directed: false)
                igraphMs.append((ContinuousClock.now - start).seconds * 1000)
                var heap = TopK(capacity: k)
                for (v, score) in exact.enumerated() where score > 0 { heap.offer(node: UInt32(v), score: score) }
                let exactTop = Set(heap.sorted().map(\.node))
                precisions.append(Double(fastTop[i].filter(exactTop.contains).count) / Double(min(k, exactTop.count)))
            }
        }
        let fastP50 = quantile(sorted: fastMs.sorted(), 0.5), fastP99 = quantile(sorted: fastMs.sorted(), 0.99)
        let igraphP50 = igraphMs.isEmpty ? Double.nan : median(igraphMs)
        let precision = precisions.isEmpty ? Double.nan : precisions.reduce(0, +) / Double(precisions.count)
        let json: [String: Any] = [
            "graph": lightgcn ?? "power-law", "nodes": view.nodeCount, "edges": graph.state.snapshot.edgeCount,
            "seeds": seedNodes.count, "igraph_seeds": igraphMs.count, "k": k, "restart": restart, "tolerance": tolerance, "estimator": estimator.rawValue,
            "fast_p50_ms": fastP50, "fast_p99_ms": fastP99, "fast_pushes_p50": median(pushes),
            "fast_queries_per_s": queriesPerSecond, "threads": threadCount,
            "igraph_p50_ms": igraphP50, "speedup_p50": igraphP50 / fastP50,
            "precision_at_100": precision, "precision_min": precisions.min() ?? Double.nan,
        ]
        switch format {
        case .json: printJSON(json)
        case .text:
            print(String(format: "graph %@: %d nodes, %d edges; %d seeds (igraph: %d), k = %d, restart %.2f, tolerance %.0e",
                         lightgcn ?? "power-law", view.nodeCount, graph.state.snapshot.edgeCount, seedNodes.count, igraphMs.count, k, restart, tolerance))
            print(String(format: "forward push  p50 %8.3f ms   p99 %8.3f ms   %.0f queries/s on %d threads", fastP50, fastP99, queriesPerSecond, threadCount))
            print(String(format: "igraph PRPACK p50 %8.1f ms   → push is %.0f× faster at p50", igraphP50, igraphP50 / fastP50))
            print(String(format: "precision@%d against PRPACK: mean %.4f, min %.4f", k, precision, precisions.min() ?? .nan))
        }
    }
}

enum EstimatorChoice: String, ExpressibleByArgument, CaseIterable {
    case corrected, push
    var value: PPREstimator { self == .push ? .push : .corrected }
}

/// A graph built for the PPR benchmark, with its edge list for igraph.
struct PPRBenchGraph {
    let state: GraphState
    let sources: [UInt32]
    let targets: [UInt32]

    /// Chung–Lu: endpoints drawn with probability ∝ (i + 1)^(−1/(γ−1)); no
    /// self-loops, no duplicate pairs; undirected `related` edges between `entity` nodes.
    init(powerLawEdges edgeCount: Int, nodes nodeCount: Int, exponent: Double) throws {
        var cumulative = [Double](repeating: 0, count: nodeCount)
        var total = 0.0
        for i in 0..<nodeCount {
            total += pow(Double(i + 1), -1 / (exponent - 1))
            cumulative[i] = total
        }
        var random = SplitMix(seed: 42)
        func draw() -> UInt32 {
            let x = Double(random.next() >> 11) / Double(1 << 53) * total
            var low = 0, high = nodeCount - 1
            while low < high {
                let mid = (low + high) / 2
                if cumulative[mid] < x { low = mid + 1 } else { high = mid }
            }
            return UInt32(low)
        }
        var seen = Set<UInt64>(minimumCapacity: edgeCount)
        var sources: [UInt32] = [], targets: [UInt32] = []
        sources.reserveCapacity(edgeCount)
        targets.reserveCapacity(edgeCount)
        var attempts = 0
        while sources.count < edgeCount && attempts < edgeCount * 20 {
            attempts += 1
            let a = draw(), b = draw()
            guard a != b else { continue }
            let (s, t) = a < b ? (a, b) : (b, a)
            guard seen.insert(UInt64(s) << 32 | UInt64(t)).inserted else { continue }
            sources.append(s)
            targets.append(t)
        }
        try self.init(nodeType: "entity", nodeCount: nodeCount, keys: { "n\($0)" }, edgeType: "related", sources: sources, targets: targets)
    }

    /// A LightGCN interaction file: users are ids 0..<U as written, items follow.
    init(interactions file: LightGCNFile) throws {
        var pairs: [(Int, Int)] = []
        for (user, items) in file.rows { for item in items { pairs.append((user, item)) } }
        let users = file.userCount, maxItem = file.itemCount - 1
        let sources = pairs.map { UInt32($0.0) }, targets = pairs.map { UInt32(users + $0.1) }
        var state = GraphState()
        let schema = state.schema
        let userType = try schema.requireNodeType("user"), itemType = try schema.requireNodeType("item")
        let interacted = try schema.requireEdgeType("interacted")
        var records: [NodeRecord] = []
        for u in 0..<users { records.append(NodeRecord(id: UInt32(u), type: userType, key: String(u))) }
        for i in 0...max(maxItem, 0) { records.append(NodeRecord(id: UInt32(users + i), type: itemType, key: String(i))) }
        state = try Self.makeState(schema: schema, records: records, edgeType: interacted, sources: sources, targets: targets)
        self.state = state
        self.sources = sources
        self.targets = targets
    }

    private init(nodeType: String, nodeCount: Int, keys: (Int) -> String, edgeType: String, sources: [UInt32], targets: [UInt32]) throws {
        var fresh = GraphState()
        fresh.apply(try fresh.planDefineTypes(nodeTypes: [], edgeTypes: [EdgeTypeInput(name: edgeType, directed: false, sourceType: nodeType, targetType: nodeType)]))
        let schema = fresh.schema
        let type = try schema.requireNodeType(nodeType)
        let records = (0..<nodeCount).map { NodeRecord(id: UInt32($0), type: type, key: keys($0)) }
        self.state = try Self.makeState(schema: schema, records: records, edgeType: try schema.requireEdgeType(edgeType), sources: sources, targets: targets)
        self.sources = sources
        self.targets = targets
    }

    /// The same path graphd takes when it loads a store: columns + igraph + CSR.
    private static func makeState(schema: GraphSchema, records: [NodeRecord], edgeType: EdgeTypeID, sources: [UInt32], targets: [UInt32]) throws -> GraphState {
        var columns = EdgeColumns()
        columns.reserveCapacity(sources.count)
        for i in sources.indices {
            columns.append(EdgeRecord(id: Int64(i + 1), type: edgeType, source: sources[i], target: targets[i], weight: 1, timestampMs: 1))
        }
        let topology = try IgraphTopology(vertexCount: records.count)
        try topology.addEdges(sources: sources, targets: targets)
        return try GraphState(schema: schema, nodes: records, columns: columns, sources: sources, targets: targets, topology: topology)
    }
}

/// A LightGCN-format file: one line per user, `user item item …`, ids as integers.
struct LightGCNFile {
    var rows: [(user: Int, items: [Int])] = []
    /// One past the largest user / item id.
    var userCount = 0
    var itemCount = 0

    static func read(_ path: String) async throws -> LightGCNFile {
        var file = LightGCNFile()
        try await LineReader.forEachLine(path) { line, number in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first else { return }
            var ids: [Int] = []
            for field in fields {
                guard let id = Int(field), id >= 0, id < Int(Int32.max) else {
                    throw fail(message: "\(path):\(number): '\(field)' is not a non-negative integer id", code: ToolExit.rejected)
                }
                ids.append(id)
            }
            _ = first
            file.rows.append((ids[0], Array(ids.dropFirst())))
            file.userCount = max(file.userCount, ids[0] + 1)
            file.itemCount = max(file.itemCount, (ids.dropFirst().max() ?? -1) + 1)
        }
        return file
    }
}
