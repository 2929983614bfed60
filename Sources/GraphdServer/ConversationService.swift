import BackgroundWork
import Conversational
import Foundation
import GraphAlgorithms
import GraphCore
import GraphStore
import GraphdProto
import Logging
import Synchronization
import TTRPC

/// graphd.v1.Conversation: G-CRS retrieval for a dialogue (candidates, similar
/// conversations, prompt) over the conversation–entity–item graph. Reads a
/// snapshot only; the entity index is rebuilt when the parts of the graph it
/// reads change: in the background while the graph only grew (live dialogues
/// added), on the request path when something it names was removed.
public final class ConversationService: Sendable {
    public let database: GraphDatabase
    /// Conversations stored again under their key (AddConversation): their text
    /// changed in place, so the index's word search is rebuilt.
    private let rewrittenConversations = Atomic<Int>(0)
    /// The entity index; rebuilt aside while the graph only grew.
    private let indexes: RebuiltAside<ConversationIndex.Version, ConversationIndex>
    /// The stored reasoner laid onto the graph, keyed by the stored bytes and the
    /// knowledge graph it was laid on (`ConversationIndex.Version.knowledgeGraph`:
    /// live dialogues do not change it); rebuilt aside while the KG only grew.
    private let reasoners: RebuiltAside<ReasonerVersion, ReasonerModel>
    private static let logger = Logger(label: "graphd.conversation")
    private static func logFailedRebuild(_ what: String, _ error: any Error) {
        logger.warning("\(what) rebuild failed; the next Retrieve rebuilds it", metadata: ["error": "\(error)"])
    }
    struct ReasonerVersion: Equatable, Sendable {
        var stored: [UInt8]
        var graph: ConversationIndex.Version
    }
    /// Training runs as `.reasonerTraining` jobs, one at a time, off the event loops
    /// and the cooperative pool; the daemon's shutdown stops one at its next epoch.
    let jobs: BackgroundJobs
    private let walks = WalkViewCache()
    private let engine = PersonalizedPageRank()
    /// The running (or last) TrainReasoner job, for TrainReasonerProgress.
    private let trainingProgress = TrainingMonitor(model: "reasoner")

    public init(database: GraphDatabase, jobs: BackgroundJobs) {
        self.database = database
        self.jobs = jobs
        indexes = RebuiltAside(jobs: jobs, kind: .conversationIndex, mayStandIn: { $0.onlyGrew(to: $1) },
                               failedAside: { Self.logFailedRebuild("entity index", $0) })
        reasoners = RebuiltAside(jobs: jobs, kind: .reasonerLayout,
                                 mayStandIn: { $0.stored == $1.stored && $0.graph.onlyGrew(to: $1.graph) },
                                 failedAside: { Self.logFailedRebuild("reasoner", $0) })
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        dispatcher.registerCompute(.retrieve) { [self] (request: Graphd_V1_RetrieveRequest, _) in
            try retrieve(request)
        }
        dispatcher.registerCompute(.trainReasoner) { [self] (request: Graphd_V1_TrainReasonerRequest, context) in
            try await trainReasoner(request, deadline: context.deadline)
        }
        dispatcher.registerCompute(.addConversation) { [self] (request: Graphd_V1_AddConversationRequest, _) in
            try await addConversation(request)
        }
        dispatcher.registerInline(.trainReasonerProgress) { [self] (_: Graphd_V1_TrainingProgressRequest, _) in
            trainingProgress.current
        }
    }

