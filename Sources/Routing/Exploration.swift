import GraphCore
import RealModule

/// Exploration under bandit feedback: a gateway learns only the outcome of the
/// LLM it called, so a router that always takes its best guess never finds out
/// that a new or cheaper LLM would do. With exploration, Route draws each
/// candidate's effect from a beta posterior around its prediction (Thompson
/// sampling) and chooses by the drawn scores, among the candidates whose
/// expected score is within `maxRegret` of the best: an LLM with few outcomes
/// on the task has a wide posterior and is tried now and then; one with many
/// is chosen by its prediction.
public struct RouteExploration: Sendable, Equatable {
    /// The largest expected loss a choice may carry, in the objective's units
    /// (score of the best candidate minus the chosen one's); > 0.
    public var maxRegret: Double
    /// Seeds the draw: the same seed on the same graph and question gives the
    /// same choice. nil: a fresh draw each time.
    public var seed: UInt64?

    /// The prediction counts as this many outcomes of the LLM on the task, besides those observed.
    public static let priorObservations = 2.0

    public init(maxRegret: Double, seed: UInt64? = nil) {
        self.maxRegret = maxRegret
        self.seed = seed
    }

    /// Refuses a bound that is not a positive finite number.
    public func validate() throws(RoutingError) {
        guard maxRegret.isFinite, maxRegret > 0 else {
            throw RoutingError(.invalidArgument, "the exploration bound must be a positive number, got \(maxRegret)")
        }
    }

    /// The index (into `candidates`, sorted best first by expected score) of the
    /// candidate exploration chooses. `observations(c)` is how many outcomes
    /// candidate c's LLM has on the task; `score(c, effect)` its objective with another effect.
    func choose(_ candidates: [RouteCandidate], observations: (RouteCandidate) -> Double,
                score: (RouteCandidate, Double) -> Double) -> Int {
        guard let best = candidates.first?.score else { return 0 }
        var rng = SplitMix(seed: seed ?? UInt64.random(in: .min ... .max))
        var chosen = 0, chosenScore = -Double.infinity
        for (i, candidate) in candidates.enumerated() where candidate.score >= best - maxRegret {
            let drawn = BetaDistribution.sample(mean: Double(candidate.effect),
                                                concentration: Self.priorObservations + observations(candidate), using: &rng)
            let drawnScore = score(candidate, drawn)
            if drawnScore > chosenScore { chosenScore = drawnScore; chosen = i }
        }
        return chosen
    }
}

/// Draws from Beta(mean · κ, (1 − mean) · κ), through two gamma draws.
enum BetaDistribution {
    static func sample(mean: Double, concentration: Double, using rng: inout SplitMix) -> Double {
        let m = Swift.min(Swift.max(mean, 1e-3), 1 - 1e-3)
        let x = gamma(shape: m * concentration, using: &rng), y = gamma(shape: (1 - m) * concentration, using: &rng)
        return x + y > 0 ? x / (x + y) : m
    }

    /// Marsaglia and Tsang's method; a shape below 1 is boosted by U^(1/shape).
    static func gamma(shape: Double, using rng: inout SplitMix) -> Double {
        if shape < 1 {
            return gamma(shape: shape + 1, using: &rng) * Double.pow(uniform(&rng), 1 / shape)
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = normal(&rng)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniform(&rng)
            if u < 1 - 0.0331 * x * x * x * x || Double.log(u) < 0.5 * x * x + d * (1 - v + Double.log(v)) { return d * v }
        }
    }

    /// Uniform in (0, 1).
    static func uniform(_ rng: inout SplitMix) -> Double { (Double(rng.next() >> 11) + 0.5) / Double(1 << 53) }

    /// Standard normal, by Box–Muller.
    static func normal(_ rng: inout SplitMix) -> Double {
        (-2 * Double.log(uniform(&rng))).squareRoot() * Double.cos(2 * .pi * uniform(&rng))
    }
}
