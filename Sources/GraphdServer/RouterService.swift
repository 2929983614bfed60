import Foundation
import GraphStore
import Logging
import Replication
import GraphdProto
import Routing
import Synchronization
import TTRPC
import TextEmbedding

/// graphd.v1.Router: protobuf ⇄ `Router`. The router (its view cache, writes,
/// online updates and training) lives in the Routing module; this maps its
/// requests and answers, and reports training progress.
public final class RouterService: Sendable {
    public let router: Router
    /// The store the router writes to, whose log sequence write replies carry.
    let database: GraphDatabase
    /// The running (or last) Train job, for TrainProgress.
    private let trainingProgress = TrainingMonitor(model: "router")

    public init(database: GraphDatabase, router: Router) {
        self.router = router
        self.database = database
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        // Route answers on the connection's event loop when it can: a decision takes
        // microseconds, and a hop to another thread would cost more. Embedding the
        // query with MiniLM, or rebuilding a stale view, takes milliseconds: those
        // requests compute off the loop. Both read the graph once, in the pass.
        dispatcher.registerCompute(.route, prepare: { [router] (request: Graphd_V1_RouteRequest) in
            let pass = router.beginRoute()
            return (pass, isLong: !pass.isQuick(vectorSupplied: !request.vector.isEmpty))
        }) { request, pass, _ in
            try self.route(request, pass: pass)
        }
        dispatcher.registerCompute(.feedback) { (request: Graphd_V1_FeedbackRequest, _) in try await self.feedback(request) }
        dispatcher.registerCompute(.addLLM) { (request: Graphd_V1_AddLLMRequest, _) in try await self.addLLM(request) }
        dispatcher.registerInline(.listLLMs) { (_: Graphd_V1_ListLLMsRequest, _) in self.listLLMs() }
        dispatcher.register(.removeLLM) { (request: Graphd_V1_RemoveLLMRequest, _) in
            try await self.router.removeLLM(request.name)
            var response = Graphd_V1_RemoveLLMResponse()
            response.logSequence = self.database.appliedLogSequence
            return response
        }
        dispatcher.registerCompute(.train) { (request: Graphd_V1_TrainRouterRequest, context) in
            try await self.train(request, deadline: context.deadline)
        }
        dispatcher.registerInline(.trainProgress) { (_: Graphd_V1_TrainingProgressRequest, _) in
            self.trainingProgress.current
        }
        dispatcher.registerCompute(.setTask) { (request: Graphd_V1_SetTaskRequest, _) in try await self.setTask(request) }
        dispatcher.registerInline(.listTasks) { (_: Graphd_V1_ListTasksRequest, _) in self.listTasks() }
    }

    // MARK: Route

    static func routeRequest(_ request: Graphd_V1_RouteRequest) -> RouteRequest {
        var mapped = RouteRequest(prompt: request.query, objective: request.willingnessToPay != 0
            ? .willingnessToPay(request.willingnessToPay)
            : .weights(performance: request.performanceWeight, cost: request.costWeight))
        mapped.vector = request.vector
        mapped.task = request.task
        mapped.promptTokens = request.promptTokens
        mapped.allowedLLMs = request.allowedLlms
        mapped.maxCost = request.maxCost
        mapped.maxLatencyMs = request.maxLatencyMs
        if request.hasExploreMaxRegret {
            mapped.exploration = request.exploreMaxRegret == 0 ? .off
                : .on(RouteExploration(maxRegret: request.exploreMaxRegret, seed: request.exploreSeed == 0 ? nil : request.exploreSeed))
        }
        return mapped
    }

