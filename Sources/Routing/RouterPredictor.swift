import MessagePassing
import RealModule

/// What the caller trades off: weights on effect and on normalised cost, or
/// a willingness to pay (US dollars per unit of effect).
public enum RoutingObjective: Sendable, Equatable {
    case weights(performance: Double, cost: Double)
    case willingnessToPay(Double)

    public func validate() throws(RoutingError) {
        switch self {
        case let .weights(p, c):
            guard p.isFinite, c.isFinite, p >= 0, c >= 0 else {
                throw RoutingError(.invalidArgument, "weights must be finite and non-negative, got (\(p), \(c))")
            }
            guard p > 0 || c > 0 else { throw RoutingError(.invalidArgument, "weights (0, 0) leave nothing to optimise") }
        case let .willingnessToPay(w):
            guard w.isFinite, w > 0 else { throw RoutingError(.invalidArgument, "willingness to pay must be positive, got \(w)") }
        }
    }

    /// The objective's value for an LLM of this effect and cost (US dollars; normalised to [0, 1]).
    public func score(effect: Double, cost: Double, normalizedCost: Double) -> Double {
        switch self {
        case let .weights(wp, wc): wp * effect - wc * normalizedCost
        case let .willingnessToPay(lambda): effect - cost / lambda
        }
    }
}

/// One routing question.
public struct RouteQuestion: Sendable {
    public var features: [Float]
    /// Task index; nil lets the predictor pick the task whose queries are closest.
    public var task: Int?
    public var promptTokens: Double
    /// LLM indices to choose from; nil means all.
    public var allowed: Set<Int>?
    public var objective: RoutingObjective
    /// Candidates whose predicted cost exceeds this (US dollars) are left out.
    public var maxCost: Double?
    /// Candidates whose predicted latency exceeds this (milliseconds) are left
    /// out; one with no observed latency stays (it must be tried to be measured).
    public var maxLatencyMs: Double?
    /// The query read as a multiple-choice question, when it is one: a labelled
    /// variant of it in the graph then sets the effects (`VariantAnswerModel`).
    public var choices: ChoiceQuestion?
    /// The query's text: when the same text was asked before, the outcomes
    /// observed for it count too (`RepeatedQueryOutcomes`).
    public var text: String?
    /// Explore (see `RouteExploration`); nil: the best expected score wins.
    public var exploration: RouteExploration?

    public init(features: [Float], task: Int? = nil, promptTokens: Double = 0, allowed: Set<Int>? = nil,
                objective: RoutingObjective, maxCost: Double? = nil, maxLatencyMs: Double? = nil, choices: ChoiceQuestion? = nil,
                text: String? = nil, exploration: RouteExploration? = nil) {
        self.exploration = exploration
        self.choices = choices
        self.text = text
        self.features = features
        self.task = task
        self.promptTokens = promptTokens
        self.allowed = allowed
        self.objective = objective
        self.maxCost = maxCost
        self.maxLatencyMs = maxLatencyMs
    }
}

public struct RouteCandidate: Sendable, Equatable {
    public var llm: Int
    /// Predicted probability of success (expected effect).
    public var effect: Float
    /// Predicted cost in US dollars.
    public var cost: Double
    /// Cost scaled to [0, 1] by the task's observed cost range.
    public var normalizedCost: Double
    /// The objective's value; candidates are ranked by it.
    public var score: Double
    /// Predicted latency in milliseconds; nil when none was observed.
    public var latencyMs: Double?
}

public struct RouteDecision: Sendable {
    /// Best first; the first is the choice.
    public var ranked: [RouteCandidate]
    /// The candidates other than the choice, most likely to succeed first: what to try if the choice fails.
    public var fallback: [Int]
    public var task: Int?
    public var taskWasInferred: Bool
    /// Whether a labelled variant of the query set the effects, rather than the GNN alone.
    public var effectsFromVariant: Bool
    /// How many LLMs' effects include outcomes observed for this very text.
    public var llmsObservedOnText: Int
    /// Whether exploration chose another candidate than the best expected score.
    public var exploratory = false
}

