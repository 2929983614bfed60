import Foundation
import GraphCore
import GraphStore
import GraphdProto
import Logging
import Routing
import Synchronization
import TTRPC
import TextEmbedding

/// The LLM metadata that is not the node itself (its description is the node's text).
struct LLMMetadata: Codable, Equatable {
    var price: LLMPricing
    var contextWindow: UInt32
    var tags: [String]
}

/// A task's router settings, stored as the document `router/task/<name>`.
struct TaskSettings: Codable, Equatable {
    /// The part of a prompt that identifies the task's queries.
    var queryText: QueryTextFocus
}

/// The router's view of one snapshot, with the predictor built on it.
struct RouterView {
    var fingerprint: RouterFingerprint
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
struct RouterFingerprint: Equatable {
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

/// graphd.v1.Router: GraphRouter-style routing over the task–query–LLM part
/// of the graph. Route reads a cached predictor, rebuilt when the graph or the
/// stored model changed; Feedback, AddLLM and RemoveLLM write through the
/// database like any other write; Train runs one at a time.
public final class RouterService: Sendable {
    public let database: GraphDatabase
    /// Training and online updates run as `.routerTraining` jobs, one at a time,
    /// off the event loops and the cooperative pool; views rebuilt aside as `.routerView`.
    let jobs: BackgroundJobs
    let embedding: EmbeddingConfiguration
    /// Which part of a prompt identifies the query for a task without a setting, and for Route without a task.
    let defaultQueryText: QueryTextFocus
    let logger: Logger
    /// The view Route reads; rebuilt aside while only outcomes and online weights
    /// changed (`RouterFingerprint.mayAnswerFor`), before the answer otherwise.
    private let views: RebuiltAside<RouterFingerprint, RouterView>
    /// The running (or last) Train job, for TrainProgress.
    private let trainingProgress = TrainingMonitor(model: "router")
    /// Bumped after writes of this service that the next Route must see (see `RouterFingerprint`).
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

    public init(database: GraphDatabase, jobs: BackgroundJobs, embedding: EmbeddingConfiguration, defaultQueryText: QueryTextFocus = .full,
                logger: Logger = Logger(label: "graphd.router")) {
        self.database = database
        self.jobs = jobs
        self.embedding = embedding
        self.defaultQueryText = defaultQueryText
        self.logger = logger
        views = RebuiltAside(jobs: jobs, kind: .routerView, spacing: Self.viewRebuildSpacing, mayStandIn: { $0.mayAnswerFor($1) },
                             failedAside: { error in
                                 logger.warning("router view rebuild failed; the next Route rebuilds it", metadata: ["error": "\(error)"])
                             })
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        // Route answers on the connection's event loop when it can: a decision takes
        // microseconds, and a hop to another thread would cost more. Embedding the
        // query with MiniLM, or rebuilding a stale view, takes milliseconds: those
        // requests compute off the loop.
        dispatcher.registerCompute(.route, when: { [self] request in !routeIsQuick(request) }) { request, _ in
            try self.route(request)
        }
        dispatcher.registerCompute(.feedback) { (request: Graphd_V1_FeedbackRequest, _) in try await self.feedback(request) }
        dispatcher.registerCompute(.addLLM) { (request: Graphd_V1_AddLLMRequest, _) in try await self.addLLM(request) }
        dispatcher.registerInline(.listLLMs) { (_: Graphd_V1_ListLLMsRequest, _) in try self.listLLMs() }
        dispatcher.register(.removeLLM) { (request: Graphd_V1_RemoveLLMRequest, _) in try await self.removeLLM(request) }
        dispatcher.registerCompute(.train) { (request: Graphd_V1_TrainRouterRequest, context) in
            try await self.train(request, deadline: context.deadline)
        }
        dispatcher.registerInline(.trainProgress) { (_: Graphd_V1_TrainingProgressRequest, _) in
            self.trainingProgress.current
        }
        dispatcher.registerCompute(.setTask) { (request: Graphd_V1_SetTaskRequest, _) in try await self.setTask(request) }
        dispatcher.registerInline(.listTasks) { (_: Graphd_V1_ListTasksRequest, _) in try self.listTasks() }
    }

    // MARK: Route

