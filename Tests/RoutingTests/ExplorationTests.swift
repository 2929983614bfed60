import GraphCore
import Testing

@testable import Routing

/// Thompson sampling in Route: the beta draws, the bound, determinism under a seed.
@Suite struct ExplorationTests {
    @Test func betaDrawsHaveTheMeanAndSpreadAsked() {
        var rng = SplitMix(seed: 11)
        for (mean, concentration) in [(0.3, 10.0), (0.9, 3.0), (0.5, 0.5)] {
            let draws = (0..<20_000).map { _ in BetaDistribution.sample(mean: mean, concentration: concentration, using: &rng) }
            let average = draws.reduce(0, +) / Double(draws.count)
            let variance = draws.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(draws.count)
            #expect(abs(average - mean) < 0.01, "mean of Beta(\(mean), κ \(concentration)): \(average)")
            let expected = mean * (1 - mean) / (concentration + 1)
            #expect(abs(variance - expected) < 0.1 * expected, "variance \(variance), expected \(expected)")
            #expect(draws.allSatisfy { (0...1).contains($0) })
        }
    }

    func candidate(_ llm: Int, effect: Float, cost: Double = 0) -> RouteCandidate {
        RouteCandidate(llm: llm, effect: effect, cost: cost, normalizedCost: cost, score: Double(effect) - cost, latencyMs: nil)
    }

    /// How often `choose` picks each index over `seeds`.
    func shares(_ candidates: [RouteCandidate], observations: [Double], maxRegret: Double, seeds: Int = 2000) -> [Double] {
        var counts = [Double](repeating: 0, count: candidates.count)
        for seed in 1...seeds {
            let exploration = RouteExploration(maxRegret: maxRegret, seed: UInt64(seed))
            counts[exploration.choose(candidates, observations: { observations[$0.llm] }, score: { Double($1) - $0.normalizedCost })] += 1
        }
        return counts.map { $0 / Double(seeds) }
    }

    @Test func fewOutcomesAreExploredManyAreTrusted() {
        let candidates = [candidate(0, effect: 0.7), candidate(1, effect: 0.6), candidate(2, effect: 0.4)]
        // An LLM without outcomes on the task: tried now and then.
        let unknown = shares(candidates, observations: [200, 0, 200], maxRegret: 0.2)
        #expect(unknown[1] > 0.05 && unknown[1] < 0.6, "\(unknown)")
        // One the outcomes show to be far worse (even optimistically): never chosen.
        #expect(unknown[2] == 0, "outside the bound: never chosen")
        // The same LLM, with few outcomes, may still be as good: it stays in.
        let unlucky = shares(candidates, observations: [200, 0, 2], maxRegret: 0.2)
        #expect(unlucky[2] > 0, "\(unlucky)")
        // Well observed: the prediction decides almost always.
        let known = shares(candidates, observations: [5000, 5000, 5000], maxRegret: 0.2)
        #expect(known[0] > 0.95, "\(known)")
        // The same seed gives the same choice.
        let exploration = RouteExploration(maxRegret: 0.5, seed: 42)
        let first = exploration.choose(candidates, observations: { _ in 1 }, score: { Double($1) - $0.normalizedCost })
        #expect((0..<10).allSatisfy { _ in
            exploration.choose(candidates, observations: { _ in 1 }, score: { Double($1) - $0.normalizedCost }) == first
        })
    }

    @Test func theBoundMustBePositive() {
        for bound in [0, -0.1, .nan, .infinity] {
            #expect(throws: RoutingError.self) { try RouteExploration(maxRegret: bound).validate() }
        }
    }
}
