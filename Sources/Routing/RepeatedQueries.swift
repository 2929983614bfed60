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

    /// Per distinct text with outcomes: its row in `sums` and `counts`.
    private let rowOfText: [String: Int]
    /// Per row and LLM (row-major, `llmCount` columns): summed effects and how many.
    private let sums: [Float], counts: [Float]
    private let llmCount: Int

    public init(graph: RouterGraph) {
        let nM = graph.llms.count
        // One hash per query with outcomes (not one per outcome), into flat arrays:
        // a rebuild passes over every query, and gateways add one per call.
        var hasOutcome = [Bool](repeating: false, count: graph.queries.count)
        for outcome in graph.outcomes { hasOutcome[outcome.query] = true }
        var rowOfText: [String: Int] = [:]
        var rowOfQuery = [Int](repeating: -1, count: graph.queries.count)
        for (q, query) in graph.queries.enumerated() where hasOutcome[q] {
            guard let text = query.text, !text.isEmpty else { continue }
            if let row = rowOfText[text] {
                rowOfQuery[q] = row
            } else {
                rowOfQuery[q] = rowOfText.count
                rowOfText[text] = rowOfText.count
            }
        }
        var sums = [Float](repeating: 0, count: rowOfText.count * nM), counts = sums
        for outcome in graph.outcomes where rowOfQuery[outcome.query] >= 0 {
            sums[rowOfQuery[outcome.query] * nM + outcome.llm] += outcome.effect
            counts[rowOfQuery[outcome.query] * nM + outcome.llm] += 1
        }
        self.rowOfText = rowOfText
        self.sums = sums
        self.counts = counts
        llmCount = nM
    }

    /// `effects` (the model's, in LLM order) updated with the outcomes observed
    /// for `text`; returns how many LLMs had observations.
    public func update(_ effects: inout [Float], text: String) -> Int {
        guard let row = rowOfText[text] else { return 0 }
        var updated = 0
        for m in 0..<min(llmCount, effects.count) where counts[row * llmCount + m] > 0 {
            let n = counts[row * llmCount + m]
            effects[m] = (sums[row * llmCount + m] + Self.priorStrength * effects[m]) / (n + Self.priorStrength)
            updated += 1
        }
        return updated
    }
}