    func route(_ request: Graphd_V1_RouteRequest) throws -> Graphd_V1_RouteResponse {
        guard request.allowedLlms.count <= RouterSchema.maxAllowed else {
            throw RPCError(.invalidArgument, "more than \(RouterSchema.maxAllowed) allowed_llms")
        }
        let objective: RoutingObjective = request.willingnessToPay != 0
            ? .willingnessToPay(request.willingnessToPay)
            : .weights(performance: request.performanceWeight, cost: request.costWeight)
        try objective.validate()
        guard request.maxCost.isFinite, request.maxCost >= 0 else {
            throw RPCError(.invalidArgument, "max_cost must be finite and non-negative, got \(request.maxCost)")
        }
        guard request.maxLatencyMs.isFinite, request.maxLatencyMs >= 0 else {
            throw RPCError(.invalidArgument, "max_latency_ms must be finite and non-negative, got \(request.maxLatencyMs)")
        }
        let current = try currentView()
        guard !current.predictor.graph.llms.isEmpty else {
            throw RPCError(.failedPrecondition, "no LLMs are registered: add one with Router/AddLLM (graphctl llm add)")
        }
        var allowed: Set<Int>?
        if !request.allowedLlms.isEmpty {
            var set = Set<Int>()
            for name in request.allowedLlms {
                guard let index = current.llmIndex[name] else {
                    throw RPCError(.invalidArgument, "allowed_llms names '\(name)', which is not a registered LLM")
                }
                set.insert(index)
            }
            allowed = set
        }
        guard request.task.utf8.count <= GraphLimits.maxKeyLength else {
            throw RPCError(.invalidArgument, "task is longer than \(GraphLimits.maxKeyLength) bytes")
        }
        // A task the graph has not seen yet (Feedback creates it) counts as absent:
        // the closest task is used, and the response says which.
        let task = request.task.isEmpty ? nil : current.taskIndex[request.task]
        guard request.query.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RPCError(.invalidArgument, "query is \(request.query.utf8.count) bytes; the limit is \(RouterSchema.maxQueryBytes)")
        }
        // The part of the prompt that identifies the query is embedded and matched; the
        // whole prompt is what the LLM reads, so it counts for the cost.
        let focus = request.task.isEmpty ? defaultQueryText : current.queryText[request.task] ?? defaultQueryText
        let text = focus.identifyingText(request.query)
        let features = try queryVector(text: text, sent: request.query, vector: request.vector, embedderName: current.embedder,
                                       dimension: current.predictor.graph.dimension)
        let tokens = request.promptTokens > 0 ? Double(request.promptTokens) : Double(request.query.utf8.count) / 4
        let start = ContinuousClock.now
        let decision = try current.predictor.route(RouteQuestion(
            features: features, task: task, promptTokens: tokens, allowed: allowed, objective: objective,
            maxCost: request.maxCost > 0 ? request.maxCost : nil, maxLatencyMs: request.maxLatencyMs > 0 ? request.maxLatencyMs : nil,
            choices: text.isEmpty ? nil : ChoiceQuestion(parsing: text),
            text: text.isEmpty ? nil : text))
        let micros = (ContinuousClock.now - start).seconds * 1e6
        guard let choice = decision.ranked.first else {
            let limits = [request.maxCost > 0 ? "a predicted cost within max_cost \(request.maxCost)" : nil,
                          request.maxLatencyMs > 0 ? "a predicted latency within max_latency_ms \(request.maxLatencyMs)" : nil]
            throw RPCError(.failedPrecondition, "no allowed LLM has " + limits.compactMap { $0 }.joined(separator: " and "))
        }
        let names = current.predictor.graph.llms.map(\.name)
        var response = Graphd_V1_RouteResponse()
        response.llm = names[choice.llm]
        response.ranked = decision.ranked.map { c in
            var candidate = Graphd_V1_RouteCandidate()
            candidate.llm = names[c.llm]
            candidate.effect = c.effect
            candidate.cost = c.cost
            candidate.normalizedCost = c.normalizedCost
            candidate.score = c.score
            if let latency = c.latencyMs { candidate.latencyMs = latency }
            return candidate
        }
        response.fallback = decision.fallback.map { names[$0] }
        if let t = decision.task { response.task = current.predictor.graph.tasks[t].name }
        response.taskInferred = decision.taskWasInferred
        response.model = current.trained ? "gnn" : "rates"
        response.decisionMicros = micros
        response.effectsFromVariant = decision.effectsFromVariant
        response.llmsObservedOnText = UInt32(decision.llmsObservedOnText)
        response.queryText = Graphd_V1_QueryText(focus)
        return response
    }

    /// Whether Route can answer `request` in microseconds: a cached view may
    /// answer, and the query comes as a vector or is embedded by the hashed embedder.
    func routeIsQuick(_ request: Graphd_V1_RouteRequest) -> Bool {
        guard let cached = views.cached?.value, views.canAnswer(for: currentFingerprint()) else { return false }
        return !request.vector.isEmpty || cached.embedder != EmbeddingProvider.minilm.rawValue
    }

