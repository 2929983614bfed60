import GraphCore
import MessagePassing
import RealModule

/// Training settings for the router GNN.
public struct RouterTrainingConfig: Sendable, Equatable, Codable {
    public var gnn = RouterGNNConfig()
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-3
    public var maxEpochs = 400
    /// Stop after this many epochs without a better validation loss.
    public var patience = 40
    /// Share of the queries with outcomes held out for validation and early stopping.
    public var validationShare: Double = 0.15
    public var seed: UInt64 = 1

    public init() {}
}

/// One epoch's figures, for progress reports.
public struct RouterTrainingProgress: Sendable {
    public var epoch: Int
    public var trainingLoss: Float
    public var validationLoss: Float
    public var bestValidationLoss: Float
}

/// What training produced.
public struct RouterTrainingResult: Sendable {
    public var parameters: RouterParameters
    public var epochs: Int
    public var bestEpoch: Int
    public var validationLoss: Float
    /// Validation loss of the smoothed per-task success rates alone (the GNN's offset):
    /// the figure the GNN must beat to be worth its keep.
    public var priorOnlyValidationLoss: Float
    public var trainingQueries: Int
    public var validationQueries: Int
}

/// Trains the router GNN on a graph's outcomes: each epoch hides half of the
/// training queries' outcomes from message passing and predicts them, as a
/// query routed later has no outcomes of its own yet.
public enum RouterTrainer {
    /// `isCancelled` is asked once per epoch: true stops training with a `.cancelled` error.
    public static func train(_ graph: RouterGraph, config: RouterTrainingConfig = RouterTrainingConfig(),
                             isCancelled: () -> Bool = { false },
                             progress: (RouterTrainingProgress) -> Void = { _ in }) throws(RoutingError) -> RouterTrainingResult {
        try graph.validate()
        guard !graph.llms.isEmpty else { throw RoutingError(.failedPrecondition, "no LLMs to train on") }
        var outcomesByQuery = [[RouterGraph.Outcome]](repeating: [], count: graph.queries.count)
        for outcome in graph.outcomes { outcomesByQuery[outcome.query].append(outcome) }
        var observed = outcomesByQuery.indices.filter { !outcomesByQuery[$0].isEmpty }
        guard observed.count >= 4 else {
            throw RoutingError(.failedPrecondition, "training needs outcomes for at least 4 queries, the graph has \(observed.count)")
        }
        var rng = SplitMix(seed: config.seed)
        observed.shuffle(using: &rng)
        let validationCount = max(1, Int((Double(observed.count) * config.validationShare).rounded()))
        let validation = Array(observed.prefix(validationCount))
        var training = Array(observed.dropFirst(validationCount))

        do {
            let inputs = RouterGNN.Inputs(graph)
            let trainingOutcomes = training.flatMap { outcomesByQuery[$0] }
            let validationOutcomes = validation.flatMap { outcomesByQuery[$0] }
            let validationMessages = try MessageGraph(graph: graph, messageOutcomes: trainingOutcomes)
            let validationPriors = priors(graph, messages: trainingOutcomes, config: config.gnn)
            let validationPairs = pairs(validationOutcomes, graph: graph, priors: validationPriors)
            let priorOnlyLoss = bceOfLogits(validationPairs.priors, validationPairs.targets)

            var parameters = RouterParameters(dimension: graph.dimension, config: config.gnn, seed: config.seed)
            var best = parameters, bestLoss = Float.infinity, bestEpoch = 0
            var adam = AdamOptimizer(like: parameters.tensors, learningRate: config.learningRate)
            var epoch = 0
            while epoch < config.maxEpochs, epoch - bestEpoch < config.patience {
                if isCancelled() { throw RoutingError(.cancelled, "training stopped after \(epoch) epochs: the request was cancelled or ran out of time") }
                epoch += 1
                training.shuffle(using: &rng)
                let half = training.count / 2
                let messageOutcomes = training.prefix(half).flatMap { outcomesByQuery[$0] }
                let targetOutcomes = training.dropFirst(half).flatMap { outcomesByQuery[$0] }
                let messages = try MessageGraph(graph: graph, messageOutcomes: messageOutcomes)
                let epochPriors = priors(graph, messages: messageOutcomes, config: config.gnn)
                let batch = pairs(targetOutcomes, graph: graph, priors: epochPriors)
                let (loss, gradient) = try RouterGNN.lossAndGradient(
                    parameters, inputs: inputs, messages: messages, queries: batch.queries, llms: batch.llms,
                    priors: batch.priors, targets: batch.targets, weightDecay: config.weightDecay)
                if let gradient { adam.update(&parameters.tensors, gradient: gradient.tensors) }
                let validationLoss = try RouterGNN.lossAndGradient(
                    parameters, inputs: inputs, messages: validationMessages, queries: validationPairs.queries,
                    llms: validationPairs.llms, priors: validationPairs.priors, targets: validationPairs.targets,
                    weightDecay: 0, wantGradient: false).loss
                if validationLoss < bestLoss {
                    bestLoss = validationLoss
                    best = parameters
                    bestEpoch = epoch
                }
                progress(RouterTrainingProgress(epoch: epoch, trainingLoss: loss, validationLoss: validationLoss,
                                                bestValidationLoss: bestLoss))
            }
            return RouterTrainingResult(parameters: best, epochs: epoch, bestEpoch: bestEpoch, validationLoss: bestLoss,
                                        priorOnlyValidationLoss: priorOnlyLoss, trainingQueries: training.count,
                                        validationQueries: validation.count)
        } catch let error as RoutingError {
            throw error
        } catch {
            throw RoutingError(.internalError, "training failed: \(error)")
        }
    }

