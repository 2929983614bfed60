/// What labelled variants of a multiple-choice query say about which LLMs will
/// answer it well: the per-query signal the query text alone does not carry.
///
/// Benchmarks (and real traffic) hold near-duplicate questions with the same
/// options: a question asked twice, or Winogrande's twin sentences, where one
/// word flips the right option. The graph knows, for a variant seen before,
/// which option was right (the option chosen by the LLMs that were scored
/// correct) and each LLM's success rate by the position of the right option
/// (many LLMs favour a letter). This model learns from the graph's own pairs of
/// variants how often their right options agree, per task; for a new question
/// with a labelled variant it puts a posterior on the right option and turns
/// it into each LLM's expected effect. Nothing is assumed about a task: where
/// its pairs agree half the time, the posterior says nothing and the effects
/// are the LLMs' average over positions.
///
/// Built from the graph in one pass, like the predictor; answering costs a
/// dictionary probe for the questions with the same options and a Jaccard
/// similarity with each (through prefix filtering on the stem's rarest words
/// where there are many).
public struct VariantAnswerModel: Sendable {
    public struct Config: Sendable, Equatable {
        /// Least Jaccard similarity of two stems' word sets for the questions to count as variants.
        public var similarity: Double = 0.5
        /// Pairs of labelled variants a task needs before its agreement rate is used.
        public var minimumPairs = 10
        /// Pseudo-observations of an LLM's task rate added to its rate per answer position.
        public var smoothing: Float = 2
        public init() {}
    }

    /// How a routed question relates to its closest labelled variant.
    enum Relation: Int {
        /// The same stem and options, in the same order: the question asked again.
        case identical = 0
        /// A stem of largely the same words (perhaps all of them, reordered) with the same options.
        case variant = 1
    }

    struct Labelled {
        var query: Int
        var question: ChoiceQuestion
        var task: Int
        /// Index of the right option.
        var answer: Int
    }

    let config: Config
    let llmCount: Int
    let labelled: [Labelled]
    /// Per word: how many labelled stems hold it; orders words rarest first.
    let documentFrequency: [String: Int]
    /// Labelled questions with the same options in the same task: the only
    /// candidates to be variants of one another.
    struct Group: Sendable {
        var members: [Int32] = []
        /// Word → members whose stem prefix (`prefix`) holds it; only for groups
        /// too large to scan (yes/no questions, say).
        var byPrefixWord: [String: [Int32]] = [:]
    }
    /// Keyed by `groupKey`.
    let groups: [String: Group]
    /// Groups up to this size are scanned whole; larger ones through their prefix words.
    static let scannedGroupSize = 32
    /// Per task and relation: pairs of labelled variants and how many agreed on the right option.
    private(set) var pairs: [[(agreed: Int, total: Int)]]
    /// Per task, LLM and position of the right option: summed effect and count.
    let byPosition: [[(sum: Float, count: Float)]]
    /// Per task and LLM: the smoothed success rate, nil where the LLM has no outcome on the task.
    let taskRates: [[Float?]]

    public init(graph: RouterGraph, priors: OutcomePriors, config: Config = Config()) {
        self.config = config
        let nT = graph.tasks.count, nM = graph.llms.count
        llmCount = nM
        var outcomesByQuery = [[RouterGraph.Outcome]](repeating: [], count: graph.queries.count)
        for outcome in graph.outcomes { outcomesByQuery[outcome.query].append(outcome) }

        // The right option of each question: the one most LLMs scored correct chose.
        var labelled: [Labelled] = []
        for (q, query) in graph.queries.enumerated() {
            guard let question = query.choices, let task = query.task else { continue }
            var votes = [Int](repeating: 0, count: question.options.count)
            for outcome in outcomesByQuery[q] where outcome.effect >= 0.5 {
                if let answer = outcome.answer, votes.indices.contains(answer) { votes[answer] += 1 }
            }
            guard let best = votes.max(), best > 0, votes.filter({ $0 == best }).count == 1,
                  let answer = votes.firstIndex(of: best) else { continue }
            labelled.append(Labelled(query: q, question: question, task: task, answer: answer))
        }
        var frequency: [String: Int] = [:]
        for item in labelled { for word in item.question.stemWords { frequency[word, default: 0] += 1 } }
        var groups: [String: Group] = [:]
        for (i, item) in labelled.enumerated() {
            groups[Self.groupKey(task: item.task, optionSet: item.question.optionSetKey), default: Group()].members.append(Int32(i))
        }
        for (key, group) in groups where group.members.count > Self.scannedGroupSize {
            var byWord: [String: [Int32]] = [:]
            for i in group.members {
                for word in Self.prefix(labelled[Int(i)].question.stemWords, frequency: frequency, similarity: config.similarity) {
                    byWord[word, default: []].append(i)
                }
            }
            groups[key]?.byPrefixWord = byWord
        }
        self.labelled = labelled
        documentFrequency = frequency
        self.groups = groups

        // LLM success by the position of the right option, and the task rates it is smoothed towards.
        var position = [[(sum: Float, count: Float)]](
            repeating: Array(repeating: (0, 0), count: ChoiceQuestion.maxOptions), count: nT * nM)
        for item in labelled {
            for outcome in outcomesByQuery[item.query] {
                position[item.task * nM + outcome.llm][item.answer].sum += outcome.effect
                position[item.task * nM + outcome.llm][item.answer].count += 1
            }
        }
        byPosition = position
        var rates = [[Float?]](repeating: [Float?](repeating: nil, count: nM), count: nT)
        for outcome in graph.outcomes {
            guard let t = graph.queries[outcome.query].task, rates[t][outcome.llm] == nil else { continue }
            rates[t][outcome.llm] = RouterGNN.sigmoid(priors.logit(task: t, llm: outcome.llm))
        }
        taskRates = rates

        // How often labelled variants agree on the right option, per task and relation.
        pairs = Array(repeating: [(0, 0), (0, 0)], count: nT)
        for (i, item) in labelled.enumerated() {
            for (relation, j) in closestVariants(of: item.question, task: item.task, excluding: i) {
                let other = labelled[j]
                pairs[item.task][relation.rawValue].total += 1
                if item.question.options[item.answer] == other.question.options[other.answer] {
                    pairs[item.task][relation.rawValue].agreed += 1
                }
            }
        }
    }

