import Foundation
import GraphAlgorithms
import GraphCore
import GraphStore
import GraphdProto
import Recommendation
import TTRPC

/// graphd.v1.Recommend: recommendations and personalized PageRank over the
/// current snapshot. Handlers run on the concurrency pool, so queries use all
/// cores; none of them waits on a writer.
public struct RecommendService: Sendable {
    public let database: GraphDatabase
    let models: RecommendationModels
    let engine = PersonalizedPageRank()
    let walks = WalkViewCache()

    /// Largest top-k per type, and most seeds / exclusions in one request.
    public static let maxK = RecommendationQuery.maxK
    public static let maxListLength = 10_000

    public init(database: GraphDatabase, models: RecommendationModels) {
        self.database = database
        self.models = models
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        dispatcher.registerCompute(.recommend) { (request: Graphd_V1_RecommendRequest, _) in
            try await recommend(request)
        }
        dispatcher.registerCompute(.personalizedPageRank) { (request: Graphd_V1_PersonalizedPageRankRequest, _) in
            try personalizedPageRank(request)
        }
    }

    // MARK: Recommend

    func recommend(_ request: Graphd_V1_RecommendRequest) async throws -> Graphd_V1_RecommendResponse {
        guard request.k >= 1, request.k <= UInt32(Self.maxK) else {
            throw RPCError(.invalidArgument, "k = \(request.k) is outside 1…\(Self.maxK)")
        }
        guard request.excludeKeys.count <= Self.maxListLength, request.edgeTypes.count <= Self.maxListLength,
              request.itemLinkedTo.count <= Self.maxListLength else {
            throw RPCError(.invalidArgument, "more than \(Self.maxListLength) exclude_keys, edge_types or item_linked_to")
        }
        guard request.itemKeyPrefix.utf8.count <= GraphLimits.maxKeyLength else {
            throw RPCError(.invalidArgument, "item_key_prefix is longer than \(GraphLimits.maxKeyLength) bytes")
        }
        let snapshot = database.snapshot
        let schema = snapshot.schema
        let userTypeName = request.userType.isEmpty ? "user" : request.userType
        let itemTypeName = request.itemType.isEmpty ? "item" : request.itemType
        let edgeTypeNames = request.edgeTypes.isEmpty ? ["interacted"] : request.edgeTypes
        let spec = InteractionSpec(userType: try schema.requireNodeType(userTypeName), itemType: try schema.requireNodeType(itemTypeName),
                                   edgeTypes: Set(try edgeTypeNames.map { try schema.requireEdgeType($0) }))
        guard request.hasUser else { throw RPCError(.invalidArgument, "user is required") }
        guard request.user.type.isEmpty || request.user.type == userTypeName else {
            throw RPCError(.invalidArgument, "user has type '\(request.user.type)', but user_type is '\(userTypeName)'")
        }
        var userRef = request.user
        if userRef.type.isEmpty { userRef.type = userTypeName }
        let user = try resolve(userRef, present: true, field: "user", in: snapshot)

        let scorer: ScorerKind = switch request.scorer {
        case .unspecified, .rp3Beta: .rp3beta
        case .graphFilter: .graphFilter
        case .polynomialFilter: .polynomialFilter
        case .ppr: .ppr
        case .UNRECOGNIZED(let value): throw RPCError(.invalidArgument, "unknown scorer \(value)")
        }
        var exclude = Set<UInt32>()
        for key in request.excludeKeys {
            if let id = snapshot.nodes.id(of: NodeKey(type: spec.itemType, key: key)) { exclude.insert(id) }
        }
        var linked: [UInt32] = []
        for (i, ref) in request.itemLinkedTo.enumerated() {
            linked.append(try resolve(ref, present: true, field: "item_linked_to[\(i)]", in: snapshot))
        }
        let prefix = request.itemKeyPrefix, minimumDegree = Int(request.minItemDegree)
        let include: (UInt32) -> Bool = { item in
            if !prefix.isEmpty && !snapshot.nodes.key(of: item).hasPrefix(prefix) { return false }
            if minimumDegree > 0 {
                let degree = snapshot.degree(of: item)
                if degree.outgoing + degree.incoming < minimumDegree { return false }
            }
            for node in linked where !snapshot.hasEdge(between: item, and: node) { return false }
            return true
        }
        let model = scorer.needsModel ? try await models.model(for: spec, database: database) : nil
        let query = RecommendationQuery(user: user, k: Int(request.k), scorer: scorer, includeInteracted: request.includeInteracted,
                                        exclude: exclude, explain: request.explain)
        let items = try Recommender.recommend(query, spec: spec, model: model, snapshot: snapshot, ppr: engine, walks: walks, include: include)
        var response = Graphd_V1_RecommendResponse()
        response.items = items.map { item in
            var out = Graphd_V1_RecommendedItem()
            out.item = protoRef(item.node, snapshot: snapshot)
            out.score = item.score
            out.because = item.because.map { contribution in
                var c = Graphd_V1_Contribution()
                c.node = protoRef(contribution.node, snapshot: snapshot)
                c.share = contribution.share
                return c
            }
            return out
        }
        response.graphVersion = snapshot.version
        if let model {
            response.modelVersion = model.matrix.version
            response.modelAgeMs = UInt64(max(0, Int64(Date().timeIntervalSince1970 * 1000) - model.builtAtMs))
        } else {
            response.modelVersion = snapshot.version  // scored on the live graph
        }
        return response
    }

