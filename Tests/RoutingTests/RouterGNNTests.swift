import GraphCore
import MessagePassing
import Testing
@testable import Routing

/// A small router graph with signal: queries of two kinds (features near +e0 or
/// +e1); LLM "a" answers kind 0 well, "b" kind 1, "c" both badly but cheaply.
func fixtureGraph(queriesPerKind: Int = 40, dimension: Int = 6, seed: UInt64 = 3) -> RouterGraph {
    var rng = SplitMix(seed: seed)
    var g = RouterGraph(dimension: dimension)
    func noisy(_ axis: Int) -> [Float] {
        (0..<dimension).map { j in (j == axis ? 1 : 0) + 0.1 * rng.signedUnit() }
    }
    g.tasks = [RouterGraph.Task(name: "t", features: noisy(5))]
    g.llms = [RouterGraph.LLM(name: "a", features: noisy(2)), RouterGraph.LLM(name: "b", features: noisy(3)),
              RouterGraph.LLM(name: "c", features: noisy(4))]
    for i in 0..<(2 * queriesPerKind) {
        let kind = i % 2
        g.queries.append(RouterGraph.Query(task: 0, features: noisy(kind)))
        let q = g.queries.count - 1
        // 90 % / 10 % success, deterministic by index.
        let good: Float = (i / 2) % 10 == 0 ? 0 : 1, bad: Float = (i / 2) % 10 == 0 ? 1 : 0
        g.outcomes.append(RouterGraph.Outcome(query: q, llm: 0, effect: kind == 0 ? good : bad, cost: 0.01))
        g.outcomes.append(RouterGraph.Outcome(query: q, llm: 1, effect: kind == 1 ? good : bad, cost: 0.01))
        g.outcomes.append(RouterGraph.Outcome(query: q, llm: 2, effect: (i / 2) % 4 == 0 ? 1 : 0, cost: 0.001))
    }
    return g
}

/// A predictor that has not been trained: decisions come from the per-task rates and costs alone.
func ratesOnlyPredictor(_ graph: RouterGraph) throws -> RouterPredictor {
    try RouterPredictor(model: .ratesOnly(dimension: graph.dimension, config: RouterGNNConfig()), graph: graph, config: RouterGNNConfig())
}