    /// Each LLM's expected effect on `question` from its closest labelled
    /// variant in `task`; nil when it has none, or the task has too few
    /// labelled pairs of that kind to say how variants' answers relate. An
    /// entry is nil for an LLM with no outcome on the task.
    public func effects(for question: ChoiceQuestion, task: Int) -> [Float?]? {
        guard pairs.indices.contains(task) else { return nil }
        // The same question seen before, else a variant of it: whichever the task's pairs can speak for.
        let usable = closestVariants(of: question, task: task, excluding: nil).first { relation, _ in
            pairs[task][relation.rawValue].total >= config.minimumPairs
        }
        guard let (relation, j) = usable else { return nil }
        let counts = pairs[task][relation.rawValue]
        let agreement = (Float(counts.agreed) + 0.5) / (Float(counts.total) + 1)
        let variant = labelled[j]
        guard let same = question.options.firstIndex(of: variant.question.options[variant.answer]) else { return nil }
        let k = question.options.count
        var posterior = [Float](repeating: (1 - agreement) / Float(k - 1), count: k)
        posterior[same] = agreement
        return (0..<llmCount).map { m -> Float? in
            guard let rate = taskRates[task][m] else { return nil }
            let slots = byPosition[task * llmCount + m]
            var effect: Float = 0
            for position in 0..<k {
                let observed = slots[position]
                effect += posterior[position] * (observed.sum + config.smoothing * rate) / (observed.count + config.smoothing)
            }
            return effect
        }
    }

    /// The labelled questions in `task` with the same options and the most
    /// similar stem words (Jaccard ≥ the threshold; ties to the earliest): the
    /// best with the very same text, then the best other, where they exist.
    func closestVariants(of question: ChoiceQuestion, task: Int, excluding: Int?) -> [(Relation, Int)] {
        guard let group = groups[Self.groupKey(task: task, optionSet: question.optionSetKey)] else { return [] }
        var best: [(index: Int, similarity: Double)?] = [nil, nil]
        var candidateLists: [[Int32]] = [group.members]
        if group.members.count > Self.scannedGroupSize {
            candidateLists = Self.prefix(question.stemWords, frequency: documentFrequency, similarity: config.similarity)
                .compactMap { group.byPrefixWord[$0] }
        }
        var checked = Set<Int32>()
        for candidates in candidateLists {
            for candidate in candidates where Int(candidate) != excluding && (candidateLists.count == 1 || checked.insert(candidate).inserted) {
                let other = labelled[Int(candidate)].question
                let similarity = Self.jaccard(question.stemWords, other.stemWords)
                guard similarity >= config.similarity else { continue }
                let relation = other.stem == question.stem && other.options == question.options ? Relation.identical : .variant
                if let current = best[relation.rawValue], current.similarity > similarity
                    || (current.similarity == similarity && current.index < Int(candidate)) { continue }
                best[relation.rawValue] = (Int(candidate), similarity)
            }
        }
        return [Relation.identical, .variant].compactMap { relation in best[relation.rawValue].map { (relation, $0.index) } }
    }

    /// The words two sets with Jaccard ≥ `similarity` must share one of: the
    /// |x| − ⌈s·|x|⌉ + 1 rarest (prefix filtering, exact for a fixed order).
    static func prefix(_ words: [String], frequency: [String: Int], similarity: Double) -> [String] {
        guard !words.isEmpty else { return [] }
        let ordered = words.map { (word: $0, count: frequency[$0] ?? 0) }.sorted { a, b in
            a.count != b.count ? a.count < b.count : a.word < b.word
        }
        let length = words.count - Int((similarity * Double(words.count)).rounded(.up)) + 1
        return ordered.prefix(max(1, length)).map(\.word)
    }

    static func groupKey(task: Int, optionSet: String) -> String { "\(task)\u{2}\(optionSet)" }

    /// Jaccard similarity of two sorted word lists without duplicates.
    static func jaccard(_ a: [String], _ b: [String]) -> Double {
        var i = 0, j = 0, shared = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] { shared += 1; i += 1; j += 1 } else if a[i] < b[j] { i += 1 } else { j += 1 }
        }
        let union = a.count + b.count - shared
        return union == 0 ? 1 : Double(shared) / Double(union)
    }
}
