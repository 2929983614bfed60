import Testing
@testable import Routing

@Suite struct RepeatedQueriesTests {
    /// The dominated-graph task with texts: "cheap" and "dear" are right on 80 %
    /// of queries. The prompt "repeat me" was asked before: "cheap" failed it
    /// (twice, under two keys) and "dear" answered it.
    func graphWithRepeat() -> RouterGraph {
        var g = RouterGraph(dimension: 2)
        g.tasks = [RouterGraph.Task(name: "t", features: [1, 0])]
        g.llms = [RouterGraph.LLM(name: "dear", features: [0, 1]), RouterGraph.LLM(name: "cheap", features: [1, 1])]
        for q in 0..<20 {
            g.queries.append(RouterGraph.Query(task: 0, features: [1, Float(q) / 20], text: "query \(q)"))
            g.outcomes.append(RouterGraph.Outcome(query: q, llm: 0, effect: q % 5 == 0 ? 0 : 1, cost: 0.010))
            g.outcomes.append(RouterGraph.Outcome(query: q, llm: 1, effect: q % 5 == 0 ? 0 : 1, cost: 0.001))
        }
        for _ in 0..<2 {
            g.queries.append(RouterGraph.Query(task: 0, features: [1, 0.5], text: "repeat me"))
            g.outcomes.append(RouterGraph.Outcome(query: g.queries.count - 1, llm: 1, effect: 0, cost: 0.001))
        }
        g.outcomes.append(RouterGraph.Outcome(query: g.queries.count - 1, llm: 0, effect: 1, cost: 0.010))
        return g
    }

    @Test func outcomesObservedForTheSameTextOutweighTheModel() throws {
        let predictor = try ratesOnlyPredictor(graphWithRepeat())
        let weights = RoutingObjective.weights(performance: 0.8, cost: 0.2)
        // A new text: the model alone, which picks the cheap LLM.
        let fresh = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: weights, text: "a new prompt"))
        #expect(fresh.ranked.first?.llm == 1)
        #expect(fresh.llmsObservedOnText == 0)
        // The same vector with the repeated text: "cheap" failed it twice, so "dear" wins.
        let repeated = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: weights, text: "repeat me"))
        #expect(repeated.ranked.first?.llm == 0)
        #expect(repeated.llmsObservedOnText == 2)
        let prior = try #require(fresh.ranked.first { $0.llm == 1 }).effect
        let cheap = try #require(repeated.ranked.first { $0.llm == 1 }).effect
        let dear = try #require(repeated.ranked.first { $0.llm == 0 }).effect
        // Beta posterior means with one pseudo-observation of the prediction.
        #expect(abs(cheap - prior / 3) < 1e-5, "cheap \(cheap), prior \(prior)")
        let dearBefore = try #require(fresh.ranked.first { $0.llm == 0 }).effect
        #expect(dear > dearBefore)
        // No text (a vector alone): nothing to match.
        let vectorOnly = try predictor.route(RouteQuestion(features: [1, 0.5], task: 0, objective: weights))
        #expect(vectorOnly.llmsObservedOnText == 0)
        #expect(vectorOnly.ranked.first?.llm == 1)
    }
}