    func retrieve(_ request: Graphd_V1_RetrieveRequest) throws -> Graphd_V1_RetrieveResponse {
        guard request.turns.count <= ConversationRetriever.maxTurns else {
            throw RPCError(.invalidArgument, "\(request.turns.count) turns; at most \(ConversationRetriever.maxTurns)")
        }
        let snapshot = database.snapshot
        let index = try currentIndex(for: snapshot)
        var query = RetrievalQuery(turns: try Self.retrievalTurns(request.turns, snapshot: snapshot, index: index))
        if request.k != 0 { query.k = Int(request.k) }
        query.n = Int(request.n)
        query.linkText = !request.skipTextLinking
        query.includeMentioned = request.includeMentioned
        if request.hasRestart { query.restart = request.restart }
        if request.hasRecencyDecay { query.recencyDecay = request.recencyDecay }
        if request.hasTextSeeds { query.textSeeds = Int(request.textSeeds) }
        if request.hasTextSeedShare { query.textSeedShare = request.textSeedShare }
        var model: ReasonerModel? = nil
        if request.useReasoner {
            guard request.reasonerSeeds <= 100 else { throw RPCError(.invalidArgument, "reasoner_seeds = \(request.reasonerSeeds) is outside 1…100") }
            let weight = request.hasReasonerWeight ? request.reasonerWeight : ReasonerModel.defaultSeedWeight
            guard weight.isFinite, weight > 0 else { throw RPCError(.invalidArgument, "reasoner_weight = \(weight) must be positive") }
            model = try currentReasoner(for: snapshot, index: index)
            model?.seedCount = request.reasonerSeeds == 0 ? ReasonerModel.defaultSeedCount : Int(request.reasonerSeeds)
            model?.seedWeight = weight
        }
        let view = walks.view(of: snapshot, filter: index.walkFilter)
        let result = try ConversationRetriever.retrieve(query, snapshot: snapshot, index: index, view: view, reasoner: model, engine: engine)

        var response = Graphd_V1_RetrieveResponse()
        response.candidates = result.candidates.map { candidate in
            var message = Graphd_V1_Candidate()
            message.item = protoRef(candidate.node, snapshot: snapshot)
            message.name = candidate.name
            message.score = candidate.score
            message.provenance = switch candidate.provenance {
            case .ppr: .ppr
            case .reasoner: .reasoner
            case .both: .both
            case .popularity: .popularity
            }
            message.description_p = candidate.description
            return message
        }
        response.similar = result.similar.map { similar in
            var message = Graphd_V1_SimilarConversation()
            message.conversation = protoRef(similar.node, snapshot: snapshot)
            message.score = similar.score
            message.recommended = similar.recommended.map { protoRef($0, snapshot: snapshot) }
            message.excerpt = similar.excerpt
            return message
        }
        response.linked = result.linked.map { Self.protoLinked($0, snapshot: snapshot) }
        var prompt = Graphd_V1_Prompt()
        prompt.system = result.prompt.system
        prompt.dialogue = result.prompt.dialogue
        prompt.candidates = result.prompt.candidates
        prompt.similar = result.prompt.similar
        prompt.instruction = result.prompt.instruction
        prompt.text = result.prompt.text
        response.prompt = prompt
        response.graphVersion = snapshot.version
        return response
    }

    /// The request's turns with the nodes their `entity_keys` name.
    private static func retrievalTurns(_ turns: [Graphd_V1_DialogueTurn], snapshot: GraphSnapshot,
                                       index: ConversationIndex) throws -> [RetrievalTurn] {
        guard turns.count <= ConversationRetriever.maxTurns else {
            throw RPCError(.invalidArgument, "\(turns.count) turns; at most \(ConversationRetriever.maxTurns)")
        }
        return try turns.enumerated().map { t, turn in
            guard turn.entityKeys.count <= 1000 else { throw RPCError(.invalidArgument, "turns[\(t)].entity_keys: more than 1000 keys") }
            let nodes = try turn.entityKeys.enumerated().map { i, key in
                guard let node = index.entityNode(key: key, in: snapshot) else {
                    throw RPCError(.invalidArgument, "turns[\(t)].entity_keys[\(i)]: no entity or item node has key '\(key.prefix(200))'")
                }
                return node
            }
            return RetrievalTurn(role: turn.role, text: turn.text, linkedNodes: nodes)
        }
    }

    private static func protoLinked(_ linked: Retrieval.Linked, snapshot: GraphSnapshot) -> Graphd_V1_LinkedEntity {
        var message = Graphd_V1_LinkedEntity()
        message.node = protoRef(linked.node, snapshot: snapshot)
        message.surface = linked.surface
        message.turn = UInt32(linked.turn)
        return message
    }

    static let maxConversationKeyBytes = 256
    static let maxRecommendedItemKeys = 200