@Suite struct RouterGNNTests {
    /// Every tensor's analytic gradient against central finite differences.
    @Test func gradientsMatchFiniteDifferences() throws {
        let graph = fixtureGraph(queriesPerKind: 6, dimension: 5)
        let config = RouterGNNConfig(hidden: 4, headHidden: 3)
        let p = RouterParameters(dimension: graph.dimension, config: config, seed: 11)
        let inputs = RouterGNN.Inputs(graph)
        let messageOutcomes = graph.outcomes.filter { $0.query % 2 == 0 || $0.query % 3 == 0 }
        let targets = graph.outcomes.filter { !($0.query % 2 == 0 || $0.query % 3 == 0) }
        let messages = try MessageGraph(graph: graph, messageOutcomes: messageOutcomes)
        let priors = OutcomePriors(taskCount: 1, llmCount: 3, queries: graph.queries, outcomes: messageOutcomes, strength: 4)
        let pairs = RouterTrainer.pairs(targets, graph: graph, priors: priors)
        let decay: Float = 0.01
        func loss(_ q: RouterParameters) throws -> Double {
            Double(try RouterGNN.lossAndGradient(q, inputs: inputs, messages: messages, queries: pairs.queries, llms: pairs.llms,
                                                 priors: pairs.priors, targets: pairs.targets, weightDecay: decay,
                                                 wantGradient: false).loss)
        }
        let analytic = try #require(try RouterGNN.lossAndGradient(
            p, inputs: inputs, messages: messages, queries: pairs.queries, llms: pairs.llms, priors: pairs.priors,
            targets: pairs.targets, weightDecay: decay).gradient)
        let epsilon: Float = 2e-3
        var checked = 0
        for t in p.tensors.indices {
            var nonZero = false
            for i in p.tensors[t].values.indices {
                var plus = p, minus = p
                plus.tensors[t].values[i] += epsilon
                minus.tensors[t].values[i] -= epsilon
                let numeric = (try loss(plus) - loss(minus)) / Double(2 * epsilon)
                let a = Double(analytic.tensors[t].values[i])
                #expect(abs(a - numeric) <= 2e-3 + 0.05 * max(abs(a), abs(numeric)),
                        "\(RouterParameters.names[t])[\(i)]: analytic \(a), numeric \(numeric)")
                if abs(a) > 1e-6 { nonZero = true }
                checked += 1
            }
            #expect(nonZero, "\(RouterParameters.names[t]) has an all-zero gradient: the check would prove nothing")
        }
        #expect(checked == p.scalarCount)
    }

    @Test func trainingBeatsPerTaskRatesWhereQueriesDifferAndIsDeterministic() throws {
        let graph = fixtureGraph()
        var config = RouterTrainingConfig()
        config.learningRate = 1e-2
        config.maxEpochs = 300
        config.validationShare = 0.25
        let first = try RouterTrainer.train(graph, config: config)
        // Per-task rates cannot tell the two kinds apart; the GNN must.
        #expect(first.validationLoss < 0.8 * first.priorOnlyValidationLoss,
                "GNN \(first.validationLoss) vs rates \(first.priorOnlyValidationLoss)")
        let second = try RouterTrainer.train(graph, config: config)
        #expect(first.parameters == second.parameters)
        #expect(first.bestEpoch == second.bestEpoch)

        let predictor = try RouterPredictor(model: first.parameters, graph: graph, config: config.gnn)
        let kind0 = try predictor.predictedEffects(features: [1, 0, 0, 0, 0, 0], task: 0)
        let kind1 = try predictor.predictedEffects(features: [0, 1, 0, 0, 0, 0], task: 0)
        #expect(kind0[0] > kind0[1] + 0.3 && kind1[1] > kind1[0] + 0.3, "\(kind0) \(kind1)")
        let decision = try predictor.route(RouteQuestion(features: [0, 1, 0, 0, 0, 0], task: 0,
                                                         objective: .weights(performance: 1, cost: 0)))
        #expect(decision.ranked.first?.llm == 1)
        #expect(decision.fallback.count == 2)
    }

    @Test func trainingStopsWhenCancelled() throws {
        var asked = 0
        do {
            _ = try RouterTrainer.train(fixtureGraph(), isCancelled: { asked += 1; return asked > 3 })
            Issue.record("training ignored cancellation")
        } catch {
            #expect(error.kind == .cancelled)
            #expect(asked == 4)
        }
    }

    @Test func modelRoundTripsAndRejectsDamagedBytes() throws {
        let graph = fixtureGraph(queriesPerKind: 8)
        var config = RouterTrainingConfig()
        config.maxEpochs = 5
        let result = try RouterTrainer.train(graph, config: config)
        let model = RouterModel(result: result, embedder: "hashed", training: config, trainedAtMs: 42)
        let bytes = try model.serialized()
        #expect(try RouterModel(serialized: bytes) == model)
        #expect(throws: RoutingError.self) { try RouterModel(serialized: Array(bytes.dropLast(3))) }
        #expect(throws: RoutingError.self) { try RouterModel(serialized: [0x47, 0x52, 0x54, 0x52, 0xff, 0xff, 0xff, 0x7f]) }
        #expect(throws: RoutingError.self) { try RouterModel(serialized: Array("not a model".utf8)) }
    }
}

@Suite struct RouterPredictorTests {
    /// Two LLMs with the same record on the task; "dear" costs ten times more.
    func dominatedGraph() -> RouterGraph {
        var g = RouterGraph(dimension: 2)
        g.tasks = [RouterGraph.Task(name: "t", features: [1, 0])]
        g.llms = [RouterGraph.LLM(name: "dear", features: [0, 1]), RouterGraph.LLM(name: "cheap", features: [1, 1]),
                  RouterGraph.LLM(name: "weak", features: [1, -1])]
        for q in 0..<20 {
            g.queries.append(RouterGraph.Query(task: 0, features: [1, Float(q) / 20]))
            g.outcomes.append(RouterGraph.Outcome(query: q, llm: 0, effect: q % 5 == 0 ? 0 : 1, cost: 0.010))
            g.outcomes.append(RouterGraph.Outcome(query: q, llm: 1, effect: q % 5 == 0 ? 0 : 1, cost: 0.001))
            g.outcomes.append(RouterGraph.Outcome(query: q, llm: 2, effect: q % 2 == 0 ? 0 : 1, cost: 0.0005))
        }
        return g
    }