    private func currentFingerprint(_ snapshot: GraphSnapshot? = nil) -> RouterFingerprint {
        RouterFingerprint(snapshot ?? database.snapshot, generation: generation.load(ordering: .acquiring),
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
        guard !sent.isEmpty else { throw RPCError(.invalidArgument, "query text or vector is required") }
        guard Self.hasContent(text) else { throw RPCError(.invalidArgument, "query holds only whitespace") }
        guard let provider = EmbeddingProvider(rawValue: embedderName) else {
            throw RPCError(.failedPrecondition, "the router's features come from embedder '\(embedderName)', which graphd does not offer")
        }
        let embedder = try embedding.registry.embedder(provider)
        guard embedder.dimension == dimension else {
            throw RPCError(.failedPrecondition, "embedder \(embedder.name) gives \(embedder.dimension) values, the router's features have \(dimension): send vectors or retrain")
        }
        return try embedder.embed([text])[0]
    }

    /// The cached view, rebuilt when the router's part of the graph or its model
    /// changed (`RouterFingerprint`): before answering when tasks, LLMs or what
    /// must show at once changed; aside, answering from the previous view
    /// meanwhile, when only outcomes and online weight updates came in (a
    /// rebuild costs a pass over every query, which Feedback must not add to
    /// each Route).
    private func currentView() throws -> RouterView {
        let snapshot = database.snapshot
        let fingerprint = currentFingerprint(snapshot)
        return try views.value(for: fingerprint) {
            try buildView(snapshot: snapshot, fingerprint: fingerprint, modelBytes: database.document(RouterSchema.modelDocument))
        } rebuild: { [self] in try rebuiltView() }
    }

    /// A view of the graph as it is now, with its fingerprint (for a rebuild aside).
    private func rebuiltView() throws -> (RouterFingerprint, RouterView) {
        let snapshot = database.snapshot
        let fingerprint = currentFingerprint(snapshot)
        return (fingerprint, try buildView(snapshot: snapshot, fingerprint: fingerprint, modelBytes: database.document(RouterSchema.modelDocument)))
    }

    /// Outcomes or weights changed: rebuild the view aside at once, so that the
    /// next Route (a retry of the same prompt, say) is less likely to answer
    /// from the view before them.
    private func outcomesChanged() {
        outcomeGeneration.wrappingAdd(1, ordering: .releasing)
        views.refreshAside { [self] in try rebuiltView() }
    }

    private func buildView(snapshot: GraphSnapshot, fingerprint: RouterFingerprint, modelBytes: [UInt8]?) throws -> RouterView {
        let model = try modelBytes.map { bytes throws(RoutingError) in try RouterModel(serialized: bytes) }
        let defaultEmbedder = embedding.nodeTextProvider ?? .hashed
        let embedderName = model?.header.embedder ?? defaultEmbedder.rawValue
        let dimension: Int
        if let model {
            dimension = model.header.dimension
        } else {
            dimension = try embedding.registry.embedder(EmbeddingProvider(rawValue: embedderName) ?? .hashed).dimension
        }
        let extracted = try RouterGraphExtractor.extract(snapshot: snapshot, dimension: dimension, database: database)
        let config = model?.header.training.gnn ?? RouterGNNConfig()
        // No trained model yet: the per-task success rates decide.
        let parameters = model?.parameters ?? .ratesOnly(dimension: dimension, config: config)
        let predictor = try RouterPredictor(model: parameters, graph: extracted.graph, config: config)
        var queryText: [String: QueryTextFocus] = [:]
        for name in database.documentNames(prefix: RouterSchema.taskDocumentPrefix) {
            let task = String(name.dropFirst(RouterSchema.taskDocumentPrefix.count))
            if let settings = taskSettings(task) { queryText[task] = settings.queryText }
        }
        return RouterView(fingerprint: fingerprint, predictor: predictor,
                          taskIndex: extracted.taskIndex, llmIndex: extracted.llmIndex, embedder: embedderName,
                          trained: model != nil, queryText: queryText)
    }

    // MARK: Writes

    /// An LLM or task as sent: a name, and a description within the text limit.
    private func requireNamed(_ type: String, name: String, description: String) throws {
        try requireRef(type: type, key: name, field: "\(type).name")
        guard description.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RPCError(.invalidArgument, "\(type).description is longer than \(RouterSchema.maxQueryBytes) bytes")
        }
    }

    /// Declares the router's edge types if this graph has none yet.
    private func ensureSchema() async throws {
        let schema = database.snapshot.schema
        guard schema.edgeTypeID(RouterSchema.taskQuery) == nil || schema.edgeTypeID(RouterSchema.queryLLM) == nil else { return }
        _ = try await database.defineTypes(nodeTypes: [], edgeTypes: [
            EdgeTypeInput(name: RouterSchema.taskQuery, directed: true, sourceType: RouterSchema.taskType, targetType: RouterSchema.queryType),
            EdgeTypeInput(name: RouterSchema.queryLLM, directed: true, sourceType: RouterSchema.queryType, targetType: RouterSchema.llmType),
        ])
    }