/// Answers routing questions from a trained model and the current graph.
/// Node states are computed once (all outcomes pass messages); a question then
/// costs one projection of the query's embedding and the edge head over the LLMs.
public struct RouterPredictor: Sendable {
    public let graph: RouterGraph
    let parameters: RouterParameters
    let priors: OutcomePriors
    /// Per task: ht · Wtq, the task's message to a query.
    let taskMessages: DenseMatrix
    let hm: DenseMatrix
    /// Per LLM: hm · C + c.
    let llmHead: DenseMatrix
    let taskCentroids: [[Float]]
    /// Observed costs per (task, LLM) and per LLM.
    let costs: ObservedMeans
    let taskCostRange: [(min: Double, max: Double)?]
    let globalCostRange: (min: Double, max: Double)?
    /// Observed latencies per (task, LLM) and per LLM.
    let latencies: ObservedMeans
    /// Effects of multiple-choice queries from their labelled variants.
    let variants: VariantAnswerModel
    /// Outcomes observed for queries asked again with the same text.
    let repeats: RepeatedQueryOutcomes

    public init(model: RouterParameters, graph: RouterGraph, config: RouterGNNConfig) throws(RoutingError) {
        try graph.validate()
        guard model.dimension == graph.dimension else {
            throw RoutingError(.failedPrecondition, "the router model expects \(model.dimension)-dimensional features, the graph has \(graph.dimension)")
        }
        self.graph = graph
        self.parameters = model
        priors = OutcomePriors(taskCount: graph.tasks.count, llmCount: graph.llms.count, queries: graph.queries,
                               outcomes: graph.outcomes, strength: config.priorStrength)
        variants = VariantAnswerModel(graph: graph, priors: priors)
        repeats = RepeatedQueryOutcomes(graph: graph)
        do {
            let states = try RouterGNN.nodeStates(model, inputs: RouterGNN.Inputs(graph),
                                                  messages: MessageGraph(graph: graph, messageOutcomes: graph.outcomes))
            taskMessages = try states.ht.multiplied(by: model.tensors[7])
            hm = states.hm
            llmHead = try RouterGNN.affine(states.hm, model.tensors[12], model.tensors[13])
        } catch {
            throw RoutingError(.internalError, "router forward pass failed: \(error)")
        }
        let nT = graph.tasks.count, nM = graph.llms.count, d = graph.dimension
        var centroids = [[Float]](repeating: [Float](repeating: 0, count: d), count: nT)
        for query in graph.queries {
            guard let t = query.task else { continue }
            for j in 0..<d { centroids[t][j] += query.features[j] }
        }
        taskCentroids = centroids.map(Self.normalized)
        var costs = ObservedMeans(taskCount: nT, llmCount: nM), latencies = costs
        var ranges = [(min: Double, max: Double)?](repeating: nil, count: nT)
        var global: (min: Double, max: Double)?
        func widen(_ range: (min: Double, max: Double)?, _ c: Double) -> (min: Double, max: Double) {
            guard let range else { return (c, c) }
            return (Swift.min(range.min, c), Swift.max(range.max, c))
        }
        for outcome in graph.outcomes {
            let task = graph.queries[outcome.query].task
            if let latency = outcome.latencyMs { latencies.add(latency, task: task, llm: outcome.llm) }
            guard let cost = outcome.cost else { continue }
            costs.add(cost, task: task, llm: outcome.llm)
            global = widen(global, cost)
            if let task { ranges[task] = widen(ranges[task], cost) }
        }
        self.costs = costs
        self.latencies = latencies
        taskCostRange = ranges; globalCostRange = global
    }

    /// Predicted latency of one call (milliseconds): the mean observed for the
    /// LLM on the task, else over all its calls; nil when none was observed.
    public func predictedLatency(llm m: Int, task: Int?) -> Double? {
        latencies.mean(onTask: task, llm: m) ?? latencies.mean(llm: m)
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? v.map { $0 / norm } : v
    }

    /// The task whose queries' mean embedding is closest (cosine) to `features`.
    public func nearestTask(_ features: [Float]) -> Int? {
        let x = Self.normalized(features)
        var best: Int?, bestScore = -Float.infinity
        for (t, centroid) in taskCentroids.enumerated() {
            var s: Float = 0
            for j in x.indices { s += x[j] * centroid[j] }
            if s > bestScore { bestScore = s; best = t }
        }
        return best
    }

