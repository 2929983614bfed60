import ArgumentParser
import GraphdTools
import GraphdClient
import GraphdProto

// MARK: recommend

struct RecommendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend", abstract: "Top-k items for a user (graphd.v1.Recommend/Recommend).",
        discussion: """
        The user is TYPE:KEY or a bare key of --user-type. The user's own items are left out \
        unless --include-interacted. Scorers: rp3beta (default), graph_filter, polynomial_filter, ppr. \
        The two filters build a model of the interactions in the background (seconds on a \
        large graph: the first call for a set of types waits for it); the user's own new \
        edges count at once, other new edges from the next build.

        Examples:
          graphctl recommend 42 --k 20
          graphctl recommend user:alice --scorer ppr --explain --format json
          graphctl recommend 42 --linked-to entity:paris --exclude 17 --exclude 99
        """)

    @Argument(help: "The user: TYPE:KEY or a key of --user-type.")
    var user: String
    @Option(help: "Items to return (1…1000).")
    var k: UInt32 = 10
    @Option(help: "Scorer: rp3beta, graph_filter, polynomial_filter or ppr.")
    var scorer: ScorerChoice = .rp3beta
    @Option(help: "User node type.")
    var userType = "user"
    @Option(help: "Item node type.")
    var itemType = "item"
    @Option(name: .customLong("edge-type"), help: "Interaction edge type (repeatable; default interacted).")
    var edgeTypes: [String] = []
    @Flag(help: "Also return items the user already has.")
    var includeInteracted = false
    @Option(name: .customLong("exclude"), help: "Item key never to return (repeatable).")
    var excludeKeys: [String] = []
    @Option(help: "Only items whose key starts with this.")
    var keyPrefix: String?
    @Option(help: "Only items with at least this many edges.")
    var minDegree: UInt32 = 0
    @Option(name: .customLong("linked-to"), help: "Only items with an edge to this node, TYPE:KEY (repeatable).")
    var linkedTo: [String] = []
    @Flag(help: "Say which of the user's items led to each recommendation.")
    var explain = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_RecommendRequest()
        request.user = user.contains(":") ? try parseNodeRef(user) : Graphd_V1_NodeRef(type: userType, key: user)
        request.k = k
        request.scorer = scorer.wire
        request.userType = userType
        request.itemType = itemType
        request.edgeTypes = edgeTypes
        request.includeInteracted = includeInteracted
        request.excludeKeys = excludeKeys
        request.itemKeyPrefix = keyPrefix ?? ""
        request.minItemDegree = minDegree
        request.itemLinkedTo = try linkedTo.map(parseNodeRef)
        request.explain = explain
        let response = try await connection.withClient { try await $0.recommend(request) }
        switch output.format {
        case .json:
            printJSON([
                "items": response.items.map { item -> [String: Any] in
                    var object: [String: Any] = ["type": item.item.type, "key": item.item.key, "score": item.score]
                    if explain { object["because"] = item.because.map { ["type": $0.node.type, "key": $0.node.key, "share": $0.share] } }
                    return object
                },
                "graph_version": response.graphVersion, "model_version": response.modelVersion, "model_age_ms": response.modelAgeMs,
            ])
        case .text:
            for (rank, item) in response.items.enumerated() {
                let because = item.because.map { "\($0.node.display) \(String(format: "%.0f%%", $0.share * 100))" }.joined(separator: ", ")
                print(String(format: "%3d. %@  %.6g", rank + 1, item.item.display, item.score) + (because.isEmpty ? "" : "   because: \(because)"))
            }
            if response.items.isEmpty { print("(no items)") }
        }
    }
}

// MARK: ppr

struct PPRCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppr", abstract: "Personalized PageRank from weighted seeds (graphd.v1.Recommend/PersonalizedPageRank).",
        discussion: """
        Seeds are TYPE:KEY, optionally =WEIGHT. --top TYPE=K asks for the K best nodes of a type \
        (repeatable); without it, the 100 best nodes of any type.

        Examples:
          graphctl ppr user:42 --top item=20
          graphctl ppr entity:paris=2 entity:rome --top item=10 --top conversation=5 --edge-type mentions
        """)

    @Argument(help: "Seeds: TYPE:KEY or TYPE:KEY=WEIGHT.")
    var seeds: [String]
    @Option(name: .customLong("top"), help: "TYPE=K: the K best nodes of TYPE (repeatable).")
    var top: [String] = []
    @Option(help: "Restart probability in (0, 1).")
    var restart: Double?
    @Option(help: "Forward-push tolerance (smaller: slower, closer to exact).")
    var tolerance: Double?
    @Option(name: .customLong("edge-type"), help: "Walk only along this edge type (repeatable).")
    var edgeTypes: [String] = []
    @Option(name: .customLong("node-type"), help: "Walk only through this node type (repeatable).")
    var nodeTypes: [String] = []
    @Option(name: .customLong("exclude"), help: "Never return this node, TYPE:KEY (repeatable).")
    var exclude: [String] = []
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_PersonalizedPageRankRequest()
        for text in seeds {
            var seed = Graphd_V1_Seed()
            let parts = text.split(separator: "=", maxSplits: 1)
            seed.node = try parseNodeRef(String(parts[0]))
            if parts.count == 2 {
                guard let weight = Double(parts[1]) else { throw ValidationError("seed '\(text)': weight '\(parts[1])' is not a number") }
                seed.weight = weight
            }
            request.seeds.append(seed)
        }
        for text in top {
            let parts = text.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let k = UInt32(parts[1]) else { throw ValidationError("--top '\(text)': expected TYPE=K") }
            request.topKByType[String(parts[0])] = k
        }
        if let restart { request.restart = restart }
        if let tolerance { request.tolerance = tolerance }
        request.edgeTypes = edgeTypes
        request.nodeTypes = nodeTypes
        request.exclude = try exclude.map(parseNodeRef)
        let response = try await connection.withClient { try await $0.personalizedPageRank(request) }
        let groups = response.top.sorted { $0.key < $1.key }
        switch output.format {
        case .json:
            var top: [String: Any] = [:]
            for (type, ranked) in groups {
                top[type] = ranked.nodes.map { ["type": $0.node.type, "key": $0.node.key, "score": $0.score] as [String: Any] }
            }
            printJSON(["top": top, "graph_version": response.graphVersion, "pushes": response.pushes, "residual_mass": response.residualMass])
        case .text:
            for (type, ranked) in groups {
                if groups.count > 1 || !type.isEmpty { print("\(type.isEmpty ? "any type" : type):") }
                for (rank, node) in ranked.nodes.enumerated() {
                    print(String(format: "%3d. %@  %.6g", rank + 1, node.node.display, node.score))
                }
            }
        }
    }
}