    /// Links the dialogue and writes it as a conversation node with its
    /// `mentions` and `recommended` edges, in one transaction.
    func addConversation(_ request: Graphd_V1_AddConversationRequest) async throws -> Graphd_V1_AddConversationResponse {
        guard !request.key.isEmpty, request.key.utf8.count <= Self.maxConversationKeyBytes else {
            throw RPCError(.invalidArgument, "key must be 1…\(Self.maxConversationKeyBytes) bytes, got \(request.key.utf8.count)")
        }
        guard request.recommendedItemKeys.count <= Self.maxRecommendedItemKeys else {
            throw RPCError(.invalidArgument, "more than \(Self.maxRecommendedItemKeys) recommended_item_keys")
        }
        let snapshot = database.snapshot
        let schema = snapshot.schema
        guard let conversationType = schema.nodeTypeID(ConversationSchema.conversation),
              schema.edgeTypeID(ConversationSchema.mentions) != nil, schema.edgeTypeID(ConversationSchema.recommended) != nil else {
            throw RPCError(.failedPrecondition, "the graph has no conversation node type or no mentions/recommended edge types: "
                           + "import a conversation graph first (graphctl import inspired)")
        }
        let index = try currentIndex(for: snapshot)
        let turns = try Self.retrievalTurns(request.turns, snapshot: snapshot, index: index)
        try ConversationRetriever.validate(turns)
        let linked = ConversationRetriever.link(turns, linkText: !request.skipTextLinking, snapshot: snapshot, index: index)
        let alsoRecommended = try request.recommendedItemKeys.enumerated().map { i, key in
            guard let node = index.entityNode(key: key, in: snapshot), snapshot.nodes.type(of: node) == index.itemType else {
                throw RPCError(.invalidArgument, "recommended_item_keys[\(i)]: no item node has key '\(key.prefix(200))'")
            }
            return node
        }
        func ref(_ node: UInt32) -> NodeRefInput {
            NodeRefInput(type: schema.nodeType(snapshot.nodes.type(of: node)).name, key: snapshot.nodes.key(of: node))
        }
        let namedByTurn = Dictionary(grouping: linked, by: \.turn)
        let record = ConversationRecord(key: request.key, turns: turns.enumerated().map { t, turn in
            let named = (namedByTurn[t] ?? []).map(\.node)
            let recommends = turn.role.uppercased() == "RECOMMENDER"
            return ConversationRecord.Turn(role: turn.role, text: turn.text, mentioned: named.map(ref),
                                           recommended: recommends ? named.filter { snapshot.nodes.type(of: $0) == index.itemType }.map(ref) : [])
        }, alsoRecommended: alsoRecommended.map(ref))
        let textBytes = record.node.text?.utf8.count ?? 0
        guard textBytes <= GraphLimits.maxTextLength else {
            throw RPCError(.invalidArgument, "the dialogue's text is \(textBytes) bytes, a node's text at most \(GraphLimits.maxTextLength): "
                           + "store fewer or shorter turns")
        }
        let existed = snapshot.nodes.id(of: NodeKey(type: conversationType, key: request.key)) != nil
        _ = try await database.addNodesAndEdges([record.node], edges: record.edges, requireExistingNodes: true)
        if existed { rewrittenConversations.add(1, ordering: .releasing) }
        var response = Graphd_V1_AddConversationResponse()
        response.conversation = protoRef(record.conversation)
        response.created = !existed
        response.linked = linked.map { Self.protoLinked($0, snapshot: snapshot) }
        response.mentions = UInt32(record.mentionCount)
        response.recommended = record.recommended.map(protoRef)
        response.graphVersion = database.snapshot.version
        response.logSequence = database.appliedLogSequence
        return response
    }

    /// The index for `snapshot`'s nodes, built on first use and after nodes change.
    private func currentIndex(for snapshot: GraphSnapshot) throws -> ConversationIndex {
        var version = ConversationIndex.Version(of: snapshot)
        version.textRevision = rewrittenConversations.load(ordering: .acquiring)
        return try indexes.value(for: version) {
            try ConversationIndex(snapshot: snapshot)
        } rebuild: { [self] in
            // Read before the snapshot: a rewrite in between only costs one more rebuild.
            let revision = rewrittenConversations.load(ordering: .acquiring)
            let built = try ConversationIndex(snapshot: database.snapshot)
            var version = built.builtFor
            version.textRevision = revision
            return (version, built)
        }
    }

    /// The stored reasoner on `snapshot`'s graph, rebuilt when the stored weights or the nodes change.
    private func currentReasoner(for snapshot: GraphSnapshot, index: ConversationIndex) throws -> ReasonerModel {
        guard let stored = database.document(StoredReasoner.documentName) else {
            throw RPCError(.failedPrecondition, "no reasoner is trained: run 'graphctl train reasoner' (graphd.v1.Conversation/TrainReasoner)")
        }
        return try reasoners.value(for: ReasonerVersion(stored: stored, graph: .knowledgeGraph(of: snapshot))) {
            try Self.layReasoner(stored, on: snapshot, index: index)
        } rebuild: { [self] in
            let snapshot = database.snapshot
            let index = try currentIndex(for: snapshot)
            guard let stored = database.document(StoredReasoner.documentName) else {
                throw RPCError(.failedPrecondition, "the stored reasoner was removed")
            }
            return (ReasonerVersion(stored: stored, graph: .knowledgeGraph(of: snapshot)), try Self.layReasoner(stored, on: snapshot, index: index))
        }
    }