    @Test func costFirstNeverPicksTheDominatedLLMAndWeightsMatter() throws {
        let predictor = try ratesOnlyPredictor(dominatedGraph())
        for (wp, wc) in [(1.0, 0.0), (0.5, 0.5), (0.2, 0.8)] {
            let d = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: wp, cost: wc)))
            #expect(d.ranked.first?.llm != 0, "weights (\(wp), \(wc)) chose the dominated LLM")
        }
        // Pure cost: the cheapest.
        let cheapest = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 0, cost: 1)))
        #expect(cheapest.ranked.first?.llm == 2)
        // A tiny willingness to pay also goes to the cheapest; a large one to the best.
        let wtpLow = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .willingnessToPay(1e-5)))
        #expect(wtpLow.ranked.first?.llm == 2)
        let wtpHigh = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .willingnessToPay(100)))
        #expect(wtpHigh.ranked.first?.llm == 1)
    }

    /// Before any outcome, declared prices alone set the cost scale, and an LLM
    /// with neither price nor observed cost counts as the dearest.
    @Test func pricesAloneWeighCostAndUnpricedLLMsNeverWinOnCost() throws {
        var g = RouterGraph(dimension: 2)
        g.tasks = [RouterGraph.Task(name: "t", features: [1, 0])]
        g.llms = [RouterGraph.LLM(name: "dear", features: [0, 1], pricing: LLMPricing(perCall: 0.01)),
                  RouterGraph.LLM(name: "cheap", features: [1, 1], pricing: LLMPricing(perCall: 0.001)),
                  RouterGraph.LLM(name: "unpriced", features: [1, -1])]
        let predictor = try ratesOnlyPredictor(g)
        let d = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 0.5, cost: 0.5)))
        let byName = Dictionary(uniqueKeysWithValues: d.ranked.map { (g.llms[$0.llm].name, $0) })
        #expect(byName["cheap"]?.normalizedCost == 0 && byName["dear"]?.normalizedCost == 1, "\(d.ranked)")
        #expect(byName["unpriced"]?.normalizedCost == 1 && byName["unpriced"]?.cost == 0.01)
        #expect(d.ranked.first?.llm == 1)
        let capped = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 1, cost: 0), maxCost: 1))
        #expect(!capped.ranked.contains { $0.llm == 2 }, "a cost cap leaves out an LLM of unknown cost")
    }

    @Test func allowListAndMaximumCostAreHonoured() throws {
        let predictor = try ratesOnlyPredictor(dominatedGraph())
        let allowed = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, allowed: [0, 2],
                                                        objective: .weights(performance: 1, cost: 0)))
        #expect(Set(allowed.ranked.map(\.llm)) == [0, 2])
        #expect(allowed.ranked.first?.llm == 0)
        let capped = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 1, cost: 0),
                                                       maxCost: 0.0007))
        #expect(capped.ranked.map(\.llm) == [2])
        let none = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 1, cost: 0),
                                                     maxCost: 0.0001))
        #expect(none.ranked.isEmpty)
    }

    /// Latency: the mean fed back per LLM on the task, else over all its calls;
    /// a latency cap leaves out the slow, and keeps an LLM never timed.
    @Test func predictedLatencyAndTheLatencyCap() throws {
        var g = dominatedGraph()
        g.tasks.append(RouterGraph.Task(name: "other", features: [0, 1]))
        for i in g.outcomes.indices {
            switch g.outcomes[i].llm {
            case 0: g.outcomes[i].latencyMs = Double(100 + 10 * (g.outcomes[i].query % 3))  // 100, 110, 120
            case 1: g.outcomes[i].latencyMs = 3000
            default: break  // "weak" is never timed
            }
        }
        g.queries.append(RouterGraph.Query(task: 1, features: [0, 1]))
        g.outcomes.append(RouterGraph.Outcome(query: g.queries.count - 1, llm: 1, effect: 1, cost: 0.001, latencyMs: 5000))
        let predictor = try ratesOnlyPredictor(g)
        let dearMean = g.outcomes.filter { $0.llm == 0 }.compactMap(\.latencyMs).reduce(0, +) / 20
        #expect(predictor.predictedLatency(llm: 0, task: 0) == dearMean)
        #expect(predictor.predictedLatency(llm: 1, task: 0) == 3000 && predictor.predictedLatency(llm: 1, task: 1) == 5000)
        // No call of "dear" on the other task: its mean over all calls.
        #expect(predictor.predictedLatency(llm: 0, task: 1) == dearMean)
        #expect(predictor.predictedLatency(llm: 2, task: 0) == nil)

        let open = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 1, cost: 0)))
        #expect(open.ranked.first { $0.llm == 1 }?.latencyMs == 3000 && open.ranked.first { $0.llm == 2 }?.latencyMs == nil)
        let capped = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: .weights(performance: 1, cost: 0),
                                                       maxLatencyMs: 1000))
        #expect(Set(capped.ranked.map(\.llm)) == [0, 2], "the 3 s LLM is left out, the untimed one stays")
        #expect(throws: RoutingError.self) {
            try predictor.route(RouteQuestion(features: [1, 0.5], objective: .weights(performance: 1, cost: 0), maxLatencyMs: -1))
        }
    }

    @Test func badQuestionsAreRejected() throws {
        let predictor = try ratesOnlyPredictor(dominatedGraph())
        for objective in [RoutingObjective.weights(performance: -1, cost: 0), .weights(performance: 0, cost: 0),
                          .weights(performance: .nan, cost: 1), .willingnessToPay(0)] {
            #expect(throws: RoutingError.self) { try predictor.route(RouteQuestion(features: [1, 0], objective: objective)) }
        }
        #expect(throws: RoutingError.self) {
            try predictor.route(RouteQuestion(features: [1, 0, 0], objective: .weights(performance: 1, cost: 0)))
        }
        #expect(throws: RoutingError.self) {
            try predictor.route(RouteQuestion(features: [1, .nan], objective: .weights(performance: 1, cost: 0)))
        }
        var empty = RouterGraph(dimension: 2)
        empty.tasks = [RouterGraph.Task(name: "t", features: [1, 0])]
        do {
            _ = try ratesOnlyPredictor(empty).route(RouteQuestion(features: [1, 0], objective: .weights(performance: 1, cost: 0)))
            Issue.record("routing with no LLMs succeeded")
        } catch {
            #expect((error as? RoutingError)?.kind == .failedPrecondition)
        }
    }

    @Test func aNewLLMIsRoutableAtOnceAndFeedbackMovesItsPrediction() throws {
        let graph = fixtureGraph()
        var config = RouterTrainingConfig()
        config.learningRate = 1e-2
        config.maxEpochs = 100
        let result = try RouterTrainer.train(graph, config: config)
        var withNew = graph
        withNew.llms.append(RouterGraph.LLM(name: "new", features: [0, 0, 0, 0, 1, 0], pricing: LLMPricing(perCall: 0.002)))
        let before = try RouterPredictor(model: result.parameters, graph: withNew, config: config.gnn)
        let question = RouteQuestion(features: [1, 0, 0, 0, 0, 0], task: 0, objective: .weights(performance: 1, cost: 0))
        let decision = try before.route(question)
        let newBefore = try #require(decision.ranked.first { $0.llm == 3 })
        #expect(newBefore.cost == 0.002)

        // Feedback: the new LLM answers every kind-0 query it sees.
        var after = withNew
        var replayed = Set<Int>()
        for q in stride(from: 0, to: 20, by: 2) {
            after.outcomes.append(RouterGraph.Outcome(query: q, llm: 3, effect: 1, cost: 0.002))
            replayed.insert(q)
        }
        let tuned = try RouterTrainer.fineTune(result.parameters, graph: after, queries: replayed, steps: 5, config: config)
        let afterPredictor = try RouterPredictor(model: tuned, graph: after, config: config.gnn)
        let newAfter = try #require(try afterPredictor.route(question).ranked.first { $0.llm == 3 })
        #expect(newAfter.effect > newBefore.effect + 0.1, "before \(newBefore.effect), after \(newAfter.effect)")
    }

    @Test func theTaskIsInferredFromTheClosestQueries() throws {
        var g = RouterGraph(dimension: 2)
        g.tasks = [RouterGraph.Task(name: "x", features: [1, 0]), RouterGraph.Task(name: "y", features: [0, 1])]
        g.llms = [RouterGraph.LLM(name: "m", features: [1, 1])]
        g.queries = [RouterGraph.Query(task: 0, features: [1, 0.1]), RouterGraph.Query(task: 1, features: [0.1, 1])]
        let predictor = try ratesOnlyPredictor(g)
        let d = try predictor.route(RouteQuestion(features: [0.2, 0.9], objective: .weights(performance: 1, cost: 0)))
        #expect(d.task == 1 && d.taskWasInferred)
    }
}