    func route(_ request: Graphd_V1_RouteRequest, pass: Router.Pass? = nil) throws -> Graphd_V1_RouteResponse {
        let answer = try router.route(Self.routeRequest(request), pass: pass)
        var response = Graphd_V1_RouteResponse()
        response.llm = answer.llm
        response.ranked = answer.ranked.map { c in
            var candidate = Graphd_V1_RouteCandidate()
            candidate.llm = c.llm
            candidate.effect = c.effect
            candidate.cost = c.cost
            candidate.normalizedCost = c.normalizedCost
            candidate.score = c.score
            if let latency = c.latencyMs { candidate.latencyMs = latency }
            return candidate
        }
        response.fallback = answer.fallback
        if let task = answer.task { response.task = task }
        response.taskInferred = answer.taskInferred
        response.model = answer.trained ? "gnn" : "rates"
        response.decisionMicros = answer.decisionMicros
        response.effectsFromVariant = answer.effectsFromVariant
        response.llmsObservedOnText = UInt32(answer.llmsObservedOnText)
        response.queryText = Graphd_V1_QueryText(answer.queryText)
        if let id = answer.decisionID { response.decisionID = id }
        response.exploratory = answer.exploratory
        return response
    }

    // MARK: LLMs and tasks

    func addLLM(_ request: Graphd_V1_AddLLMRequest) async throws -> Graphd_V1_AddLLMResponse {
        guard request.hasLlm else { throw RPCError(.invalidArgument, "llm is required") }
        let info = request.llm
        let price = LLMPricing(perCall: info.price.perCall, perInputToken: info.price.perInputToken, perOutputToken: info.price.perOutputToken)
        var response = Graphd_V1_AddLLMResponse()
        response.created = try await router.addLLM(LLMRegistration(name: info.name, description: info.description_p, price: price,
                                                                   contextWindow: info.contextWindow, tags: info.tags))
        response.logSequence = database.appliedLogSequence
        return response
    }

    func listLLMs() -> Graphd_V1_ListLLMsResponse {
        let catalog = router.catalog
        var response = Graphd_V1_ListLLMsResponse()
        response.llms = catalog.llms().map { llm in
            var info = Graphd_V1_LLMInfo()
            info.name = llm.name
            info.description_p = llm.description
            if let metadata = llm.metadata {
                info.price.perCall = metadata.price.perCall
                info.price.perInputToken = metadata.price.perInputToken
                info.price.perOutputToken = metadata.price.perOutputToken
                info.contextWindow = metadata.contextWindow
                info.tags = metadata.tags
            }
            info.observedOutcomes = llm.observedOutcomes
            return info
        }
        // A model that does not decode shows as none, as Route would refuse it.
        if let model = try? catalog.model() {
            response.modelTrained = true
            response.modelTrainedAtMs = model.header.trainedAtMs
            response.validationLoss = model.header.validationLoss
            response.priorOnlyValidationLoss = model.header.priorOnlyValidationLoss
            response.embedder = model.header.embedder
        } else {
            response.embedder = router.nodeTextEmbedder.rawValue
        }
        return response
    }

    func setTask(_ request: Graphd_V1_SetTaskRequest) async throws -> Graphd_V1_SetTaskResponse {
        guard request.hasTask else { throw RPCError(.invalidArgument, "task is required") }
        let info = request.task
        let focus: QueryTextFocus?
        switch info.queryText {
        case .unspecified: focus = nil
        case .full: focus = .full
        case .lastBlock: focus = .lastBlock
        case .UNRECOGNIZED(let value): throw RPCError(.invalidArgument, "task.query_text \(value) is not a QueryText value")
        }
        let (task, created) = try await router.setTask(name: info.name, description: info.description_p, queryText: focus)
        var response = Graphd_V1_SetTaskResponse()
        response.task = Graphd_V1_TaskInfo(task)
        response.created = created
        response.logSequence = database.appliedLogSequence
        return response
    }

    func listTasks() -> Graphd_V1_ListTasksResponse {
        var response = Graphd_V1_ListTasksResponse()
        response.defaultQueryText = Graphd_V1_QueryText(router.defaultQueryText)
        response.tasks = router.catalog.tasks(defaultQueryText: router.defaultQueryText).map(Graphd_V1_TaskInfo.init)
        return response
    }

    // MARK: Feedback