    private static func layReasoner(_ stored: [UInt8], on snapshot: GraphSnapshot, index: ConversationIndex) throws -> ReasonerModel {
        let decoded = try StoredReasoner(serialized: stored)
        let graph = try ReasonerGraph(snapshot: snapshot, index: index)
        return try ReasonerModel(graph: graph, parameters: decoded.parameters(for: graph, snapshot: snapshot))
    }

    func trainReasoner(_ request: Graphd_V1_TrainReasonerRequest, deadline: ContinuousClock.Instant?) async throws -> Graphd_V1_TrainReasonerResponse {
        var config = ReasonerTrainingConfig()
        if request.maxEpochs != 0 { config.maxEpochs = Int(request.maxEpochs) }
        if request.dimension != 0 { config.dimension = Int(request.dimension) }
        if request.learningRate != 0 { config.learningRate = request.learningRate }
        if request.hasEmbeddingDecay { config.embeddingDecay = request.embeddingDecay }
        config.seed = request.seed
        guard (1...2000).contains(config.maxEpochs) else { throw RPCError(.invalidArgument, "max_epochs = \(config.maxEpochs) is outside 1…2000") }
        guard (2...256).contains(config.dimension) else { throw RPCError(.invalidArgument, "dimension = \(config.dimension) is outside 2…256") }
        guard config.learningRate.isFinite, config.learningRate > 0 else { throw RPCError(.invalidArgument, "learning_rate must be positive") }
        guard config.embeddingDecay.isFinite, config.embeddingDecay >= 0 else { throw RPCError(.invalidArgument, "embedding_decay must be ≥ 0") }
        let snapshot = database.snapshot
        let index = try currentIndex(for: snapshot)
        let start = ContinuousClock.now
        let settings = config
        let logger = Self.logger, progress = trainingProgress
        // Calls queue as jobs, one at a time; the monitor follows the one that runs.
        let (graph, result, ticket): (ReasonerGraph, ReasonerTrainingResult, TrainingMonitor.Ticket)
        do {
            (graph, result, ticket) = try await jobs.perform(.reasonerTraining) { job in
                let ticket = progress.begin(maxEpochs: settings.maxEpochs)
                do {
                    let graph = try ReasonerGraph(snapshot: snapshot, index: index)
                    let result = try ReasonerTrainer.train(
                        graph: graph, samples: graph.samples(snapshot: snapshot, index: index), config: settings,
                        isCancelled: { job.isCancelled || deadline.map { .now >= $0 } ?? false },
                        progress: { epoch, loss, validation in
                            progress.report(ticket, epoch: epoch, trainingLoss: loss, validationLoss: validation)
                            if epoch % 20 == 0 { logger.info("reasoner training", metadata: ["epoch": "\(epoch)", "loss": "\(loss)", "validation_loss": "\(validation)"]) }
                        })
                    return (graph, result, ticket)
                } catch {
                    progress.end(ticket, failure: error)
                    throw error
                }
            }
        } catch let error as RetrievalError where error.kind == .cancelled {
            throw stoppedEarly(error.description, deadline: deadline, jobs: jobs)
        }
        try await progress.finish(ticket) {
            let stored = StoredReasoner(graph: graph, snapshot: snapshot, result: result, trainedAtMs: Int64(Date().timeIntervalSince1970 * 1000))
            try await database.putDocuments([(StoredReasoner.documentName, try stored.serialized())])
        }
        var response = Graphd_V1_TrainReasonerResponse()
        response.trainingExamples = UInt32(result.trainingSamples)
        response.validationExamples = UInt32(result.validationSamples)
        response.epochs = UInt32(result.epochs)
        response.bestEpoch = UInt32(result.bestEpoch)
        response.initialValidationLoss = result.initialValidationLoss
        response.validationLoss = result.validationLoss
        response.validationHitsAt10 = result.validationHitsAt10
        response.seconds = (ContinuousClock.now - start).seconds
        response.logSequence = database.appliedLogSequence
        return response
    }
}