    // MARK: PersonalizedPageRank

    func personalizedPageRank(_ request: Graphd_V1_PersonalizedPageRankRequest) throws -> Graphd_V1_PersonalizedPageRankResponse {
        guard !request.seeds.isEmpty else { throw RPCError(.invalidArgument, "seeds is empty: give at least one seed node") }
        guard request.seeds.count <= Self.maxListLength, request.exclude.count <= Self.maxListLength,
              request.edgeTypes.count <= Self.maxListLength, request.nodeTypes.count <= Self.maxListLength,
              request.topKByType.count <= 64 else {
            throw RPCError(.invalidArgument, "more than \(Self.maxListLength) seeds, exclusions, edge_types or node_types, or more than 64 node types in top_k_by_type")
        }
        let snapshot = database.snapshot
        let schema = snapshot.schema
        var seeds: [PPRSeed] = []
        for (i, seed) in request.seeds.enumerated() {
            // An unknown seed is a bad argument here, not a missing resource.
            let node: UInt32
            do { node = try resolve(seed.node, present: seed.hasNode, field: "seeds[\(i)].node", in: snapshot) } catch let error as RPCError {
                throw RPCError(.invalidArgument, error.message)
            } catch let error as GraphError {
                throw RPCError(.invalidArgument, error.message)
            }
            let weight = seed.hasWeight ? seed.weight : 1
            guard weight.isFinite, weight > 0 else {
                throw RPCError(.invalidArgument, "seeds[\(i)].weight = \(weight): weights must be finite and positive")
            }
            seeds.append(PPRSeed(node: node, weight: weight))
        }
        var parameters = PPRParameters()
        if request.hasRestart { parameters.restart = request.restart }
        if request.hasTolerance { parameters.tolerance = request.tolerance }
        if request.lowerBoundOnly { parameters.estimator = .push }
        do { try parameters.validate() } catch { throw RPCError(.invalidArgument, error.description) }
        let filter = WalkFilter(
            edgeTypes: request.edgeTypes.isEmpty ? nil : Set(try request.edgeTypes.map { try schema.requireEdgeType($0) }),
            nodeTypes: request.nodeTypes.isEmpty ? nil : Set(try request.nodeTypes.map { try schema.requireNodeType($0) }))
        var requested: [(name: String, type: NodeTypeID?, k: Int)] = []
        for (name, k) in request.topKByType.sorted(by: { $0.key < $1.key }) {
            guard k >= 1, k <= UInt32(Self.maxK) else { throw RPCError(.invalidArgument, "top_k_by_type[\(name)] = \(k) is outside 1…\(Self.maxK)") }
            requested.append((name, try schema.requireNodeType(name), Int(k)))
        }
        if requested.isEmpty { requested = [("", nil, 100)] }
        var excluded = Set<UInt32>()
        for (i, ref) in request.exclude.enumerated() {
            excluded.insert(try resolve(ref, present: true, field: "exclude[\(i)]", in: snapshot))
        }
        let view = walks.view(of: snapshot, filter: filter)
        let result: SparseScores
        do { result = try engine.scores(view: view, seeds: seeds, parameters: parameters) } catch {
            throw RPCError(.invalidArgument, error.description)
        }
        var response = Graphd_V1_PersonalizedPageRankResponse()
        for (name, type, k) in requested {
            let top = result.top(k) { node in
                !excluded.contains(node) && snapshot.nodes.isLive(node) && (type.map { snapshot.nodes.type(of: node) == $0 } ?? true)
            }
            var ranked = Graphd_V1_RankedNodes()
            ranked.nodes = top.map { entry in
                var scored = Graphd_V1_ScoredNode()
                scored.node = protoRef(entry.node, snapshot: snapshot)
                scored.score = entry.score
                return scored
            }
            response.top[name] = ranked
        }
        response.graphVersion = snapshot.version
        response.pushes = UInt64(result.work)
        response.residualMass = result.residualMass
        return response
    }
}
