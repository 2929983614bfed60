import Testing
import GraphCore
@testable import GraphAlgorithms

private func interaction(_ user: Int, _ item: Int, weight: Double = 1) -> EdgeInput {
    EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(user)"),
              target: NodeRefInput(type: "item", key: "i\(item)"), weight: weight, timestampMs: 1, attributes: [])
}

/// A random user–item graph (undirected `interacted`), plus a directed
/// `follows` edge type between users, half compacted into the base and half in the delta.
private func randomGraph(users: Int = 60, items: Int = 80, interactions: Int = 600, seed: UInt64 = 1) throws -> GraphState {
    try randomGraphWithTopology(users: users, items: items, interactions: interactions, seed: seed).state
}

/// The graph and the igraph topology that holds its base (needed to compact it again).
private func randomGraphWithTopology(users: Int = 60, items: Int = 80, interactions: Int = 600, seed: UInt64 = 1) throws -> (state: GraphState, topology: IgraphTopology) {
    var random = SplitMix(seed: seed)
    var state = GraphState()
    _ = try state.apply(state.planDefineTypes(nodeTypes: [], edgeTypes: [EdgeTypeInput(name: "follows", directed: true, sourceType: "user", targetType: "user")]))
    var batch: [EdgeInput] = []
    for _ in 0..<interactions {
        batch.append(interaction(random.below(users), random.below(items), weight: Double(1 + random.below(3))))
    }
    for _ in 0..<(users * 2) {
        batch.append(EdgeInput(type: "follows", source: NodeRefInput(type: "user", key: "u\(random.below(users))"),
                               target: NodeRefInput(type: "user", key: "u\(random.below(users))"), weight: nil, timestampMs: 1, attributes: []))
    }
    let half = batch.count / 2
    state.apply(try state.planAddEdges(Array(batch[..<half]), requireExistingNodes: false, nowMs: 1))
    let topology = try IgraphTopology()
    try state.compact(topology: topology)
    state.apply(try state.planAddEdges(Array(batch[half...]), requireExistingNodes: false, nowMs: 1))
    return (state, topology)
}

private func node(_ state: GraphState, _ type: String, _ key: String) throws -> UInt32 {
    let snapshot = state.snapshot
    let typeID = try #require(snapshot.schema.nodeTypeID(type))
    return try #require(snapshot.nodes.id(of: NodeKey(type: typeID, key: key)))
}