    /// Predicted cost of one call: the mean of the costs observed for the LLM on
    /// the task, else its declared price, else its mean over all tasks; nil when
    /// nothing is known.
    public func predictedCost(llm m: Int, task: Int?, promptTokens: Double) -> Double? {
        if let observed = costs.mean(onTask: task, llm: m) { return observed }
        let pricing = graph.llms[m].pricing
        if pricing.isKnown { return pricing.estimate(promptTokens: promptTokens) }
        return costs.mean(llm: m)
    }

    /// Predicted probability that each LLM answers well, in LLM order.
    public func predictedEffects(features x: [Float], task: Int?) throws(RoutingError) -> [Float] {
        guard x.count == graph.dimension else {
            throw RoutingError(.invalidArgument, "query vector has \(x.count) values, the router expects \(graph.dimension)")
        }
        guard x.allSatisfy(\.isFinite) else { throw RoutingError(.invalidArgument, "query vector holds a non-finite value") }
        let t = parameters.tensors
        let h = parameters.hidden, k = parameters.headHidden
        var sq: [Float]
        do { sq = try t[0].multiplied(vector: x, transpose: true) } catch {
            throw RoutingError(.internalError, "\(error)")
        }
        for j in 0..<h {
            sq[j] += t[1].values[j]
            if let task { sq[j] += taskMessages.values[task * h + j] }
        }
        let hq = sq.map { Swift.max($0, 0) }
        var hqB = [Float](repeating: 0, count: k)
        for i in 0..<h where hq[i] != 0 {
            for j in 0..<k { hqB[j] += hq[i] * t[11].values[i * k + j] }
        }
        let a = t[10].values, w = t[14].values, b0 = t[15].values[0]
        var effects = [Float](repeating: 0, count: graph.llms.count)
        var v = [Float](repeating: 0, count: k)
        for m in 0..<graph.llms.count {
            for j in 0..<k { v[j] = hqB[j] + llmHead.values[m * k + j] }
            for i in 0..<h {
                let p = hq[i] * hm.values[m * h + i]
                if p == 0 { continue }
                for j in 0..<k { v[j] += p * a[i * k + j] }
            }
            var logit = b0 + priors.logit(task: task, llm: m)
            for j in 0..<k where v[j] > 0 { logit += v[j] * w[j] }
            effects[m] = 1 / (1 + Float.exp(-logit))
        }
        return effects
    }

