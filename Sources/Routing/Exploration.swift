import GraphCore
import RealModule

/// Exploration under bandit feedback: a gateway learns only the outcome of the
/// LLM it called, so a router that always takes its best guess never finds out
/// that a new or cheaper LLM would do. With exploration, Route draws each
/// candidate's effect from a beta posterior around its prediction (Thompson
/// sampling) and chooses by the drawn scores, among the candidates that may
/// plausibly be within `maxRegret` of the best: those whose optimistic score
/// (the effect at the posterior mean plus two standard deviations) is at least
/// the best expected score minus `maxRegret`. An LLM with few outcomes on the
/// task has a wide posterior and is tried now and then; one with many is
/// chosen by its prediction, and one the outcomes show to be far worse is
/// left out. (A bound on the expected scores alone would shut out for good
/// an LLM whose first few outcomes were unlucky: it would never be tried again.)
public struct RouteExploration: Sendable, Equatable {
    /// How far below the best expected score a choice may plausibly be, in the
    /// objective's units; > 0.
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
        for (i, candidate) in candidates.enumerated() {
            let mean = Double(candidate.effect), concentration = Self.priorObservations + observations(candidate)
            let optimistic = Swift.min(1, mean + 2 * BetaDistribution.standardDeviation(mean: mean, concentration: concentration))
            guard i == 0 || score(candidate, optimistic) >= best - maxRegret else { continue }
            let drawn = BetaDistribution.sample(mean: mean, concentration: concentration, using: &rng)
            let drawnScore = score(candidate, drawn)
            if drawnScore > chosenScore { chosenScore = drawnScore; chosen = i }
        }
        return chosen
    }
}

/// Beta(mean · κ, (1 − mean) · κ): draws (through two gamma draws) and spread.
enum BetaDistribution {
    static func standardDeviation(mean: Double, concentration: Double) -> Double {
        (mean * (1 - mean) / (concentration + 1)).squareRoot()
    }

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