    func feedback(_ request: Graphd_V1_FeedbackRequest) async throws -> Graphd_V1_FeedbackResponse {
        var report = FeedbackReport()
        report.query = request.query
        report.decisionID = request.decisionID
        report.queryKey = request.queryKey
        report.task = request.task
        report.vector = request.vector
        report.updateSteps = request.hasUpdateSteps ? Int(request.updateSteps) : nil
        report.outcomes = request.outcomes.map { outcome in
            FeedbackReport.Outcome(llm: outcome.llm, effect: outcome.effect, cost: outcome.hasCost ? outcome.cost : nil,
                                   latencyMs: outcome.hasLatencyMs ? outcome.latencyMs : nil, answer: outcome.answer)
        }
        let receipt = try await router.feedback(report)
        var response = Graphd_V1_FeedbackResponse()
        response.queryKey = receipt.queryKey
        response.edgesWritten = UInt32(receipt.edgesWritten)
        response.updateQueued = receipt.updateQueued
        response.logSequence = database.appliedLogSequence
        return response
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
        // The job shows in TrainProgress once it holds the weights: a refused second
        // Train leaves the running job's figures alone.
        let monitor = trainingProgress, maxEpochs = config.maxEpochs
        let ticket = Mutex<TrainingMonitor.Ticket?>(nil)
        let report: RouterTrainingReport
        do {
            report = try await router.train(config, started: { ticket.withLock { $0 = monitor.begin(maxEpochs: maxEpochs) } }) { p in
                guard let current = ticket.withLock({ $0 }) else { return }
                monitor.report(current, epoch: p.epoch, trainingLoss: p.trainingLoss, validationLoss: p.validationLoss)
            }
        } catch {
            let failure: any Error = if let error = error as? RoutingError, error.kind == .cancelled {
                stoppedEarly(error.description, deadline: deadline, jobs: router.jobs)
            } else {
                error
            }
            if let current = ticket.withLock({ $0 }) { monitor.end(current, failure: failure) }
            throw failure
        }
        if let current = ticket.withLock({ $0 }) { monitor.end(current, failure: nil) }
        let result = report.result
        var response = Graphd_V1_TrainRouterResponse()
        response.epochs = UInt32(result.epochs)
        response.bestEpoch = UInt32(result.bestEpoch)
        response.validationLoss = result.validationLoss
        response.priorOnlyValidationLoss = result.priorOnlyValidationLoss
        response.trainingQueries = UInt32(result.trainingQueries)
        response.validationQueries = UInt32(result.validationQueries)
        response.seconds = report.seconds
        response.logSequence = database.appliedLogSequence
        return response
    }
}

extension Graphd_V1_TaskInfo {
    init(_ task: TaskSummary) {
        self.init()
        name = task.name
        description_p = task.description
        queryText = Graphd_V1_QueryText(task.queryText)
        queries = task.queries
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

/// graphd's database is where the router reads and writes.
extension GraphDatabase: RouterStore {}

extension EmbeddingConfiguration: RouterEmbedding {
    public var nodeTextEmbedder: EmbeddingProvider { nodeTextProvider ?? .hashed }
    public func embedder(_ provider: EmbeddingProvider) throws -> any TextEmbedder { try registry.embedder(provider) }
}

/// Route's decisions in the replication group's expiring bucket, as JSON.
struct BucketDecisionArchive: DecisionArchive {
    let bucket: ExpiringBucket
    let logger: Logger

    func archive(id: String, decision: RecordedDecision) {
        do {
            try bucket.put(id, Array(try JSONEncoder().encode(decision)))
        } catch {
            // Late feedback on this decision then answers NOT_FOUND elsewhere; Route is not failed for it.
            logger.warning("cannot archive a Route decision", metadata: ["decision_id": "\(id)", "error": "\(error)"])
        }
    }

    func fetch(id: String) async throws -> RecordedDecision? {
        let bucket = self.bucket
        let found: [UInt8]?
        do {
            found = try await OffPool.run { try bucket.get(id) }
        } catch {
            throw RPCError(.unavailable, "cannot look decision \(id) up in \(bucket.bucket) (NATS): \(error)")
        }
        guard let bytes = found else { return nil }
        do {
            return try JSONDecoder().decode(RecordedDecision.self, from: Data(bytes))
        } catch {
            throw RPCError(.internal, "decision \(id) in \(bucket.bucket) does not decode: \(error)")
        }
    }
}