    public func route(_ question: RouteQuestion) throws(RoutingError) -> RouteDecision {
        try question.objective.validate()
        guard !graph.llms.isEmpty else { throw RoutingError(.failedPrecondition, "no LLMs are registered") }
        if let task = question.task, !graph.tasks.indices.contains(task) {
            throw RoutingError(.invalidArgument, "task index \(task) is out of range")
        }
        if let maxCost = question.maxCost, !(maxCost.isFinite && maxCost >= 0) {
            throw RoutingError(.invalidArgument, "maximum cost must be finite and non-negative, got \(maxCost)")
        }
        if let maxLatency = question.maxLatencyMs, !(maxLatency.isFinite && maxLatency >= 0) {
            throw RoutingError(.invalidArgument, "maximum latency must be finite and non-negative, got \(maxLatency)")
        }
        guard question.features.count == graph.dimension else {
            throw RoutingError(.invalidArgument, "query vector has \(question.features.count) values, the router expects \(graph.dimension)")
        }
        let task = question.task ?? nearestTask(question.features)
        var effects = try predictedEffects(features: question.features, task: task)
        // A labelled variant of a multiple-choice query says more about it than the
        // text does (the GNN's per-query signal is weak): its effects replace the GNN's.
        var fromVariant = false
        if let choices = question.choices, let task, let variantEffects = variants.effects(for: choices, task: task) {
            for (m, effect) in variantEffects.enumerated() {
                if let effect { effects[m] = effect; fromVariant = true }
            }
        }
        // What each LLM did when this very text was asked before outweighs both.
        let observedOnText = question.text.map { repeats.update(&effects, text: $0) } ?? 0
        let known = graph.llms.indices.map { predictedCost(llm: $0, task: task, promptTokens: question.promptTokens) }
        // Normalise by the task's observed costs, else all observed costs, widened by
        // every LLM's predicted cost for this question (prices of those not observed
        // on the task); before any outcome, by the predicted costs alone. Under bandit
        // feedback only the LLMs chosen so far have observed costs: a range of theirs
        // alone would stretch the differences between them, as if they spanned all LLMs.
        let predictedRange = known.compactMap { $0 }.reduce(nil as (min: Double, max: Double)?) { range, c in
            (Swift.min(range?.min ?? c, c), Swift.max(range?.max ?? c, c))
        }
        let observedRange = [task.flatMap { taskCostRange[$0] }, globalCostRange].lazy.compactMap { $0 }.first { $0.max > $0.min }
        let range = [observedRange.map { observed in
            predictedRange.map { (Swift.min(observed.min, $0.min), Swift.max(observed.max, $0.max)) } ?? observed
        }, predictedRange].lazy.compactMap { $0 }.first { $0.max > $0.min }
        var candidates: [RouteCandidate] = []
        for m in graph.llms.indices where question.allowed?.contains(m) ?? true {
            // An LLM with no price and no observed cost counts as the dearest: it
            // never wins on cost, and a cost cap leaves it out.
            let cost = known[m] ?? range?.max ?? predictedRange?.max ?? 0
            if let maxCost = question.maxCost, known[m] == nil || cost > maxCost { continue }
            let latency = predictedLatency(llm: m, task: task)
            if let maxLatency = question.maxLatencyMs, let latency, latency > maxLatency { continue }
            let normalized = known[m] == nil ? 1 : range.map { Swift.min(Swift.max((cost - $0.min) / ($0.max - $0.min), 0), 1) } ?? 0
            let score = question.objective.score(effect: Double(effects[m]), cost: cost, normalizedCost: normalized)
            candidates.append(RouteCandidate(llm: m, effect: effects[m], cost: cost, normalizedCost: normalized, score: score,
                                             latencyMs: latency))
        }
        candidates.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.cost != b.cost { return a.cost < b.cost }
            return a.llm < b.llm
        }
        var exploratory = false
        if let exploration = question.exploration {
            try exploration.validate()
            let chosen = exploration.choose(candidates, observations: { Double(priors.observations(task: task, llm: $0.llm)) },
                                            score: { question.objective.score(effect: $1, cost: $0.cost, normalizedCost: $0.normalizedCost) })
            if chosen != 0 {
                candidates.insert(candidates.remove(at: chosen), at: 0)
                exploratory = true
            }
        }
        let fallback = candidates.dropFirst().sorted { a, b in
            if a.effect != b.effect { return a.effect > b.effect }
            if a.cost != b.cost { return a.cost < b.cost }
            return a.llm < b.llm
        }.map(\.llm)
        return RouteDecision(ranked: candidates, fallback: fallback, task: task, taskWasInferred: question.task == nil && task != nil,
                             effectsFromVariant: fromVariant, llmsObservedOnText: observedOnText, exploratory: exploratory)
    }
}

/// Means of an observed quantity per (task, LLM) and per LLM over all tasks.
struct ObservedMeans: Sendable {
    private let llmCount: Int
    private var sum: [Double], count: [Double]
    private var llmSum: [Double], llmObservations: [Double]

    init(taskCount: Int, llmCount: Int) {
        self.llmCount = llmCount
        sum = [Double](repeating: 0, count: taskCount * llmCount)
        count = sum
        llmSum = [Double](repeating: 0, count: llmCount)
        llmObservations = llmSum
    }

    mutating func add(_ value: Double, task: Int?, llm: Int) {
        llmSum[llm] += value
        llmObservations[llm] += 1
        guard let task else { return }
        sum[task * llmCount + llm] += value
        count[task * llmCount + llm] += 1
    }

    /// The mean of the LLM's observations on `task`; nil without any (or without a task).
    func mean(onTask task: Int?, llm: Int) -> Double? {
        guard let task, count[task * llmCount + llm] > 0 else { return nil }
        return sum[task * llmCount + llm] / count[task * llmCount + llm]
    }

    /// The mean over all the LLM's observations; nil without any.
    func mean(llm: Int) -> Double? { llmObservations[llm] > 0 ? llmSum[llm] / llmObservations[llm] : nil }
}
