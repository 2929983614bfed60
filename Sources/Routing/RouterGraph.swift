/// What an LLM costs, as an operator declares it. Any field may be zero;
/// observed costs on the graph's query→LLM edges take over as they arrive.
public struct LLMPricing: Sendable, Equatable, Codable {
    /// US dollars per call, whatever its length.
    public var perCall: Double
    /// US dollars per prompt token.
    public var perInputToken: Double
    /// US dollars per completion token.
    public var perOutputToken: Double

    public init(perCall: Double = 0, perInputToken: Double = 0, perOutputToken: Double = 0) {
        self.perCall = perCall
        self.perInputToken = perInputToken
        self.perOutputToken = perOutputToken
    }

    public var isKnown: Bool { perCall > 0 || perInputToken > 0 || perOutputToken > 0 }

    /// Completion length assumed when pricing a call before any cost is observed.
    public static let assumedOutputTokens = 256.0

    /// Price of one call with `promptTokens` tokens of prompt.
    public func estimate(promptTokens: Double) -> Double {
        perCall + perInputToken * promptTokens + perOutputToken * Self.assumedOutputTokens
    }
}

/// The router's view of the graph: tasks, LLMs and queries with their
/// feature vectors (text embeddings, all of one dimension), and the observed
/// query→LLM outcomes. Built from graphd's snapshot or from benchmark files.
public struct RouterGraph: Sendable {
    public struct Task: Sendable {
        public var name: String
        public var features: [Float]
        public init(name: String, features: [Float]) {
            self.name = name
            self.features = features
        }
    }

    public struct LLM: Sendable {
        public var name: String
        public var features: [Float]
        public var pricing: LLMPricing
        public init(name: String, features: [Float], pricing: LLMPricing = LLMPricing()) {
            self.name = name
            self.features = features
            self.pricing = pricing
        }
    }

    public struct Query: Sendable {
        /// Index into `tasks`, or nil when the query belongs to no task.
        public var task: Int?
        public var features: [Float]
        /// Prompt length in tokens (an estimate is fine); prices per token use it.
        public var promptTokens: Double
        /// The query read as a multiple-choice question, when it is one.
        public var choices: ChoiceQuestion?
        /// The query's text, when known: a question asked again with the same text
        /// is routed with the outcomes observed for it (`RepeatedQueryOutcomes`).
        public var text: String?
        public init(task: Int?, features: [Float], promptTokens: Double = 0, choices: ChoiceQuestion? = nil, text: String? = nil) {
            self.task = task
            self.features = features
            self.promptTokens = promptTokens
            self.choices = choices
            self.text = text
        }
    }

    /// An observed outcome on a query→LLM edge.
    public struct Outcome: Sendable {
        public var query: Int
        public var llm: Int
        /// Quality in [0, 1] (1 = correct).
        public var effect: Float
        /// US dollars, when known.
        public var cost: Double?
        /// Milliseconds from request to answer, when known.
        public var latencyMs: Double?
        /// For a multiple-choice query: the option the LLM chose (0 = A), when known.
        public var answer: Int?
        public init(query: Int, llm: Int, effect: Float, cost: Double? = nil, latencyMs: Double? = nil, answer: Int? = nil) {
            self.query = query
            self.llm = llm
            self.effect = effect
            self.cost = cost
            self.latencyMs = latencyMs
            self.answer = answer
        }
    }

    public var dimension: Int
    public var tasks: [Task] = []
    public var llms: [LLM] = []
    public var queries: [Query] = []
    public var outcomes: [Outcome] = []

    public init(dimension: Int) {
        self.dimension = dimension
    }

    /// Checks dimensions, indices and values; the model relies on them.
    public func validate() throws(RoutingError) {
        guard dimension > 0 else { throw RoutingError(.invalidArgument, "feature dimension must be positive") }
        for task in tasks where task.features.count != dimension {
            throw RoutingError(.invalidArgument, "task \(task.name) has \(task.features.count) features, expected \(dimension)")
        }
        for llm in llms where llm.features.count != dimension {
            throw RoutingError(.invalidArgument, "LLM \(llm.name) has \(llm.features.count) features, expected \(dimension)")
        }
        for (i, query) in queries.enumerated() {
            guard query.features.count == dimension else {
                throw RoutingError(.invalidArgument, "query \(i) has \(query.features.count) features, expected \(dimension)")
            }
            if let task = query.task, !tasks.indices.contains(task) {
                throw RoutingError(.invalidArgument, "query \(i) names task \(task) of \(tasks.count)")
            }
        }
        for outcome in outcomes {
            guard queries.indices.contains(outcome.query), llms.indices.contains(outcome.llm) else {
                throw RoutingError(.invalidArgument, "outcome (\(outcome.query), \(outcome.llm)) is outside the graph")
            }
            guard outcome.effect.isFinite, (0...1).contains(outcome.effect) else {
                throw RoutingError(.invalidArgument, "effect \(outcome.effect) is outside [0, 1]")
            }
            if let cost = outcome.cost, !(cost.isFinite && cost >= 0) {
                throw RoutingError(.invalidArgument, "cost \(cost) must be finite and non-negative")
            }
        }
    }
}

/// A routing failure, mapped to an RPC status at the service boundary.
public struct RoutingError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case invalidArgument, failedPrecondition, notFound, cancelled, internalError }
    public var kind: Kind
    public var description: String
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
