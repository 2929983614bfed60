import BackgroundWork
import Foundation
import GraphCore
import Logging
import Synchronization
import TextEmbedding

/// Where the router reads and writes: graphd's database in the daemon. Each
/// write is one transaction; a refused one leaves nothing behind.
public protocol RouterStore: RouterDocuments {
    var snapshot: GraphSnapshot { get }
    func defineTypes(nodeTypes: [NodeTypeInput], edgeTypes: [EdgeTypeInput]) async throws -> WritePlan
    func addNodes(_ nodes: [NodeInput], documents: [(name: String, value: [UInt8]?)]) async throws -> WritePlan
    func addNodesAndEdges(_ nodes: [NodeInput], edges: [EdgeInput], requireExistingNodes: Bool,
                          documents: [(name: String, value: [UInt8]?)]) async throws -> WritePlan
    func removeNodes(_ nodes: [NodeRefInput], ignoreMissing: Bool, documents: [(name: String, value: [UInt8]?)]) async throws -> WritePlan
    func putDocuments(_ documents: [(name: String, value: [UInt8]?)]) async throws
}

/// How the router embeds: prompts it routes, and the text of the nodes it adds.
public protocol RouterEmbedding: Sendable {
    /// The embedder that gives nodes added with text a vector: the features of a router with no trained model.
    var nodeTextEmbedder: EmbeddingProvider { get }
    func embedder(_ provider: EmbeddingProvider) throws -> any TextEmbedder
    /// Gives the nodes that come with text and no vector one, where their type's dimension allows.
    func fillNodeVectors(_ nodes: inout [NodeInput], schema: GraphSchema) throws
}

/// A prompt to route, as a gateway sends it.
public struct RouteRequest: Sendable {
    public var prompt: String
    /// The query's vector, instead of embedding `prompt`'s identifying part.
    public var vector: [Float] = []
    /// Empty: inferred from the prompt.
    public var task: String = ""
    /// 0: estimated from the prompt's length.
    public var promptTokens: UInt32 = 0
    /// Empty: every LLM.
    public var allowedLLMs: [String] = []
    public var objective: RoutingObjective
    /// 0: no limit.
    public var maxCost: Double = 0
    public var maxLatencyMs: Double = 0
    /// `.routerDefault`: the router's `defaultExploration`.
    public var exploration: ExplorationSetting = .routerDefault

    public init(prompt: String, objective: RoutingObjective) {
        self.prompt = prompt
        self.objective = objective
    }
}

/// Whether a Route explores: as the router's default, not at all, or within a bound.
public enum ExplorationSetting: Sendable, Equatable {
    case routerDefault
    case off
    case on(RouteExploration)
}

/// The router's answer: the LLMs ranked, the first one chosen.
public struct RouteAnswer: Sendable {
    public struct Candidate: Sendable {
        public var llm: String
        public var effect: Float
        public var cost: Double
        public var normalizedCost: Double
        public var score: Double
        public var latencyMs: Double?
    }

    /// Never empty.
    public var ranked: [Candidate]
    /// What to try if the choice fails, in order.
    public var fallback: [String]
    public var task: String?
    public var taskInferred: Bool
    /// Whether a trained GNN decided (else the per-task success rates).
    public var trained: Bool
    public var decisionMicros: Double
    public var effectsFromVariant: Bool
    public var llmsObservedOnText: Int
    /// How the prompt was cut to the part that identifies the query.
    public var queryText: QueryTextFocus
    /// Names this decision for late feedback (`FeedbackReport.decisionID`); nil when decision ids are off.
    public var decisionID: String?
    /// Whether exploration chose another LLM than the best expected score.
    public var exploratory = false

    public var llm: String { ranked[0].llm }
}

/// Outcomes of one query, as a gateway reports them.
public struct FeedbackReport: Sendable {
    public struct Outcome: Sendable {
        public var llm: String
        /// In [0, 1].
        public var effect: Double
        public var cost: Double?
        public var latencyMs: Double?
        /// The option a multiple-choice answer named, if any.
        public var answer: String

        public init(llm: String, effect: Double, cost: Double? = nil, latencyMs: Double? = nil, answer: String = "") {
            self.llm = llm
            self.effect = effect
            self.cost = cost
            self.latencyMs = latencyMs
            self.answer = answer
        }
    }

    public var query: String = ""
    /// A decision Route returned: its query, vector and named task stand in for
    /// `query`, `queryKey` and `vector` (which must then be empty), and its
    /// choice for an outcome's empty `llm`. `task`, if set, overrides its task.
    public var decisionID: String = ""
    /// Empty: derived from the query's identifying text.
    public var queryKey: String = ""
    public var task: String = ""
    public var vector: [Float] = []
    public var outcomes: [Outcome] = []
    /// Online update steps; nil: the default.
    public var updateSteps: Int?

    public init() {}
}

