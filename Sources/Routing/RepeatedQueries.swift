/// Outcomes observed for queries, by their exact text: what each LLM did when
/// this very question was asked before.
///
/// A gateway sees the same prompt again (a retried call, a popular question, a
/// template filled the same way). What an LLM did with that prompt says more
/// about its next answer than any model of similar prompts: an LLM's answer to
/// a prompt is largely repeatable (at low temperature nearly deterministic).
/// Such evidence is combined with the model's prediction `p` as a beta
/// posterior mean, `(Σ effects + s·p) / (n + s)`, with `s` = `priorStrength`
/// pseudo-observations of the prediction: one observed failure halves a
/// prediction. Queries with the same text are one question, whichever keys
/// they were stored under.
public struct RepeatedQueryOutcomes: Sendable {
    /// Pseudo-observations the model's prediction counts for.
    public static let priorStrength: Float = 1

    struct Observed: Sendable {
        var sum: Float = 0
        var count: Float = 0
        mutating func add(_ effect: Float) {
            sum += effect
            count += 1
        }
    }

    /// Per text: observations per LLM index.
    private let byText: [String: [Int: Observed]]

    public init(graph: RouterGraph) {
        // Per query first, so that each text is hashed once, not once per outcome.
        var perQuery = [[Int: Observed]](repeating: [:], count: graph.queries.count)
        for outcome in graph.outcomes where graph.queries[outcome.query].text?.isEmpty == false {
            perQuery[outcome.query][outcome.llm, default: Observed()].add(outcome.effect)
        }
        var byText: [String: [Int: Observed]] = [:]
        for (q, observed) in perQuery.enumerated() where !observed.isEmpty {
            guard let text = graph.queries[q].text else { continue }
            byText[text, default: [:]].merge(observed) { a, b in Observed(sum: a.sum + b.sum, count: a.count + b.count) }
        }
        self.byText = byText
    }

    /// Whether any outcome was observed for `text`.
    public func hasObservations(for text: String) -> Bool { byText[text] != nil }

    /// `effects` (the model's, in LLM order) updated with the outcomes observed
    /// for `text`; returns how many LLMs had observations.
    public func update(_ effects: inout [Float], text: String) -> Int {
        guard let observed = byText[text] else { return 0 }
        var updated = 0
        for (m, o) in observed where effects.indices.contains(m) {
            effects[m] = (o.sum + Self.priorStrength * effects[m]) / (o.count + Self.priorStrength)
            updated += 1
        }
        return updated
    }
}
