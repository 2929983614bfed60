import GraphAlgorithms
import GraphCore
import MessagePassing

/// The scorers a recommendation can use.
public enum ScorerKind: String, Sendable, CaseIterable {
    /// RP3β item–item walks on the live graph (the default: best on our Gowalla validation split).
    case rp3beta
    /// Training-free graph filter (GF-CF: linear + ideal low-pass) on OpenBLAS.
    case graphFilter = "graph_filter"
    /// Training-free polynomial spectral filter (ChebyCF family) on OpenBLAS.
    case polynomialFilter = "polynomial_filter"
    /// Personalized PageRank from the user over the user–item graph.
    case ppr

    /// The spectral filters precompute a model; the walk scorers read the live graph.
    public var needsModel: Bool { self == .graphFilter || self == .polynomialFilter }
}

/// Precomputed state for the spectral filter scorers over one interaction
/// matrix: its normalised item–item operator's leading eigenvectors, shared by
/// both filters. Built in the background from a snapshot; queries combine it
/// with the user's live interactions, so the user's own new edges count at once
/// (items and co-occurrences added since the build wait for the next build).
public final class RecommendationModel: Sendable {
    public let matrix: InteractionMatrix
    public let spectrum: ItemSpectrum
    public let graphFilter: GraphFilterScorer
    public let polynomialFilter: PolynomialFilterScorer
    /// Seconds the build took, and the wall-clock time it finished (ms since 1970).
    public let buildSeconds: Double
    public let builtAtMs: Int64

    public init(snapshot: GraphSnapshot, spec: InteractionSpec, builtAtMs: Int64,
                filter: GraphFilterScorer.Parameters = .defaults,
                polynomial: PolynomialFilterScorer.Parameters = .defaults) throws {
        let start = ContinuousClock.now
        matrix = try InteractionMatrix(snapshot: snapshot, spec: spec)
        spectrum = try ItemSpectrum(matrix: matrix, dimensions: max(filter.dimensions, polynomial.dimensions, polynomial.idealDimensions))
        graphFilter = GraphFilterScorer(spectrum: spectrum, parameters: filter)
        polynomialFilter = PolynomialFilterScorer(spectrum: spectrum, parameters: polynomial)
        let elapsed = ContinuousClock.now - start
        buildSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        self.builtAtMs = builtAtMs
    }
}

/// A recommendation request, in node ids.
public struct RecommendationQuery: Sendable {
    public var user: UInt32
    public var k: Int
    public var scorer: ScorerKind
    /// Recommend items the user already interacted with (off by default).
    public var includeInteracted: Bool
    /// Items never to return.
    public var exclude: Set<UInt32>
    /// Explain each item: which of the user's items led to it.
    public var explain: Bool
    public var rp3: RP3Beta.Parameters = .defaults

    public static let maxK = 1000

    public init(user: UInt32, k: Int, scorer: ScorerKind = .rp3beta, includeInteracted: Bool = false,
                exclude: Set<UInt32> = [], explain: Bool = false) {
        self.user = user
        self.k = k
        self.scorer = scorer
        self.includeInteracted = includeInteracted
        self.exclude = exclude
        self.explain = explain
    }
}

/// One recommended item.
public struct RecommendedItem: Sendable, Equatable {
    public var node: UInt32
    public var score: Double
    /// The user's items that contributed most, with their share of the score.
    public var because: [Contribution]

    public struct Contribution: Sendable, Equatable {
        public var node: UInt32
        public var share: Double
    }
}

/// A rejected recommendation request.
public struct RecommendationError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case invalidArgument, notFound }
    public var kind: Kind
    public var description: String
    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

public enum Recommender {
    /// Top-`k` items for `query.user` on `snapshot`. `model` is needed by the
    /// spectral filters only. `include` may narrow the items further.
    public static func recommend(
        _ query: RecommendationQuery, spec: InteractionSpec, model: RecommendationModel?, snapshot: GraphSnapshot,
        ppr: PersonalizedPageRank, walks: WalkViewCache, include: (UInt32) -> Bool = { _ in true }
    ) throws(RecommendationError) -> [RecommendedItem] {
        guard query.k > 0, query.k <= RecommendationQuery.maxK else {
            throw RecommendationError(.invalidArgument, "k = \(query.k) is outside 1…\(RecommendationQuery.maxK)")
        }
        guard snapshot.nodes.isLive(query.user), snapshot.nodes.type(of: query.user) == spec.userType else {
            throw RecommendationError(.notFound, "node \(query.user) is not a live '\(snapshot.schema.nodeType(spec.userType).name)' node")
        }
        let view = walks.view(of: snapshot, filter: spec.walkFilter)
        var interacted = Set<UInt32>()
        if !query.includeInteracted {
            view.forEachStep(from: query.user) { item, _ in interacted.insert(item) }
        }
        let nodes = snapshot.nodes
        @inline(__always) func isItem(_ node: UInt32) -> Bool { nodes.isLive(node) && nodes.type(of: node) == spec.itemType }
        @inline(__always) func admissible(_ node: UInt32) -> Bool {
            !interacted.contains(node) && !query.exclude.contains(node) && include(node)
        }
        var heap = TopK(capacity: query.k)
        switch query.scorer {
        case .rp3beta:
            for (node, score) in RP3Beta(parameters: query.rp3).scores(user: query.user, view: view, isItem: isItem)
            where score > 0 && heap.admits(Double(score)) && admissible(node) {
                heap.offer(node: node, score: Double(score))
            }
        case .graphFilter, .polynomialFilter:
            guard let model else { throw RecommendationError(.invalidArgument, "the \(query.scorer.rawValue) scorer needs a model") }
            let row = model.matrix.liveInteractions(of: query.user, in: snapshot)
            let scores = query.scorer == .graphFilter ? model.graphFilter.scores(for: row) : model.polynomialFilter.scores(for: row)
            for (index, score) in scores.enumerated() where score > 0 && heap.admits(Double(score)) {
                let node = model.matrix.itemNodes[index]
                if isItem(node) && admissible(node) { heap.offer(node: node, score: Double(score)) }
            }
        case .ppr:
            let result: SparseScores
            do {
                result = try ppr.scores(view: view, seeds: [PPRSeed(node: query.user)])
            } catch {
                throw RecommendationError(.invalidArgument, error.description)
            }
            for (i, node) in result.nodes.enumerated() where result.scores[i] > 0 && heap.admits(result.scores[i]) {
                if isItem(node) && admissible(node) { heap.offer(node: node, score: result.scores[i]) }
            }
        }
        let explainer = RP3Beta(parameters: query.rp3)
        return heap.sorted().map { entry in
            var item = RecommendedItem(node: entry.node, score: entry.score, because: [])
            if query.explain {
                let shares = explainer.contributions(to: entry.node, user: query.user, view: view)
                let total = shares.reduce(Float(0)) { $0 + $1.share }
                item.because = shares.prefix(3).map { .init(node: $0.node, share: total > 0 ? Double($0.share / total) : 0) }
            }
            return item
        }
    }
}