public struct FeedbackReceipt: Sendable {
    public var queryKey: String
    public var edgesWritten: Int
    /// Whether an online update of the trained model was queued.
    public var updateQueued: Bool
}

/// An LLM to register, with its price.
public struct LLMRegistration: Sendable {
    public var name: String
    public var description: String
    public var price: LLMPricing
    public var contextWindow: UInt32
    public var tags: [String]

    public init(name: String, description: String, price: LLMPricing, contextWindow: UInt32, tags: [String]) {
        self.name = name
        self.description = description
        self.price = price
        self.contextWindow = contextWindow
        self.tags = tags
    }
}

/// What a training job did and stored.
public struct RouterTrainingReport: Sendable {
    public var result: RouterTrainingResult
    public var seconds: Double
}

/// GraphRouter-style routing over the task–query–LLM part of the graph: the
/// view Route reads (a predictor on the graph, cached and rebuilt when the
/// router's part of the graph or its model changed), the router's writes
/// (LLMs, tasks, outcomes), online updates after outcomes and training.
public final class Router: Sendable {
    public let store: any RouterStore
    let embedding: any RouterEmbedding
    /// Training and online updates run as `.routerTraining` jobs, one at a time,
    /// off the event loops and the cooperative pool; views rebuilt aside as `.routerView`.
    public let jobs: BackgroundJobs
    /// Which part of a prompt identifies the query for a task without a setting, and for Route without a task.
    public let defaultQueryText: QueryTextFocus
    let logger: Logger
    /// The view Route reads; rebuilt aside while only outcomes and online weights
    /// changed (`RouterFingerprint.mayAnswerFor`), before the answer otherwise.
    private let views: RebuiltAside<RouterFingerprint, RouterView>
    /// Bumped after writes that the next Route must see (see `RouterFingerprint`).
    private let generation = Atomic<UInt64>(0)
    /// Bumped after outcomes and online weight updates, which Route may see a moment later.
    private let outcomeGeneration = Atomic<UInt64>(0)
    /// Least time between starts of background view rebuilds, and of online updates:
    /// under a steady stream of Feedback they coalesce instead of taking a core each.
    static let viewRebuildSpacing = Duration.milliseconds(200)
    static let onlineUpdateSpacing = Duration.seconds(1)
    /// Queries whose outcomes wait for the online updater, the most steps asked
    /// for them, and the updater's task while it runs.
    private let pendingUpdates = Mutex<(keys: Set<String>, steps: Int, updater: Task<Void, Never>?)>(([], 0, nil))
    /// What holds the model's weights: a training job or an online update, one at
    /// a time, so none overwrites another's weights.
    enum ModelJob: Sendable { case training, onlineUpdate }
    private let modelJob = JobLock<ModelJob>()
    /// Route's decisions, for Feedback by `decision_id`.
    public let decisions: DecisionLog
    /// How Route explores when a request does not say (nil: it does not).
    public let defaultExploration: RouteExploration?

    public init(store: any RouterStore, embedding: any RouterEmbedding, jobs: BackgroundJobs, defaultQueryText: QueryTextFocus = .full,
                decisions: DecisionLog = DecisionLog(), defaultExploration: RouteExploration? = nil,
                logger: Logger = Logger(label: "graphd.router")) {
        self.store = store
        self.decisions = decisions
        self.defaultExploration = defaultExploration
        self.embedding = embedding
        self.jobs = jobs
        self.defaultQueryText = defaultQueryText
        self.logger = logger
        views = RebuiltAside(jobs: jobs, kind: .routerView, spacing: Self.viewRebuildSpacing, mayStandIn: { $0.mayAnswerFor($1) },
                             failedAside: { error in
                                 logger.warning("router view rebuild failed; the next Route rebuilds it", metadata: ["error": "\(error)"])
                             })
    }

    /// The embedder of the features of a router with no trained model.
    public var nodeTextEmbedder: EmbeddingProvider { embedding.nodeTextEmbedder }

    /// The catalog of the graph as it is now.
    public var catalog: RouterCatalog { RouterCatalog(snapshot: store.snapshot, documents: store) }

    // MARK: Route

    /// The graph as one Route reads it, read once: what decides where the
    /// request runs (`isQuick`) is what the answer is computed on.
    public struct Pass: Sendable {
        fileprivate let snapshot: GraphSnapshot
        fileprivate let fingerprint: RouterFingerprint
        /// The cached view's embedder, when that view may answer for this graph.
        fileprivate let cachedEmbedder: String?

        /// Whether Route answers in microseconds: a cached view may answer, and
        /// the query comes as a vector or is embedded by the hashed embedder.
        public func isQuick(vectorSupplied: Bool) -> Bool {
            guard let cachedEmbedder else { return false }
            return vectorSupplied || cachedEmbedder != EmbeddingProvider.minilm.rawValue
        }
    }