    /// A few Adam steps on the outcomes of `queries` (new feedback), every other
    /// outcome passing messages: the online update after `Feedback`.
    public static func fineTune(_ parameters: RouterParameters, graph: RouterGraph, queries: Set<Int>, steps: Int,
                                config: RouterTrainingConfig = RouterTrainingConfig()) throws(RoutingError) -> RouterParameters {
        let targets = graph.outcomes.filter { queries.contains($0.query) }
        guard !targets.isEmpty, steps > 0 else { return parameters }
        let messageOutcomes = graph.outcomes.filter { !queries.contains($0.query) }
        do {
            let inputs = RouterGNN.Inputs(graph)
            let messages = try MessageGraph(graph: graph, messageOutcomes: messageOutcomes)
            let batch = pairs(targets, graph: graph, priors: priors(graph, messages: messageOutcomes, config: config.gnn))
            var p = parameters
            var adam = AdamOptimizer(like: p.tensors, learningRate: config.learningRate / 3)
            for _ in 0..<steps {
                let (_, gradient) = try RouterGNN.lossAndGradient(
                    p, inputs: inputs, messages: messages, queries: batch.queries, llms: batch.llms,
                    priors: batch.priors, targets: batch.targets, weightDecay: config.weightDecay)
                if let gradient { adam.update(&p.tensors, gradient: gradient.tensors) }
            }
            return p
        } catch {
            throw RoutingError(.internalError, "online update failed: \(error)")
        }
    }

    static func priors(_ graph: RouterGraph, messages: [RouterGraph.Outcome], config: RouterGNNConfig) -> OutcomePriors {
        OutcomePriors(taskCount: graph.tasks.count, llmCount: graph.llms.count, queries: graph.queries,
                      outcomes: messages, strength: config.priorStrength)
    }

    struct Pairs {
        var queries: [Int] = [], llms: [Int] = [], priors: [Float] = [], targets: [Float] = []
    }

    static func pairs(_ outcomes: [RouterGraph.Outcome], graph: RouterGraph, priors: OutcomePriors) -> Pairs {
        var p = Pairs()
        for outcome in outcomes {
            p.queries.append(outcome.query)
            p.llms.append(outcome.llm)
            p.priors.append(priors.logit(task: graph.queries[outcome.query].task, llm: outcome.llm))
            p.targets.append(outcome.effect)
        }
        return p
    }

    static func bceOfLogits(_ logits: [Float], _ targets: [Float]) -> Float {
        guard !targets.isEmpty else { return 0 }
        var loss: Float = 0
        for i in targets.indices {
            let z = logits[i]
            loss += max(z, 0) - z * targets[i] + Float.log(1 + Float.exp(-abs(z)))
        }
        return loss / Float(targets.count)
    }
}