    func addLLM(_ request: Graphd_V1_AddLLMRequest) async throws -> Graphd_V1_AddLLMResponse {
        guard request.hasLlm else { throw RPCError(.invalidArgument, "llm is required") }
        let info = request.llm
        try requireNamed(RouterSchema.llmType, name: info.name, description: info.description_p)
        let price = LLMPricing(perCall: info.price.perCall, perInputToken: info.price.perInputToken, perOutputToken: info.price.perOutputToken)
        for (name, value) in [("per_call", price.perCall), ("per_input_token", price.perInputToken), ("per_output_token", price.perOutputToken)]
        where !(value.isFinite && value >= 0) {
            throw RPCError(.invalidArgument, "llm.price.\(name) must be finite and non-negative, got \(value)")
        }
        guard info.tags.count <= 64, info.tags.allSatisfy({ $0.utf8.count <= 256 }) else {
            throw RPCError(.invalidArgument, "at most 64 tags of at most 256 bytes")
        }
        try await ensureSchema()
        let description = info.description_p.isEmpty ? "LLM \(info.name)" : info.description_p
        var nodes = [NodeInput(type: RouterSchema.llmType, key: info.name, text: description)]
        try embedding.fillNodeVectors(&nodes, schema: database.snapshot.schema)
        let metadata = try JSONEncoder().encode(LLMMetadata(price: price, contextWindow: info.contextWindow, tags: info.tags))
        let plan = try await database.addNodes(nodes, documents: [(RouterSchema.llmDocumentPrefix + info.name, Array(metadata))])
        wrote()
        var response = Graphd_V1_AddLLMResponse()
        response.created = plan.created > 0
        return response
    }

    func removeLLM(_ request: Graphd_V1_RemoveLLMRequest) async throws -> Graphd_V1_RemoveLLMResponse {
        try requireRef(type: RouterSchema.llmType, key: request.name, field: "name")
        guard let type = database.snapshot.schema.nodeTypeID(RouterSchema.llmType),
              database.snapshot.nodes.id(of: NodeKey(type: type, key: request.name)) != nil else {
            throw RPCError(.notFound, "no LLM named '\(request.name)'")
        }
        _ = try await database.removeNodes([NodeRefInput(type: RouterSchema.llmType, key: request.name)],
                                           documents: [(RouterSchema.llmDocumentPrefix + request.name, nil)])
        wrote()
        return Graphd_V1_RemoveLLMResponse()
    }

    func listLLMs() throws -> Graphd_V1_ListLLMsResponse {
        let snapshot = database.snapshot
        var response = Graphd_V1_ListLLMsResponse()
        guard let llmType = snapshot.schema.nodeTypeID(RouterSchema.llmType) else { return response }
        let queryLLM = snapshot.schema.edgeTypeID(RouterSchema.queryLLM)
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) && snapshot.nodes.type(of: id) == llmType {
            guard let record = snapshot.nodes.record(id) else { continue }
            var info = Graphd_V1_LLMInfo()
            info.name = record.key
            info.description_p = record.text ?? ""
            if let metadata = RouterGraphExtractor.metadata(record.key, database: database) {
                info.price.perCall = metadata.price.perCall
                info.price.perInputToken = metadata.price.perInputToken
                info.price.perOutputToken = metadata.price.perOutputToken
                info.contextWindow = metadata.contextWindow
                info.tags = metadata.tags
            }
            var observed: UInt64 = 0
            if let queryLLM {
                snapshot.forEachEdge(of: id, direction: .incoming) { edge, _ in
                    if edge.record.type == queryLLM { observed += 1 }
                    return true
                }
            }
            info.observedOutcomes = observed
            response.llms.append(info)
        }
        if let bytes = database.document(RouterSchema.modelDocument), let model = try? RouterModel(serialized: bytes) {
            response.modelTrained = true
            response.modelTrainedAtMs = model.header.trainedAtMs
            response.validationLoss = model.header.validationLoss
            response.priorOnlyValidationLoss = model.header.priorOnlyValidationLoss
            response.embedder = model.header.embedder
        } else {
            response.embedder = (embedding.nodeTextProvider ?? .hashed).rawValue
        }
        return response
    }

    // MARK: Tasks

    /// A task's stored settings; nil when it has none (or they do not decode).
    func taskSettings(_ task: String) -> TaskSettings? {
        database.document(RouterSchema.taskDocumentPrefix + task).flatMap { try? JSONDecoder().decode(TaskSettings.self, from: Data($0)) }
    }

    private func taskDocument(_ task: String, _ settings: TaskSettings) throws -> (name: String, value: [UInt8]?) {
        (RouterSchema.taskDocumentPrefix + task, Array(try JSONEncoder().encode(settings)))
    }

    /// The settings a task created now is written with: the daemon's default, so
    /// that a later default does not change how its stored queries were cut; nil
    /// when settings under its name exist already.
    private func defaultSettingsDocument(newTask task: String) throws -> (name: String, value: [UInt8]?)? {
        taskSettings(task) == nil ? try taskDocument(task, TaskSettings(queryText: defaultQueryText)) : nil
    }

