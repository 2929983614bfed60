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

    /// Per distinct text with outcomes: its row.
    private let rowOfText: [String: Int]
    /// Row r's observations are entries `rowStart[r]..<rowStart[r + 1]`, one per
    /// LLM observed on it (sparse: a query has outcomes of a few LLMs, a gateway
    /// may register hundreds).
    private let rowStart: [Int]
    private let entryLLM: [Int32]
    private let entrySum: [Float], entryCount: [Float]

    public init(graph: RouterGraph) {
        // One hash per query with outcomes (not one per outcome): a rebuild passes
        // over every query, and gateways add one per call.
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
        // Outcomes grouped by row (counting sort), then merged per LLM within a row.
        let rows = rowOfText.count
        var start = [Int](repeating: 0, count: rows + 1)
        for outcome in graph.outcomes where rowOfQuery[outcome.query] >= 0 { start[rowOfQuery[outcome.query] + 1] += 1 }
        for r in 0..<rows { start[r + 1] += start[r] }
        var next = start
        var grouped = [(llm: Int32, effect: Float)](repeating: (0, 0), count: start[rows])
        for outcome in graph.outcomes where rowOfQuery[outcome.query] >= 0 {
            let r = rowOfQuery[outcome.query]
            grouped[next[r]] = (Int32(outcome.llm), outcome.effect)
            next[r] += 1
        }
        var rowStart = [Int](repeating: 0, count: rows + 1)
        var entryLLM: [Int32] = [], entrySum: [Float] = [], entryCount: [Float] = []
        entryLLM.reserveCapacity(grouped.count)
        for r in 0..<rows {
            let first = entryLLM.count
            grouped[start[r]..<start[r + 1]].sort { $0.llm < $1.llm }
            for (llm, effect) in grouped[start[r]..<start[r + 1]] {
                if entryLLM.count > first, entryLLM[entryLLM.count - 1] == llm {
                    entrySum[entrySum.count - 1] += effect
                    entryCount[entryCount.count - 1] += 1
                } else {
                    entryLLM.append(llm)
                    entrySum.append(effect)
                    entryCount.append(1)
                }
            }
            rowStart[r + 1] = entryLLM.count
        }
        self.rowOfText = rowOfText
        self.rowStart = rowStart
        self.entryLLM = entryLLM
        self.entrySum = entrySum
        self.entryCount = entryCount
    }

    /// `effects` (the model's, in LLM order) updated with the outcomes observed
    /// for `text`; returns how many LLMs had observations.
    public func update(_ effects: inout [Float], text: String) -> Int {
        guard let row = rowOfText[text] else { return 0 }
        var updated = 0
        for i in rowStart[row]..<rowStart[row + 1] where Int(entryLLM[i]) < effects.count {
            let m = Int(entryLLM[i])
            effects[m] = (entrySum[i] + Self.priorStrength * effects[m]) / (entryCount[i] + Self.priorStrength)
            updated += 1
        }
        return updated
    }
}
