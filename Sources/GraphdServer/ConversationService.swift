import Conversational
import GraphAlgorithms
import GraphCore
import GraphStore
import GraphdProto
import Synchronization
import TTRPC

/// graphd.v1.Conversation: G-CRS retrieval for a dialogue (candidates, similar
/// conversations, prompt) over the conversation–entity–item graph. Reads a
/// snapshot only; the entity index is rebuilt when nodes are added or removed.
public final class ConversationService: Sendable {
    public let database: GraphDatabase
    private let index = Mutex<ConversationIndex?>(nil)
    private let walks = WalkViewCache()
    private let engine = PersonalizedPageRank()

    public init(database: GraphDatabase) {
        self.database = database
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        dispatcher.register(service: GraphdServiceName.conversation, method: "Retrieve") { [self] (request: Graphd_V1_RetrieveRequest, _) in
            try retrieve(request)
        }
    }

    func retrieve(_ request: Graphd_V1_RetrieveRequest) throws -> Graphd_V1_RetrieveResponse {
        guard request.turns.count <= ConversationRetriever.maxTurns else {
            throw RPCError(.invalidArgument, "\(request.turns.count) turns; at most \(ConversationRetriever.maxTurns)")
        }
        let snapshot = database.snapshot
        let index = try currentIndex(for: snapshot)
        var turns: [RetrievalTurn] = []
        for (t, turn) in request.turns.enumerated() {
            guard turn.entityKeys.count <= 1000 else { throw RPCError(.invalidArgument, "turns[\(t)].entity_keys: more than 1000 keys") }
            var nodes: [UInt32] = []
            for (i, key) in turn.entityKeys.enumerated() {
                nodes.append(try Self.entityNode(key, in: snapshot, index: index, field: "turns[\(t)].entity_keys[\(i)]"))
            }
            turns.append(RetrievalTurn(role: turn.role, text: turn.text, linkedNodes: nodes))
        }
        var query = RetrievalQuery(turns: turns)
        if request.k != 0 { query.k = Int(request.k) }
        query.n = Int(request.n)
        query.linkText = !request.skipTextLinking
        query.includeMentioned = request.includeMentioned
        if request.hasRestart { query.restart = request.restart }
        if request.hasRecencyDecay { query.recencyDecay = request.recencyDecay }
        let view = walks.view(of: snapshot, filter: index.walkFilter)
        let result = try ConversationRetriever.retrieve(query, snapshot: snapshot, index: index, view: view, engine: engine)

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
        response.linked = result.linked.map { linked in
            var message = Graphd_V1_LinkedEntity()
            message.node = protoRef(linked.node, snapshot: snapshot)
            message.surface = linked.surface
            message.turn = UInt32(linked.turn)
            return message
        }
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

    /// The index for `snapshot`'s nodes, built on first use and after nodes change.
    private func currentIndex(for snapshot: GraphSnapshot) throws -> ConversationIndex {
        if let current = index.withLock({ $0 }), current.isCurrent(for: snapshot) { return current }
        let built = try ConversationIndex(snapshot: snapshot)
        index.withLock { $0 = built }
        return built
    }

    /// An entity or item node by key; anything else is INVALID_ARGUMENT.
    static func entityNode(_ key: String, in snapshot: GraphSnapshot, index: ConversationIndex, field: String) throws -> UInt32 {
        for typeName in [ConversationSchema.item, ConversationSchema.entity] {
            guard let type = snapshot.schema.nodeTypeID(typeName) else { continue }
            if let node = snapshot.nodes.id(of: NodeKey(type: type, key: key)) { return node }
        }
        throw RPCError(.invalidArgument, "\(field): no entity or item node has key '\(key.prefix(200))'")
    }
}

extension RetrievalError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument: RPCError(.invalidArgument, description)
        case .failedPrecondition: RPCError(.failedPrecondition, description)
        }
    }
}