    /// The part of a prompt that identifies `task`'s queries.
    func queryTextFocus(task: String) -> QueryTextFocus { taskSettings(task)?.queryText ?? defaultQueryText }

    func setTask(_ request: Graphd_V1_SetTaskRequest) async throws -> Graphd_V1_SetTaskResponse {
        guard request.hasTask else { throw RPCError(.invalidArgument, "task is required") }
        let info = request.task
        try requireNamed(RouterSchema.taskType, name: info.name, description: info.description_p)
        let focus: QueryTextFocus?
        switch info.queryText {
        case .unspecified: focus = nil
        case .full: focus = .full
        case .lastBlock: focus = .lastBlock
        case .UNRECOGNIZED(let value): throw RPCError(.invalidArgument, "task.query_text \(value) is not a QueryText value")
        }
        try await ensureSchema()
        let existed = taskNode(info.name, in: database.snapshot) != nil
        var nodes: [NodeInput] = []
        if !existed || !info.description_p.isEmpty {
            nodes.append(NodeInput(type: RouterSchema.taskType, key: info.name,
                                   text: info.description_p.isEmpty ? info.name : info.description_p))
            try embedding.fillNodeVectors(&nodes, schema: database.snapshot.schema)
        }
        var documents: [(name: String, value: [UInt8]?)] = []
        if let focus {
            documents.append(try taskDocument(info.name, TaskSettings(queryText: focus)))
        } else if !existed, let pinned = try defaultSettingsDocument(newTask: info.name) {
            documents.append(pinned)
        }
        // The node and its settings in one transaction.
        _ = try await database.addNodes(nodes, documents: documents)
        wrote()
        let snapshot = database.snapshot
        guard let id = taskNode(info.name, in: snapshot) else { throw RPCError(.internal, "task '\(info.name)' is missing after its write") }
        var response = Graphd_V1_SetTaskResponse()
        response.task = taskInfo(id, snapshot: snapshot)
        response.created = !existed
        return response
    }