/// Run on the graph with its delta (the walk loop reads changed rows) and
/// compacted (the loop specialised to the base's rows alone).
@Test(arguments: [false, true])
func forwardPushStaysWithinItsErrorBoundOfThePowerIteration(compacted: Bool) throws {
    var (state, topology) = try randomGraphWithTopology()
    if compacted { try state.compact(topology: topology) }
    let view = state.snapshot.walkView(.all)
    #expect(view.hasChangedRows != compacted, "the delta must be part of the uncompacted run only")
    let seeds = [PPRSeed(node: try node(state, "user", "u3"), weight: 2), PPRSeed(node: try node(state, "item", "i5"), weight: 1)]
    let exact = try PowerIterationPageRank.scores(view: view, seeds: seeds).scores
    #expect(abs(exact.reduce(0, +) - 1) < 1e-9)
    let engine = PersonalizedPageRank()
    var totalWeight = 0.0
    for v in 0..<view.nodeCount { totalWeight += Double(view.rowWeight(UInt32(v))) }
    for tolerance in [1e-3, 1e-5, 1e-8] {
        let approximate = try engine.scores(view: view, seeds: seeds, parameters: PPRParameters(tolerance: tolerance, estimator: .push))
        var dense = [Double](repeating: 0, count: view.nodeCount)
        for (i, n) in approximate.nodes.enumerated() { dense[Int(n)] = approximate.scores[i] }
        let error = zip(dense, exact).reduce(0) { $0 + abs($1.0 - $1.1) }
        #expect(error <= tolerance * totalWeight, "tolerance \(tolerance): L1 error \(error)")
        // Push never overshoots: every estimate is a lower bound.
        for v in 0..<view.nodeCount { #expect(dense[v] <= exact[v] + 1e-12) }
    }
    let tight = try engine.scores(view: view, seeds: seeds, parameters: PPRParameters(tolerance: 1e-10, estimator: .push))
    #expect(Set(tight.top(10).map(\.node)) == Set((0..<view.nodeCount).sorted { exact[$0] > exact[$1] }.prefix(10).map { UInt32($0) }))
}

@Test func theCorrectedEstimateIsCloserThanThePushedMassAlone() throws {
    let state = try randomGraph(users: 200, items: 300, interactions: 3000, seed: 21)
    let snapshot = state.snapshot
    let interacted = try #require(snapshot.schema.edgeTypeID("interacted"))
    // Symmetric and bipartite: users on one side, items on the other.
    let view = snapshot.walkView(WalkFilter(edgeTypes: [interacted]))
    #expect(view.isSymmetric)
    let component = Int(view.base.mixingClass[0] / 2)
    #expect(view.base.componentIsBipartite[component])
    let user = try #require(snapshot.schema.nodeTypeID("user"))
    for v in 0..<view.base.nodeCount where view.base.mixingClass[v] / 2 == UInt32(component) {
        #expect((view.base.mixingClass[v] & 1 == view.base.mixingClass[0] & 1) == (snapshot.nodes.type(of: UInt32(v)) == snapshot.nodes.type(of: 0)))
    }
    _ = user
    let engine = PersonalizedPageRank()
    var pushErrors = 0.0, correctedErrors = 0.0
    for seedIndex in 0..<10 {
        let seeds = [PPRSeed(node: UInt32(seedIndex * 7))]
        let exact = try PowerIterationPageRank.scores(view: view, seeds: seeds).scores
        for estimator in [PPREstimator.push, .corrected] {
            let result = try engine.scores(view: view, seeds: seeds, parameters: PPRParameters(tolerance: 1e-3, estimator: estimator))
            var dense = [Double](repeating: 0, count: view.nodeCount)
            for (i, n) in result.nodes.enumerated() { dense[Int(n)] = result.scores[i] }
            let error = zip(dense, exact).reduce(0) { $0 + abs($1.0 - $1.1) }
            if estimator == .push { pushErrors += error } else { correctedErrors += error }
            // Either way the mass adds up to at most 1; the correction only adds.
            let mass = dense.reduce(0, +)
            #expect(mass <= 1 + 1e-9)
            if estimator == .corrected { #expect(mass >= 1 - result.residualMass - 1e-9) }
        }
    }
    // The pooled workspaces carry nothing from one query to the next: the first query again gives the same scores.
    let parameters = PPRParameters(tolerance: 1e-3, estimator: .corrected)
    let first = try engine.scores(view: view, seeds: [PPRSeed(node: 0)], parameters: parameters)
    _ = try engine.scores(view: view, seeds: [PPRSeed(node: 63)], parameters: parameters)
    let again = try engine.scores(view: view, seeds: [PPRSeed(node: 0)], parameters: parameters)
    #expect(first.nodes == again.nodes && first.scores == again.scores)
    #expect(correctedErrors < pushErrors / 2, "corrected \(correctedErrors) vs push \(pushErrors)")
}

@Test func powerIterationAgreesWithIgraphPRPACK() throws {
    var (state, topology) = try randomGraphWithTopology(seed: 9)
    try state.compact(topology: topology)
    let snapshot = state.snapshot
    let interacted = try #require(snapshot.schema.edgeTypeID("interacted"))
    // Undirected interactions only: igraph walks them both ways with directed = false.
    let view = snapshot.walkView(WalkFilter(edgeTypes: [interacted]))
    let seed = try node(state, "user", "u7")
    let ours = try PowerIterationPageRank.scores(view: view, seeds: [PPRSeed(node: seed)], restart: 0.2).scores
    var sources: [UInt32] = [], targets: [UInt32] = [], weights: [Double] = []
    for v in 0..<view.nodeCount {
        view.forEachStep(from: UInt32(v)) { u, w in
            if UInt32(v) < u { sources.append(UInt32(v)); targets.append(u); weights.append(Double(w)) }
        }
    }
    let igraph = try IgraphTopology(vertexCount: view.nodeCount)
    try igraph.addEdges(sources: sources, targets: targets)
    var reset = [Double](repeating: 0, count: view.nodeCount)
    reset[Int(seed)] = 1
    let theirs = try igraph.personalizedPageRank(reset: reset, weights: weights, damping: 0.8, directed: false)
    for v in 0..<view.nodeCount { #expect(abs(ours[v] - theirs[v]) < 1e-8, "node \(v): \(ours[v]) vs \(theirs[v])") }
    #expect(throws: IgraphError.self) { try igraph.personalizedPageRank(reset: reset, weights: [1, 2], damping: 0.8, directed: false) }
}

@Test func typeRestrictionsKeepTheWalkInside() throws {
    let state = try randomGraph()
    let snapshot = state.snapshot
    let follows = try #require(snapshot.schema.edgeTypeID("follows"))
    let user = try #require(snapshot.schema.nodeTypeID("user"))
    let seed = try node(state, "user", "u1")
    let engine = PersonalizedPageRank()
    // Only `follows`: no item is ever reached, and steps go source → target only.
    let followsOnly = try engine.scores(view: snapshot.walkView(WalkFilter(edgeTypes: [follows])), seeds: [PPRSeed(node: seed)])
    #expect(followsOnly.nodes.allSatisfy { snapshot.nodes.type(of: $0) == user })
    let view = snapshot.walkView(WalkFilter(edgeTypes: [follows]))
    var reachable: Set<UInt32> = [seed], frontier = [seed]
    while let v = frontier.popLast() {
        view.forEachStep(from: v) { u, _ in if reachable.insert(u).inserted { frontier.append(u) } }
    }
    #expect(Set(followsOnly.nodes).isSubset(of: reachable))
    // Only user nodes: the same, whatever the edge types.
    let usersOnly = try engine.scores(view: snapshot.walkView(WalkFilter(nodeTypes: [user])), seeds: [PPRSeed(node: seed)])
    #expect(usersOnly.nodes.allSatisfy { snapshot.nodes.type(of: $0) == user })
    // A top-k restricted by type with an exclusion set.
    let all = try engine.scores(view: snapshot.walkView(.all), seeds: [PPRSeed(node: seed)])
    let item = try #require(snapshot.schema.nodeTypeID("item"))
    let excluded = Set(all.top(3) { snapshot.nodes.type(of: $0) == item }.map(\.node))
    let top = all.top(5) { snapshot.nodes.type(of: $0) == item && !excluded.contains($0) }
    #expect(top.count == 5 && top.allSatisfy { snapshot.nodes.type(of: $0.node) == item && !excluded.contains($0.node) })
    #expect(zip(top, top.dropFirst()).allSatisfy { $0.score >= $1.score })
}

@Test func theViewSeesTheDeltaAndRemovalsLikeACompactedGraph() throws {
    var (state, topology) = try randomGraphWithTopology(seed: 4)
    let seed = try node(state, "user", "u2")
    // Remove some edges, then compare the uncompacted view with a compacted one.
    let doomed = state.snapshot.neighbors(of: seed, direction: .both, edgeTypes: nil, nodeTypes: nil, afterEdgeID: nil, limit: 3).edges
    let refs = doomed.map { edge in
        let name = { (id: UInt32) in NodeRefInput(type: state.snapshot.schema.nodeType(state.snapshot.nodes.type(of: id)).name, key: state.snapshot.nodes.key(of: id)) }
        return EdgeRefInput(type: state.snapshot.schema.edgeType(edge.edge.record.type).name, source: name(edge.edge.record.source), target: name(edge.edge.record.target))
    }
    state.apply(try state.planRemoveEdges(refs, ignoreMissing: false))
    let before = try PowerIterationPageRank.scores(view: state.snapshot.walkView(.all), seeds: [PPRSeed(node: seed)]).scores
    try state.compact(topology: topology)
    let compactedView = state.snapshot.walkView(.all)
    #expect(compactedView.changedNodes.isEmpty)
    let after = try PowerIterationPageRank.scores(view: compactedView, seeds: [PPRSeed(node: seed)]).scores
    for v in before.indices { #expect(abs(before[v] - after[v]) < 1e-9) }
}

@Test func badParametersAreRefused() throws {
    let state = try randomGraph()
    let view = state.snapshot.walkView(.all)
    let engine = PersonalizedPageRank()
    let seed = PPRSeed(node: 0)
    #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: []) }
    #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: [PPRSeed(node: UInt32(view.nodeCount))]) }
    #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: [PPRSeed(node: 0, weight: -1)]) }
    #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: [PPRSeed(node: 0, weight: .nan)]) }
    for restart in [0.0, 1.0, -0.5, .infinity] {
        #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: [seed], parameters: PPRParameters(restart: restart)) }
    }
    #expect(throws: PPRError.self) { try engine.scores(view: view, seeds: [seed], parameters: PPRParameters(tolerance: 0)) }
}

@Test func concurrentQueriesGetTheSameAnswersAsSerialOnes() async throws {
    let state = try randomGraph(seed: 12)
    let view = state.snapshot.walkView(.all)
    let engine = PersonalizedPageRank()
    let seeds = (0..<16).map { PPRSeed(node: UInt32($0 * 3 % view.nodeCount)) }
    let serial = try seeds.map { try engine.scores(view: view, seeds: [$0]).top(20).map(\.node) }
    let parallel = try await withThrowingTaskGroup(of: (Int, [UInt32]).self) { group in
        for (i, seed) in seeds.enumerated() {
            group.addTask { (i, try engine.scores(view: view, seeds: [seed]).top(20).map(\.node)) }
        }
        var results = [[UInt32]](repeating: [], count: seeds.count)
        for try await (i, top) in group { results[i] = top }
        return results
    }
    #expect(serial == parallel)
}

/// The cache extends its last view by the delta edges written since; the result
/// must equal a view built from scratch — through small writes (merged chunks),
/// new nodes, and a removal (which forces a full rebuild).
@Test func anExtendedWalkViewEqualsOneBuiltFromScratch() throws {
    var state = try randomGraph()
    // The default cache keeps every row changed since the first view in `recent`;
    // with a limit of 8 rows they are merged into `consolidated` every few writes.
    let caches = [WalkViewCache(), WalkViewCache(recentRowLimit: 8)]
    var random = SplitMix(seed: 9)
    var sawRecentRows = false, sawMergedRows = false
    func check(_ what: String) {
        let snapshot = state.snapshot
        for filter in [WalkFilter.all, WalkFilter(edgeTypes: [snapshot.schema.edgeTypeID("interacted")!])] {
            for cache in caches {
                let cached = cache.view(of: snapshot, filter: filter)
                let fresh = snapshot.walkView(filter)
                if cached.recent.count > 0 { sawRecentRows = true }
                if cached.recent.count == 0 && what.hasPrefix("after write") { sawMergedRows = true }
                #expect(cached.version == fresh.version)
                #expect(cached.changedNodes == fresh.changedNodes, "\(what): changed rows differ")
                for node in fresh.changedNodes {
                    let row = fresh.changedRow(of: node), other = cached.changedRow(of: node)
                    #expect(other.map { Array(zip($0.neighbors, $0.weights)).map { "\($0.0):\($0.1)" }.sorted() }
                            == row.map { Array(zip($0.neighbors, $0.weights)).map { "\($0.0):\($0.1)" }.sorted() }, "\(what): row of \(node)")
                    #expect(cached.rowWeight(node) == fresh.rowWeight(node))
                }
                #expect(abs(cached.totalWeight - fresh.totalWeight) < 1e-6, "\(what): total weight")
                #expect(cached.classWeights.count == fresh.classWeights.count)
                #expect(zip(cached.classWeights, fresh.classWeights).allSatisfy { abs($0 - $1) < 1e-6 }, "\(what): class weights")
                #expect(cached.nodeCount == fresh.nodeCount)
                #expect(cached.stepCount == fresh.stepCount)
            }
        }
    }
    check("initial")
    var written: [(user: Int, item: Int)] = []
    for round in 0..<12 {
        // A few edges per write: they merge into the last delta chunk; some endpoints are new nodes.
        let pairs = (0..<3).map { _ in (user: random.below(70), item: random.below(90)) }
        written += pairs
        let edges = pairs.map { interaction($0.user, $0.item, weight: Double(1 + random.below(3))) }
        state.apply(try state.planAddEdges(edges, requireExistingNodes: false, nowMs: 2))
        check("after write \(round)")
        if round % 3 == 2, let pair = written.randomElement(using: &random) {
            // A removal of an edge written earlier (delta) or of the base: its endpoints' rows change.
            let remove = EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(pair.user)"),
                                      target: NodeRefInput(type: "item", key: "i\(pair.item)"))
            state.apply(try state.planRemoveEdges([remove], ignoreMissing: true))
            check("after write \(round) and a removal")
        }
    }
    let remove = EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "u3"),
                              target: NodeRefInput(type: "item", key: "i5"))
    if let plan = try? state.planRemoveEdges([remove], ignoreMissing: true) { state.apply(plan) }
    state.apply(try state.planAddEdges([interaction(1, 2)], requireExistingNodes: false, nowMs: 3))
    check("after a removal and a write")
    #expect(sawRecentRows && sawMergedRows, "both layouts of the changed rows were compared")
}

/// The walk loops find a node's changed row by its rank in a bitset: every
/// node finds its own row, across several words, and no other node finds one.
@Test func theChangedRowTableFindsEachRowByRank() throws {
    let state = try randomGraph(users: 150, items: 200, interactions: 900)
    let table = state.snapshot.walkView(.all).consolidated
    #expect(table.count > 64, "rows across several bitset words")
    let members = Set(table.nodes)
    for node in 0..<UInt32(state.snapshot.nodes.idCount + 70) {
        let row = table.row(of: node)
        #expect(row.map { table.nodes[$0] } == (members.contains(node) ? node : nil), "node \(node)")
    }
}