    public func beginRoute() -> Pass {
        let snapshot = store.snapshot
        let fingerprint = currentFingerprint(snapshot)
        let cached = views.canAnswer(for: fingerprint) ? views.cached?.value.embedder : nil
        return Pass(snapshot: snapshot, fingerprint: fingerprint, cachedEmbedder: cached)
    }

    public func route(_ request: RouteRequest, pass: Pass? = nil) throws -> RouteAnswer {
        guard request.allowedLLMs.count <= RouterSchema.maxAllowed else {
            throw RoutingError(.invalidArgument, "more than \(RouterSchema.maxAllowed) allowed_llms")
        }
        try request.objective.validate()
        guard request.maxCost.isFinite, request.maxCost >= 0 else {
            throw RoutingError(.invalidArgument, "max_cost must be finite and non-negative, got \(request.maxCost)")
        }
        guard request.maxLatencyMs.isFinite, request.maxLatencyMs >= 0 else {
            throw RoutingError(.invalidArgument, "max_latency_ms must be finite and non-negative, got \(request.maxLatencyMs)")
        }
        let exploration: RouteExploration?
        switch request.exploration {
        case .routerDefault: exploration = defaultExploration
        case .off: exploration = nil
        case .on(let setting):
            try setting.validate()
            exploration = setting
        }
        let current = try view(pass ?? beginRoute())
        guard !current.predictor.graph.llms.isEmpty else {
            throw RoutingError(.failedPrecondition, "no LLMs are registered: add one with Router/AddLLM (graphctl llm add)")
        }
        var allowed: Set<Int>?
        if !request.allowedLLMs.isEmpty {
            var set = Set<Int>()
            for name in request.allowedLLMs {
                guard let index = current.llmIndex[name] else {
                    throw RoutingError(.invalidArgument, "allowed_llms names '\(name)', which is not a registered LLM")
                }
                set.insert(index)
            }
            allowed = set
        }
        guard request.task.utf8.count <= GraphLimits.maxKeyLength else {
            throw RoutingError(.invalidArgument, "task is longer than \(GraphLimits.maxKeyLength) bytes")
        }
        // A task the graph has not seen yet (Feedback creates it) counts as absent:
        // the closest task is used, and the answer says which.
        let task = request.task.isEmpty ? nil : current.taskIndex[request.task]
        guard request.prompt.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RoutingError(.invalidArgument, "query is \(request.prompt.utf8.count) bytes; the limit is \(RouterSchema.maxQueryBytes)")
        }
        // The part of the prompt that identifies the query is embedded and matched; the
        // whole prompt is what the LLM reads, so it counts for the cost.
        let focus = request.task.isEmpty ? defaultQueryText : current.queryText[request.task] ?? defaultQueryText
        let text = focus.identifyingText(request.prompt)
        let features = try queryVector(text: text, sent: request.prompt, vector: request.vector, embedderName: current.embedder,
                                       dimension: current.predictor.graph.dimension)
        let tokens = request.promptTokens > 0 ? Double(request.promptTokens) : Double(request.prompt.utf8.count) / 4
        let start = ContinuousClock.now
        let decision = try current.predictor.route(RouteQuestion(
            features: features, task: task, promptTokens: tokens, allowed: allowed, objective: request.objective,
            maxCost: request.maxCost > 0 ? request.maxCost : nil, maxLatencyMs: request.maxLatencyMs > 0 ? request.maxLatencyMs : nil,
            choices: text.isEmpty ? nil : ChoiceQuestion(parsing: text),
            text: text.isEmpty ? nil : text, exploration: exploration))
        let micros = (ContinuousClock.now - start).seconds * 1e6
        guard !decision.ranked.isEmpty else {
            let limits = [request.maxCost > 0 ? "a predicted cost within max_cost \(request.maxCost)" : nil,
                          request.maxLatencyMs > 0 ? "a predicted latency within max_latency_ms \(request.maxLatencyMs)" : nil]
            throw RoutingError(.failedPrecondition, "no allowed LLM has " + limits.compactMap { $0 }.joined(separator: " and "))
        }
        let graph = current.predictor.graph
        let chosen = graph.llms[decision.ranked[0].llm].name
        let decisionID = decisions.isEnabled
            ? decisions.record(query: request.prompt, vector: request.vector, task: request.task, llm: chosen) : nil
        return RouteAnswer(
            ranked: decision.ranked.map { c in
                RouteAnswer.Candidate(llm: graph.llms[c.llm].name, effect: c.effect, cost: c.cost, normalizedCost: c.normalizedCost,
                                      score: c.score, latencyMs: c.latencyMs)
            },
            fallback: decision.fallback.map { graph.llms[$0].name }, task: decision.task.map { graph.tasks[$0].name },
            taskInferred: decision.taskWasInferred, trained: current.trained, decisionMicros: micros,
            effectsFromVariant: decision.effectsFromVariant, llmsObservedOnText: decision.llmsObservedOnText, queryText: focus,
            decisionID: decisionID, exploratory: decision.exploratory)
    }

    private func currentFingerprint(_ snapshot: GraphSnapshot) -> RouterFingerprint {
        RouterFingerprint(snapshot, generation: generation.load(ordering: .acquiring),
                          outcomeGeneration: outcomeGeneration.load(ordering: .acquiring))
    }

    /// Whether a prompt (or the part of it that identifies the query) holds
    /// anything but whitespace: with the `full` focus the text is the prompt as
    /// sent, so emptiness alone does not tell.
    static func hasContent(_ text: String) -> Bool { text.contains { !$0.isWhitespace } }

    /// The query's vector: the one sent (checked), else `text` (the identifying
    /// part of the text `sent`) embedded with `embedderName`.
    private func queryVector(text: String, sent: String, vector: [Float], embedderName: String, dimension: Int) throws -> [Float] {
        if !vector.isEmpty {
            try SuppliedVectors.validate([vector], dimension: dimension)
            return vector
        }
        guard !sent.isEmpty else { throw RoutingError(.invalidArgument, "query text or vector is required") }
        guard Self.hasContent(text) else { throw RoutingError(.invalidArgument, "query holds only whitespace") }
        guard let provider = EmbeddingProvider(rawValue: embedderName) else {
            throw RoutingError(.failedPrecondition, "the router's features come from embedder '\(embedderName)', which graphd does not offer")
        }
        let embedder = try embedding.embedder(provider)
        guard embedder.dimension == dimension else {
            throw RoutingError(.failedPrecondition,
                               "embedder \(embedder.name) gives \(embedder.dimension) values, the router's features have \(dimension): send vectors or retrain")
        }
        return try embedder.embed([text])[0]
    }

    /// The cached view, rebuilt when the router's part of the graph or its model
    /// changed (`RouterFingerprint`): before answering when tasks, LLMs or what
    /// must show at once changed; aside, answering from the previous view
    /// meanwhile, when only outcomes and online weight updates came in (a
    /// rebuild costs a pass over every query, which Feedback must not add to
    /// each Route).
    private func view(_ pass: Pass) throws -> RouterView {
        try views.value(for: pass.fingerprint) {
            try buildView(RouterCatalog(snapshot: pass.snapshot, documents: store))
        } rebuild: { [self] in try rebuiltView() }
    }

    /// A view of the graph as it is now, with its fingerprint (for a rebuild aside).
    private func rebuiltView() throws -> (RouterFingerprint, RouterView) {
        let snapshot = store.snapshot
        let fingerprint = currentFingerprint(snapshot)
        return (fingerprint, try buildView(RouterCatalog(snapshot: snapshot, documents: store)))
    }

    /// Outcomes or weights changed: rebuild the view aside at once, so that the
    /// next Route (a retry of the same prompt, say) is less likely to answer
    /// from the view before them.
    private func outcomesChanged() {
        outcomeGeneration.wrappingAdd(1, ordering: .releasing)
        views.refreshAside { [self] in try rebuiltView() }
    }

    /// Marks the cached view stale after a write that the next Route must see.
    private func wrote() { generation.wrappingAdd(1, ordering: .releasing) }

    private func buildView(_ catalog: RouterCatalog) throws -> RouterView {
        let model = try catalog.model()
        let embedderName = model?.header.embedder ?? embedding.nodeTextEmbedder.rawValue
        let dimension = try model?.header.dimension ?? embedding.embedder(EmbeddingProvider(rawValue: embedderName) ?? .hashed).dimension
        let extracted = catalog.extract(dimension: dimension)
        let config = model?.header.training.gnn ?? RouterGNNConfig()
        // No trained model yet: the per-task success rates decide.
        let parameters = model?.parameters ?? .ratesOnly(dimension: dimension, config: config)
        let predictor = try RouterPredictor(model: parameters, graph: extracted.graph, config: config)
        return RouterView(predictor: predictor,
                          taskIndex: extracted.taskIndex, llmIndex: extracted.llmIndex, embedder: embedderName,
                          trained: model != nil, queryText: catalog.queryTextSettings())
    }

    // MARK: LLMs and tasks

    /// A name as a node key (`field` names it in errors), and a description within the text limit.
    private func requireNamed(_ type: String, name: String, description: String) throws(RoutingError) {
        try Self.requireKey(name, field: "\(type).name")
        guard description.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RoutingError(.invalidArgument, "\(type).description is longer than \(RouterSchema.maxQueryBytes) bytes")
        }
    }

    private static func requireKey(_ key: String, field: String) throws(RoutingError) {
        if key.isEmpty { throw RoutingError(.invalidArgument, "\(field).key is empty") }
    }

    /// Declares the router's edge types if this graph has none yet.
    private func ensureSchema() async throws {
        let schema = store.snapshot.schema
        guard schema.edgeTypeID(RouterSchema.taskQuery) == nil || schema.edgeTypeID(RouterSchema.queryLLM) == nil else { return }
        _ = try await store.defineTypes(nodeTypes: [], edgeTypes: [
            EdgeTypeInput(name: RouterSchema.taskQuery, directed: true, sourceType: RouterSchema.taskType, targetType: RouterSchema.queryType),
            EdgeTypeInput(name: RouterSchema.queryLLM, directed: true, sourceType: RouterSchema.queryType, targetType: RouterSchema.llmType),
        ])
    }

    /// Registers an LLM or replaces its description and metadata; whether it was new.
    public func addLLM(_ llm: LLMRegistration) async throws -> Bool {
        try requireNamed(RouterSchema.llmType, name: llm.name, description: llm.description)
        let price = llm.price
        for (name, value) in [("per_call", price.perCall), ("per_input_token", price.perInputToken), ("per_output_token", price.perOutputToken)]
        where !(value.isFinite && value >= 0) {
            throw RoutingError(.invalidArgument, "llm.price.\(name) must be finite and non-negative, got \(value)")
        }
        guard llm.tags.count <= 64, llm.tags.allSatisfy({ $0.utf8.count <= 256 }) else {
            throw RoutingError(.invalidArgument, "at most 64 tags of at most 256 bytes")
        }
        try await ensureSchema()
        let description = llm.description.isEmpty ? "LLM \(llm.name)" : llm.description
        var nodes = [NodeInput(type: RouterSchema.llmType, key: llm.name, text: description)]
        try embedding.fillNodeVectors(&nodes, schema: store.snapshot.schema)
        let metadata = try JSONEncoder().encode(LLMMetadata(price: price, contextWindow: llm.contextWindow, tags: llm.tags))
        let plan = try await store.addNodes(nodes, documents: [(RouterSchema.llmDocumentPrefix + llm.name, Array(metadata))])
        wrote()
        return plan.created > 0
    }

    public func removeLLM(_ name: String) async throws {
        try Self.requireKey(name, field: "name")
        guard catalog.node(RouterSchema.llmType, key: name) != nil else { throw RoutingError(.notFound, "no LLM named '\(name)'") }
        _ = try await store.removeNodes([NodeRefInput(type: RouterSchema.llmType, key: name)], ignoreMissing: false,
                                        documents: [(RouterSchema.llmDocumentPrefix + name, nil)])
        wrote()
    }

    private func taskDocument(_ task: String, _ settings: TaskSettings) throws -> (name: String, value: [UInt8]?) {
        (RouterSchema.taskDocumentPrefix + task, Array(try JSONEncoder().encode(settings)))
    }

    /// The settings a task created now is written with: the router's default, so
    /// that a later default does not change how its stored queries were cut; nil
    /// when settings under its name exist already.
    private func defaultSettingsDocument(newTask task: String, _ catalog: RouterCatalog) throws -> (name: String, value: [UInt8]?)? {
        catalog.settings(task: task) == nil ? try taskDocument(task, TaskSettings(queryText: defaultQueryText)) : nil
    }

    /// Creates a task or changes its description or query-text setting (nil:
    /// unchanged; a new task gets the default); the task as it is now, and
    /// whether it was new.
    public func setTask(name: String, description: String, queryText: QueryTextFocus?) async throws -> (task: TaskSummary, created: Bool) {
        try requireNamed(RouterSchema.taskType, name: name, description: description)
        try await ensureSchema()
        let before = catalog
        let existed = before.node(RouterSchema.taskType, key: name) != nil
        var nodes: [NodeInput] = []
        if !existed || !description.isEmpty {
            nodes.append(NodeInput(type: RouterSchema.taskType, key: name, text: description.isEmpty ? name : description))
            try embedding.fillNodeVectors(&nodes, schema: before.snapshot.schema)
        }
        var documents: [(name: String, value: [UInt8]?)] = []
        if let queryText {
            documents.append(try taskDocument(name, TaskSettings(queryText: queryText)))
        } else if !existed, let pinned = try defaultSettingsDocument(newTask: name, before) {
            documents.append(pinned)
        }
        // The node and its settings in one transaction.
        _ = try await store.addNodes(nodes, documents: documents)
        wrote()
        let after = catalog
        guard let id = after.node(RouterSchema.taskType, key: name), let task = after.task(id, defaultQueryText: defaultQueryText) else {
            throw RoutingError(.internalError, "task '\(name)' is missing after its write")
        }
        return (task, !existed)
    }

    // MARK: Feedback

    public func feedback(_ sent: FeedbackReport) async throws -> FeedbackReceipt {
        let report = try await resolvingDecision(sent)
        guard !report.outcomes.isEmpty else { throw RoutingError(.invalidArgument, "outcomes is empty") }
        guard report.outcomes.count <= RouterSchema.maxOutcomes else {
            throw RoutingError(.invalidArgument, "more than \(RouterSchema.maxOutcomes) outcomes")
        }
        guard report.query.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RoutingError(.invalidArgument, "query is longer than \(RouterSchema.maxQueryBytes) bytes")
        }
        let catalog = self.catalog
        // What is stored, embedded and keyed is the part of the text that identifies the query.
        let focus = report.task.isEmpty ? defaultQueryText : catalog.settings(task: report.task)?.queryText ?? defaultQueryText
        let text = focus.identifyingText(report.query)
        guard report.query.isEmpty || Self.hasContent(text) else { throw RoutingError(.invalidArgument, "query holds only whitespace") }
        let steps = report.updateSteps ?? 5
        guard steps <= 100 else { throw RoutingError(.invalidArgument, "update_steps = \(steps) is above 100") }
        for (i, outcome) in report.outcomes.enumerated() {
            guard outcome.effect.isFinite, (0...1).contains(outcome.effect) else {
                throw RoutingError(.invalidArgument, "outcomes[\(i)].effect \(outcome.effect) is outside [0, 1]")
            }
            if let cost = outcome.cost, !(cost.isFinite && cost >= 0) {
                throw RoutingError(.invalidArgument, "outcomes[\(i)].cost must be finite and non-negative")
            }
            if let latency = outcome.latencyMs, !(latency.isFinite && latency >= 0) {
                throw RoutingError(.invalidArgument, "outcomes[\(i)].latency_ms must be finite and non-negative")
            }
            guard outcome.answer.utf8.count <= RouterSchema.maxQueryBytes else {
                throw RoutingError(.invalidArgument, "outcomes[\(i)].answer is longer than \(RouterSchema.maxQueryBytes) bytes")
            }
            guard !outcome.llm.isEmpty else {
                throw RoutingError(.invalidArgument, "outcomes[\(i)].llm is empty (it may be left out only with decision_id)")
            }
            guard catalog.node(RouterSchema.llmType, key: outcome.llm) != nil else {
                throw RoutingError(.notFound, "outcomes[\(i)].llm '\(outcome.llm)' is not a registered LLM")
            }
        }
        var key = report.queryKey
        if key.isEmpty {
            guard !text.isEmpty else { throw RoutingError(.invalidArgument, "query_key or query text is required") }
            var hasher = StableHash()
            hasher.add(text)
            key = "q-" + String(hasher.value, radix: 16)
        }
        try Self.requireKey(key, field: "query_key")
        let existing = catalog.node(RouterSchema.queryType, key: key)
        guard existing != nil || !text.isEmpty || !report.vector.isEmpty else {
            throw RoutingError(.invalidArgument, "query '\(key)' is not in the graph: send its text or vector")
        }
        if !report.vector.isEmpty, !report.vector.allSatisfy(\.isFinite) {
            throw RoutingError(.invalidArgument, "vector holds a non-finite value")
        }
        try await ensureSchema()

        var nodes: [NodeInput] = []
        if !text.isEmpty || !report.vector.isEmpty {
            nodes.append(NodeInput(type: RouterSchema.queryType, key: key, text: text.isEmpty ? nil : text, features: report.vector))
        }
        var documents: [(name: String, value: [UInt8]?)] = []
        if !report.task.isEmpty, catalog.node(RouterSchema.taskType, key: report.task) == nil {
            nodes.append(NodeInput(type: RouterSchema.taskType, key: report.task, text: report.task))
            if let pinned = try defaultSettingsDocument(newTask: report.task, catalog) { documents.append(pinned) }
        }
        try embedding.fillNodeVectors(&nodes, schema: store.snapshot.schema)
        let queryRef = NodeRefInput(type: RouterSchema.queryType, key: key)
        var edges: [EdgeInput] = []
        if !report.task.isEmpty {
            edges.append(EdgeInput(type: RouterSchema.taskQuery, source: NodeRefInput(type: RouterSchema.taskType, key: report.task), target: queryRef))
        }
        // Answers are read against the query's options: the text sent, else the stored one.
        let questionText = text.isEmpty ? existing.flatMap { catalog.snapshot.nodes.record($0)?.text } : text
        let question = report.outcomes.contains { !$0.answer.isEmpty } ? questionText.flatMap(ChoiceQuestion.init(parsing:)) : nil
        for outcome in report.outcomes {
            var attributes: [(name: String, value: Double)] = [(RouterSchema.effectAttribute, outcome.effect)]
            if let cost = outcome.cost { attributes.append((RouterSchema.costAttribute, cost)) }
            if let latency = outcome.latencyMs { attributes.append((RouterSchema.latencyAttribute, latency)) }
            if let option = question?.option(namedBy: outcome.answer) {
                attributes.append((RouterSchema.answerAttribute, Double(option)))
            }
            edges.append(EdgeInput(type: RouterSchema.queryLLM, source: queryRef,
                                   target: NodeRefInput(type: RouterSchema.llmType, key: outcome.llm), attributes: attributes))
        }
        // One transaction: a refused outcome leaves no query or task node behind.
        let plan = try await store.addNodesAndEdges(nodes, edges: edges, requireExistingNodes: true, documents: documents)
        outcomesChanged()
        var queued = false
        if steps > 0, store.document(RouterSchema.modelDocument) != nil {
            queueOnlineUpdate(queryKey: key, steps: steps)
            queued = true
        }
        return FeedbackReceipt(queryKey: key, edgesWritten: plan.insertedEdges.count, updateQueued: queued)
    }

    /// The report with the decision it names (if any) filled in.
    private func resolvingDecision(_ report: FeedbackReport) async throws -> FeedbackReport {
        guard !report.decisionID.isEmpty else { return report }
        guard report.query.isEmpty, report.queryKey.isEmpty, report.vector.isEmpty else {
            throw RoutingError(.invalidArgument, "send decision_id or the query (query, query_key, vector), not both")
        }
        guard !report.outcomes.isEmpty else { throw RoutingError(.invalidArgument, "outcomes is empty") }
        let decision = try await decisions.resolve(report.decisionID)
        var resolved = report
        resolved.query = decision.query
        resolved.vector = decision.vector
        if resolved.task.isEmpty { resolved.task = decision.task }
        for i in resolved.outcomes.indices where resolved.outcomes[i].llm.isEmpty { resolved.outcomes[i].llm = decision.llm }
        return resolved
    }

    // MARK: Online updates

    /// Ends the online updater's loop and waits for it. Call after
    /// `BackgroundJobs.shutdown()`, which stops the jobs themselves (an update in
    /// progress finishes; a queued one is skipped). The outcomes are stored
    /// already; only their weight update is dropped.
    public func shutdown() async {
        // Cancelling ends the updater's wait between runs.
        let updater = pendingUpdates.withLock { $0.updater }
        updater?.cancel()
        await updater?.value
    }

    /// Hands a query's outcomes to the online updater. The updater takes every
    /// query queued since its last run and makes one update over all of them,
    /// so a burst of Feedback costs a few passes over the graph, not one each.
    private func queueOnlineUpdate(queryKey: String, steps: Int) {
        pendingUpdates.withLock { pending in
            pending.keys.insert(queryKey)
            pending.steps = max(pending.steps, steps)
            // Once the jobs shut down, the loop finds them stopping and ends at once.
            if pending.updater == nil { pending.updater = Task.detached(priority: .utility) { [self] in await runOnlineUpdates() } }
        }
    }

    private func runOnlineUpdates() async {
        var previousStart: ContinuousClock.Instant?
        while true {
            if let previousStart { try? await Task.sleep(until: previousStart + Self.onlineUpdateSpacing) }
            previousStart = .now
            let stop = jobs.isStopping
            let batch = pendingUpdates.withLock { pending -> (keys: Set<String>, steps: Int)? in
                guard !pending.keys.isEmpty, !stop else {
                    pending.updater = nil
                    return nil
                }
                defer { pending.keys = []; pending.steps = 0 }
                return (pending.keys, pending.steps)
            }
            guard let batch else { return }
            // Skipped while a training job runs: the weights it stores would replace
            // this update's anyway.
            guard modelJob.tryBegin(.onlineUpdate) == nil else { continue }
            defer { modelJob.end() }
            // The outcomes are stored and acknowledged whatever happens here: a failed
            // update leaves the previous weights.
            do {
                try await onlineUpdate(queryKeys: batch.keys, steps: batch.steps)
            } catch {
                logger.warning("router online update after feedback failed; the model keeps its weights", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A few Adam steps on some queries' outcomes, off the cooperative pool;
    /// stores the updated weights.
    private func onlineUpdate(queryKeys: Set<String>, steps: Int) async throws {
        let catalog = self.catalog
        guard let stored = try catalog.model() else { return }
        let model = try await jobs.perform(.routerTraining) { _ throws -> RouterModel? in
            var model = stored
            let extracted = catalog.extract(dimension: model.header.dimension)
            let queries = Set(queryKeys.compactMap { extracted.queryIndex[$0] })
            guard !queries.isEmpty else { return nil }
            model.parameters = try RouterTrainer.fineTune(model.parameters, graph: extracted.graph, queries: queries, steps: steps,
                                                          config: model.header.training)
            return model
        }
        guard let model else { return }
        try await store.putDocuments([(RouterSchema.modelDocument, try model.serialized())])
        outcomesChanged()
    }

    // MARK: Training

    /// Trains on the graph as it is now and stores the model. Waits for an
    /// online update to end; refuses (failed precondition) while another
    /// training job runs. `started` is told once this job holds the model's
    /// weights, `progress` after each epoch. Cancelling the calling task, or
    /// the jobs' shutdown, stops it (RoutingError `.cancelled`).
    public func train(_ config: RouterTrainingConfig, started: @Sendable () -> Void = {},
                      progress: @escaping @Sendable (RouterTrainingProgress) -> Void = { _ in }) async throws -> RouterTrainingReport {
        let provider = embedding.nodeTextEmbedder
        let dimension = try embedding.embedder(provider).dimension
        // An online update holds the weights for moments, at most once a second: wait for it.
        while let holder = modelJob.tryBegin(.training) {
            guard holder == .onlineUpdate else {
                throw RoutingError(.failedPrecondition, "router training is already running; try again when it ends")
            }
            logger.info("router training waits for the online update to end")
            await modelJob.waitUntilFree()
            try Task.checkCancellation()
        }
        defer { modelJob.end() }
        started()
        let start = ContinuousClock.now
        let graph = catalog.extract(dimension: dimension).graph
        let logger = self.logger
        // Training runs as a background job, not on a thread of the cooperative pool; a
        // cancelled call or the jobs' shutdown stops it.
        let cancelled = Mutex(false)
        let result = try await withTaskCancellationHandler {
            try await jobs.perform(.routerTraining, isCancelled: { cancelled.withLock { $0 } }) { job in
                try RouterTrainer.train(graph, config: config, isCancelled: { job.isCancelled }) { p in
                    progress(p)
                    if p.epoch % 20 == 0 {
                        logger.info("router training", metadata: ["epoch": "\(p.epoch)", "training_loss": "\(p.trainingLoss)",
                                                                  "validation_loss": "\(p.validationLoss)", "best": "\(p.bestValidationLoss)"])
                    }
                }
            }
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
        let model = RouterModel(result: result, embedder: provider.rawValue, training: config,
                                trainedAtMs: Int64(Date().timeIntervalSince1970 * 1000))
        try await store.putDocuments([(RouterSchema.modelDocument, try model.serialized())])
        wrote()
        let seconds = (ContinuousClock.now - start).seconds
        logger.info("router trained", metadata: ["epochs": "\(result.epochs)", "best_epoch": "\(result.bestEpoch)",
                                                  "validation_loss": "\(result.validationLoss)",
                                                  "rates_only_validation_loss": "\(result.priorOnlyValidationLoss)",
                                                  "seconds": "\(seconds)"])
        return RouterTrainingReport(result: result, seconds: seconds)
    }
}

/// The router's view of one snapshot, with the predictor built on it (its
/// fingerprint is the version `RebuiltAside` keeps beside it).
struct RouterView: Sendable {
    var predictor: RouterPredictor
    var taskIndex: [String: Int]
    var llmIndex: [String: Int]
    var embedder: String
    var trained: Bool
    /// The tasks with a query-text setting of their own (SetTask).
    var queryText: [String: QueryTextFocus]
}

/// What the router's view depends on, cheap to read from a snapshot: the
/// counts of task, LLM and query nodes and of the router's edges, removals
/// (an upsert removes the edge it replaces), and the router's own write
/// generations: `generation` for what must show in the next answer (LLMs
/// added or removed, descriptions, prices, a trained model), `outcomeGeneration`
/// for outcomes and online weight updates. Writes to the rest of the graph
/// leave it alone, so they do not rebuild the predictor.
struct RouterFingerprint: Equatable, Sendable {
    var nodeCounts: [Int]
    var edgeCounts: [Int]
    var removed: Int
    var generation: UInt64
    var outcomeGeneration: UInt64

    init(_ snapshot: GraphSnapshot, generation: UInt64, outcomeGeneration: UInt64) {
        let schema = snapshot.schema
        nodeCounts = [RouterSchema.taskType, RouterSchema.llmType, RouterSchema.queryType].map { name in
            schema.nodeTypeID(name).map { snapshot.nodes.countByType[$0] ?? 0 } ?? 0
        }
        edgeCounts = [RouterSchema.taskQuery, RouterSchema.queryLLM].map { name in
            schema.edgeTypeID(name).map { snapshot.edgeCountByType[$0] ?? 0 } ?? 0
        }
        removed = snapshot.removedSinceCompaction
        self.generation = generation
        self.outcomeGeneration = outcomeGeneration
    }

    /// Whether a view built for this fingerprint may still answer while one for
    /// `newer` is built aside: only queries and outcomes were added (or
    /// upserted) and weights updated online since. The same tasks and LLMs, no
    /// query or router edge fewer, no write that must show at once.
    func mayAnswerFor(_ newer: RouterFingerprint) -> Bool {
        nodeCounts[0] == newer.nodeCounts[0] && nodeCounts[1] == newer.nodeCounts[1] && nodeCounts[2] <= newer.nodeCounts[2]
            && zip(edgeCounts, newer.edgeCounts).allSatisfy { $0 <= $1 } && generation == newer.generation
    }
}