    func listTasks() throws -> Graphd_V1_ListTasksResponse {
        let snapshot = database.snapshot
        var response = Graphd_V1_ListTasksResponse()
        response.defaultQueryText = Graphd_V1_QueryText(defaultQueryText)
        guard let taskType = snapshot.schema.nodeTypeID(RouterSchema.taskType) else { return response }
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) && snapshot.nodes.type(of: id) == taskType {
            response.tasks.append(taskInfo(id, snapshot: snapshot))
        }
        response.tasks.sort { $0.name < $1.name }
        return response
    }

    private func taskNode(_ name: String, in snapshot: GraphSnapshot) -> UInt32? {
        snapshot.schema.nodeTypeID(RouterSchema.taskType).flatMap { snapshot.nodes.id(of: NodeKey(type: $0, key: name)) }
    }

    /// A task node's name, description, setting and number of queries.
    private func taskInfo(_ id: UInt32, snapshot: GraphSnapshot) -> Graphd_V1_TaskInfo {
        var info = Graphd_V1_TaskInfo()
        guard let record = snapshot.nodes.record(id) else { return info }
        info.name = record.key
        info.description_p = record.text ?? ""
        info.queryText = Graphd_V1_QueryText(queryTextFocus(task: record.key))
        if let taskQuery = snapshot.schema.edgeTypeID(RouterSchema.taskQuery) {
            var queries: UInt64 = 0
            snapshot.forEachEdge(of: id, direction: .outgoing) { edge, _ in
                if edge.record.type == taskQuery { queries += 1 }
                return true
            }
            info.queries = queries
        }
        return info
    }

    func feedback(_ request: Graphd_V1_FeedbackRequest) async throws -> Graphd_V1_FeedbackResponse {
        guard !request.outcomes.isEmpty else { throw RPCError(.invalidArgument, "outcomes is empty") }
        guard request.outcomes.count <= RouterSchema.maxOutcomes else {
            throw RPCError(.invalidArgument, "more than \(RouterSchema.maxOutcomes) outcomes")
        }
        guard request.query.utf8.count <= RouterSchema.maxQueryBytes else {
            throw RPCError(.invalidArgument, "query is longer than \(RouterSchema.maxQueryBytes) bytes")
        }
        // What is stored, embedded and keyed is the part of the text that identifies the query.
        let text = (request.task.isEmpty ? defaultQueryText : queryTextFocus(task: request.task)).identifyingText(request.query)
        guard request.query.isEmpty || Self.hasContent(text) else { throw RPCError(.invalidArgument, "query holds only whitespace") }
        let steps = request.hasUpdateSteps ? Int(request.updateSteps) : 5
        guard steps <= 100 else { throw RPCError(.invalidArgument, "update_steps = \(steps) is above 100") }
        let snapshot = database.snapshot
        for (i, outcome) in request.outcomes.enumerated() {
            guard outcome.effect.isFinite, (0...1).contains(outcome.effect) else {
                throw RPCError(.invalidArgument, "outcomes[\(i)].effect \(outcome.effect) is outside [0, 1]")
            }
            if outcome.hasCost, !(outcome.cost.isFinite && outcome.cost >= 0) {
                throw RPCError(.invalidArgument, "outcomes[\(i)].cost must be finite and non-negative")
            }
            if outcome.hasLatencyMs, !(outcome.latencyMs.isFinite && outcome.latencyMs >= 0) {
                throw RPCError(.invalidArgument, "outcomes[\(i)].latency_ms must be finite and non-negative")
            }
            guard outcome.answer.utf8.count <= RouterSchema.maxQueryBytes else {
                throw RPCError(.invalidArgument, "outcomes[\(i)].answer is longer than \(RouterSchema.maxQueryBytes) bytes")
            }
            guard let llmType = snapshot.schema.nodeTypeID(RouterSchema.llmType),
                  snapshot.nodes.id(of: NodeKey(type: llmType, key: outcome.llm)) != nil else {
                throw RPCError(.notFound, "outcomes[\(i)].llm '\(outcome.llm)' is not a registered LLM")
            }
        }
        var key = request.queryKey
        if key.isEmpty {
            guard !text.isEmpty else { throw RPCError(.invalidArgument, "query_key or query text is required") }
            var hasher = StableHash()
            hasher.add(text)
            key = "q-" + String(hasher.value, radix: 16)
        }
        try requireRef(type: RouterSchema.queryType, key: key, field: "query_key")
        if !request.task.isEmpty { try requireRef(type: RouterSchema.taskType, key: request.task, field: "task") }
        let queryType = snapshot.schema.nodeTypeID(RouterSchema.queryType)
        let existing = queryType.flatMap { snapshot.nodes.id(of: NodeKey(type: $0, key: key)) }
        let exists = existing != nil
        guard exists || !text.isEmpty || !request.vector.isEmpty else {
            throw RPCError(.invalidArgument, "query '\(key)' is not in the graph: send its text or vector")
        }
        if !request.vector.isEmpty, !request.vector.allSatisfy(\.isFinite) {
            throw RPCError(.invalidArgument, "vector holds a non-finite value")
        }
        try await ensureSchema()

        var nodes: [NodeInput] = []
        if !text.isEmpty || !request.vector.isEmpty {
            nodes.append(NodeInput(type: RouterSchema.queryType, key: key, text: text.isEmpty ? nil : text, features: request.vector))
        }
        var documents: [(name: String, value: [UInt8]?)] = []
        if !request.task.isEmpty, taskNode(request.task, in: snapshot) == nil {
            nodes.append(NodeInput(type: RouterSchema.taskType, key: request.task, text: request.task))
            if let pinned = try defaultSettingsDocument(newTask: request.task) { documents.append(pinned) }
        }
        try embedding.fillNodeVectors(&nodes, schema: database.snapshot.schema)
        let queryRef = NodeRefInput(type: RouterSchema.queryType, key: key)
        var edges: [EdgeInput] = []
        if !request.task.isEmpty {
            edges.append(EdgeInput(type: RouterSchema.taskQuery, source: NodeRefInput(type: RouterSchema.taskType, key: request.task), target: queryRef))
        }
        // Answers are read against the query's options: the text sent, else the stored one.
        let questionText = text.isEmpty ? existing.flatMap { snapshot.nodes.record($0)?.text } : text
        let question = request.outcomes.contains { !$0.answer.isEmpty } ? questionText.flatMap(ChoiceQuestion.init(parsing:)) : nil
        for outcome in request.outcomes {
            var attributes: [(name: String, value: Double)] = [(RouterSchema.effectAttribute, outcome.effect)]
            if outcome.hasCost { attributes.append((RouterSchema.costAttribute, outcome.cost)) }
            if outcome.hasLatencyMs { attributes.append((RouterSchema.latencyAttribute, outcome.latencyMs)) }
            if let option = question?.option(namedBy: outcome.answer) {
                attributes.append((RouterSchema.answerAttribute, Double(option)))
            }
            edges.append(EdgeInput(type: RouterSchema.queryLLM, source: queryRef,
                                   target: NodeRefInput(type: RouterSchema.llmType, key: outcome.llm), attributes: attributes))
        }
        // One transaction: a refused outcome leaves no query or task node behind.
        let plan = try await database.addNodesAndEdges(nodes, edges: edges, requireExistingNodes: true, documents: documents)
        outcomesChanged()
        var response = Graphd_V1_FeedbackResponse()
        response.queryKey = key
        response.edgesWritten = UInt32(plan.insertedEdges.count)
        if steps > 0, database.document(RouterSchema.modelDocument) != nil {
            queueOnlineUpdate(queryKey: key, steps: steps)
            response.updateQueued = true
        }
        return response
    }

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

    /// Marks the cached view stale after a write of this service that the next Route must see.
    private func wrote() { generation.wrappingAdd(1, ordering: .releasing) }


    /// A few Adam steps on some queries' outcomes, off the cooperative pool;
    /// stores the updated weights.
    private func onlineUpdate(queryKeys: Set<String>, steps: Int) async throws {
        guard let bytes = database.document(RouterSchema.modelDocument) else { return }
        let snapshot = database.snapshot
        let database = self.database
        let model = try await jobs.perform(.routerTraining) { _ throws -> RouterModel? in
            var model = try RouterModel(serialized: bytes)
            let extracted = try RouterGraphExtractor.extract(snapshot: snapshot, dimension: model.header.dimension, database: database)
            let queries = Set(queryKeys.compactMap { extracted.queryIndex[$0] })
            guard !queries.isEmpty else { return nil }
            model.parameters = try RouterTrainer.fineTune(model.parameters, graph: extracted.graph, queries: queries, steps: steps,
                                                          config: model.header.training)
            return model
        }
        guard let model else { return }
        try await database.putDocuments([(RouterSchema.modelDocument, try model.serialized())])
        outcomesChanged()
    }

    // MARK: Train

    func train(_ request: Graphd_V1_TrainRouterRequest, deadline: ContinuousClock.Instant? = nil) async throws -> Graphd_V1_TrainRouterResponse {
        var config = RouterTrainingConfig()
        if request.maxEpochs > 0 { config.maxEpochs = Int(min(request.maxEpochs, RouterSchema.maxEpochs)) }
        if request.seed > 0 { config.seed = request.seed }
        if request.learningRate != 0 {
            guard request.learningRate.isFinite, request.learningRate > 0, request.learningRate < 1 else {
                throw RPCError(.invalidArgument, "learning_rate must be in (0, 1)")
            }
            config.learningRate = request.learningRate
        }
        let provider = embedding.nodeTextProvider ?? .hashed
        let dimension = try embedding.registry.embedder(provider).dimension
        // An online update holds the weights for moments, at most once a second: wait for it.
        while let holder = modelJob.tryBegin(.training) {
            guard holder == .onlineUpdate else {
                throw RPCError(.failedPrecondition, "router training is already running; try again when it ends")
            }
            logger.info("router training waits for the online update to end")
            await modelJob.waitUntilFree()
            try Task.checkCancellation()
        }
        defer { modelJob.end() }
        return try await trainingProgress.run(maxEpochs: config.maxEpochs) { ticket in
            let start = ContinuousClock.now
            let extracted = try RouterGraphExtractor.extract(snapshot: database.snapshot, dimension: dimension, database: database)
            let logger = self.logger, progress = trainingProgress
            let graph = extracted.graph, settings = config
            // Training runs as a background job, not on a thread of the cooperative pool; a
            // cancelled call or the daemon's shutdown stops it.
            let cancelled = Mutex(false)
            let result: RouterTrainingResult
            do {
                result = try await withTaskCancellationHandler {
                    try await jobs.perform(.routerTraining, isCancelled: { cancelled.withLock { $0 } }) { job in
                        try RouterTrainer.train(graph, config: settings, isCancelled: { job.isCancelled }) { p in
                            progress.report(ticket, epoch: p.epoch, trainingLoss: p.trainingLoss, validationLoss: p.validationLoss)
                            if p.epoch % 20 == 0 {
                                logger.info("router training", metadata: ["epoch": "\(p.epoch)", "training_loss": "\(p.trainingLoss)",
                                                                          "validation_loss": "\(p.validationLoss)", "best": "\(p.bestValidationLoss)"])
                            }
                        }
                    }
                } onCancel: {
                    cancelled.withLock { $0 = true }
                }
            } catch let error as RoutingError where error.kind == .cancelled {
                throw stoppedEarly(error.description, deadline: deadline, jobs: jobs)
            }
            let model = RouterModel(result: result, embedder: provider.rawValue, training: config,
                                    trainedAtMs: Int64(Date().timeIntervalSince1970 * 1000))
            try await database.putDocuments([(RouterSchema.modelDocument, try model.serialized())])
            wrote()
            let seconds = (ContinuousClock.now - start).seconds
            logger.info("router trained", metadata: ["epochs": "\(result.epochs)", "best_epoch": "\(result.bestEpoch)",
                                                          "validation_loss": "\(result.validationLoss)",
                                                          "rates_only_validation_loss": "\(result.priorOnlyValidationLoss)",
                                                          "seconds": "\(seconds)"])
            var response = Graphd_V1_TrainRouterResponse()
            response.epochs = UInt32(result.epochs)
            response.bestEpoch = UInt32(result.bestEpoch)
            response.validationLoss = result.validationLoss
            response.priorOnlyValidationLoss = result.priorOnlyValidationLoss
            response.trainingQueries = UInt32(result.trainingQueries)
            response.validationQueries = UInt32(result.validationQueries)
            response.seconds = seconds
            return response
        }
    }
}

/// Reads the router's part of a snapshot into a `RouterGraph`.
enum RouterGraphExtractor {
    struct Extracted {
        var graph: RouterGraph
        var taskIndex: [String: Int] = [:]
        var llmIndex: [String: Int] = [:]
        var queryIndex: [String: Int] = [:]
    }

    static func metadata(_ llm: String, database: GraphDatabase) -> LLMMetadata? {
        database.document(RouterSchema.llmDocumentPrefix + llm).flatMap { try? JSONDecoder().decode(LLMMetadata.self, from: Data($0)) }
    }

    /// Tasks and LLMs without a vector of `dimension` get zeros (their
    /// outcomes still count); queries without one are left out.
    static func extract(snapshot: GraphSnapshot, dimension: Int, database: GraphDatabase) throws -> Extracted {
        var out = Extracted(graph: RouterGraph(dimension: dimension))
        let schema = snapshot.schema
        guard let taskType = schema.nodeTypeID(RouterSchema.taskType), let llmType = schema.nodeTypeID(RouterSchema.llmType),
              let queryType = schema.nodeTypeID(RouterSchema.queryType) else { return out }
        let taskQuery = schema.edgeTypeID(RouterSchema.taskQuery), queryLLM = schema.edgeTypeID(RouterSchema.queryLLM)
        let effectID = schema.attributeID(RouterSchema.effectAttribute), costID = schema.attributeID(RouterSchema.costAttribute)
        let latencyID = schema.attributeID(RouterSchema.latencyAttribute), answerID = schema.attributeID(RouterSchema.answerAttribute)
        var nodeToTask: [UInt32: Int] = [:], nodeToLLM: [UInt32: Int] = [:]
        var queryNodes: [UInt32] = []
        let zeros = [Float](repeating: 0, count: dimension)
        func vector(_ record: NodeRecord) -> [Float]? {
            guard let f = record.features, f.count == dimension else { return nil }
            return f
        }
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) {
            let type = snapshot.nodes.type(of: id)
            guard type == taskType || type == llmType || type == queryType, let record = snapshot.nodes.record(id) else { continue }
            if type == taskType {
                nodeToTask[id] = out.graph.tasks.count
                out.taskIndex[record.key] = out.graph.tasks.count
                out.graph.tasks.append(RouterGraph.Task(name: record.key, features: vector(record) ?? zeros))
            } else if type == llmType {
                nodeToLLM[id] = out.graph.llms.count
                out.llmIndex[record.key] = out.graph.llms.count
                out.graph.llms.append(RouterGraph.LLM(name: record.key, features: vector(record) ?? zeros,
                                                      pricing: metadata(record.key, database: database)?.price ?? LLMPricing()))
            } else if let features = vector(record) {
                out.queryIndex[record.key] = out.graph.queries.count
                queryNodes.append(id)
                out.graph.queries.append(RouterGraph.Query(task: nil, features: features,
                                                           promptTokens: Double(record.text?.utf8.count ?? 0) / 4,
                                                           text: record.text))
            }
        }
        for (q, node) in queryNodes.enumerated() {
            // Only a question with an answer fed back is read as one (`VariantAnswerModel`
            // uses labelled questions alone): most gateway queries carry none, and a
            // rebuild passes over every query.
            var parsed = false
            func choices() -> ChoiceQuestion? {
                if !parsed {
                    out.graph.queries[q].choices = out.graph.queries[q].text.flatMap(ChoiceQuestion.init(parsing:))
                    parsed = true
                }
                return out.graph.queries[q].choices
            }
            snapshot.forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
                let record = edge.record
                if record.type == taskQuery, !nodeIsSource, let t = nodeToTask[record.source] {
                    out.graph.queries[q].task = t
                } else if record.type == queryLLM, nodeIsSource, let m = nodeToLLM[record.target] {
                    var effect: Float?, cost: Double?, latency: Double?, answer: Int?
                    for attribute in record.attributes {
                        if attribute.id == effectID { effect = Float(attribute.value) }
                        if attribute.id == costID { cost = attribute.value }
                        if attribute.id == latencyID { latency = attribute.value }
                        // Only an option of the query's own question counts (the attribute is anyone's to write).
                        if attribute.id == answerID, let options = choices()?.options.count,
                           attribute.value >= 0, attribute.value < Double(options), attribute.value == attribute.value.rounded() {
                            answer = Int(attribute.value)
                        }
                    }
                    if let effect, (0...1).contains(effect) {
                        out.graph.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: effect, cost: cost, latencyMs: latency,
                                                                      answer: answer))
                    }
                }
                return true
            }
        }
        return out
    }
}

extension Graphd_V1_QueryText {
    init(_ focus: QueryTextFocus) {
        switch focus {
        case .full: self = .full
        case .lastBlock: self = .lastBlock
        }
    }
}
