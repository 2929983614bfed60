import Dispatch
import Synchronization
import Testing
@testable import GraphCore

/// A reference model: the set of live edges as (type, source key, target key) → weight.
private struct ModelEdge: Hashable {
    var type: String
    var source: String
    var target: String
}

private func edge(_ type: String, _ source: String, _ target: String, weight: Double? = nil,
                  attributes: [(name: String, value: Double)] = []) -> EdgeInput {
    let (sourceType, sourceKey) = split(source)
    let (targetType, targetKey) = split(target)
    return EdgeInput(type: type, source: NodeRefInput(type: sourceType, key: sourceKey),
                     target: NodeRefInput(type: targetType, key: targetKey), weight: weight, timestampMs: 1, attributes: attributes)
}

private func split(_ ref: String) -> (String, String) {
    let parts = ref.split(separator: ":", maxSplits: 1)
    return (String(parts[0]), String(parts[1]))
}

/// Every live edge of a snapshot as the model sees it, visiting each node's out side.
private func edges(of snapshot: GraphSnapshot) -> [ModelEdge: Float] {
    var result: [ModelEdge: Float] = [:]
    var next: (node: UInt32, skip: Int)? = (0, 0)
    while let position = next {
        let page = snapshot.edges(fromNode: position.node, skip: position.skip, limit: 7)
        for view in page.edges {
            let record = view.record
            let name = { (id: UInt32) in
                "\(snapshot.schema.nodeType(snapshot.nodes.type(of: id)).name):\(snapshot.nodes.key(of: id))"
            }
            let key = ModelEdge(type: snapshot.schema.edgeType(record.type).name, source: name(record.source), target: name(record.target))
            #expect(result[key] == nil, "edge listed twice: \(key)")
            result[key] = record.weight
        }
        next = page.next
    }
    return result
}

@Suite struct GraphStateTests {
    @Test func deltaAndCompactionKeepEveryEdge() throws {
        var state = GraphState()
        _ = state.snapshot
        let topology = try IgraphTopology()
        var model: [ModelEdge: Float] = [:]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<6 {
            var batch: [EdgeInput] = []
            for _ in 0..<300 {
                let user = "user:\(Int.random(in: 0..<40, using: &generator))"
                let item = "item:\(Int.random(in: 0..<60, using: &generator))"
                let weight = Double(Int.random(in: 1...5, using: &generator))
                batch.append(edge("interacted", user, item, weight: weight))
                // undirected: normalised by node id, so keep the model keyed by (user, item)
                model[ModelEdge(type: "interacted", source: user, target: item)] = Float(weight)
            }
            state.apply(try state.planAddEdges(batch, requireExistingNodes: false, nowMs: 5))
            // remove a few
            let victims = Array(model.keys.prefix(10))
            let removals = victims.map { EdgeRefInput(type: $0.type, source: NodeRefInput(type: "user", key: String($0.source.dropFirst(5))),
                                                      target: NodeRefInput(type: "item", key: String($0.target.dropFirst(5)))) }
            state.apply(try state.planRemoveEdges(removals, ignoreMissing: false))
            for victim in victims { model[victim] = nil }
            if round % 2 == 1 { _ = try state.compact(topology: topology) }
            let seen = edges(of: state.snapshot)
            // Compare ignoring the orientation of undirected edges.
            let normalized = Dictionary(uniqueKeysWithValues: seen.map { key, weight in
                key.source.hasPrefix("user") ? (key, weight) : (ModelEdge(type: key.type, source: key.target, target: key.source), weight)
            })
            let missing = model.filter { normalized[$0.key] != $0.value }.map { "\($0.key)=\($0.value) got \(String(describing: normalized[$0.key]))" }
            let extra = normalized.keys.filter { model[$0] == nil }.map { "\($0)" }
            #expect(missing.isEmpty && extra.isEmpty,
                    "round \(round): \(missing.count) missing or wrong, e.g. \(missing.prefix(3)); \(extra.count) extra, e.g. \(extra.prefix(3))")
            #expect(state.snapshot.edgeCount == model.count)
        }
        #expect(topology.edgeCount == state.snapshot.base.edgeCount)
    }

    @Test func writesDuringACompactionAreKept() throws {
        var state = GraphState()
        let topology = try IgraphTopology()
        func names(_ snapshot: GraphSnapshot) -> [ModelEdge: Float] {
            Dictionary(uniqueKeysWithValues: edges(of: snapshot).map { key, weight in
                key.source.hasPrefix("user") ? (key, weight) : (ModelEdge(type: key.type, source: key.target, target: key.source), weight)
            })
        }
        state.apply(try state.planAddEdges((0..<50).map { edge("interacted", "user:\($0 % 5)", "item:\($0)", weight: 1) },
                                           requireExistingNodes: false, nowMs: 1))
        try state.compact(topology: topology)
        // Delta and removals captured by the compaction…
        state.apply(try state.planAddEdges((50..<60).map { edge("interacted", "user:\($0 % 5)", "item:\($0)", weight: 2) },
                                           requireExistingNodes: false, nowMs: 1))
        state.apply(try state.planRemoveEdges([EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "0"),
                                                            target: NodeRefInput(type: "item", key: "0"))], ignoreMissing: false))
        guard let job = state.beginCompaction() else {
            Issue.record("nothing to compact")
            return
        }
        // …and writes made while it builds: new edges, an upsert of a captured
        // delta edge, removals of a base edge and of a captured delta edge.
        state.apply(try state.planAddEdges([edge("interacted", "user:9", "item:900", weight: 3),
                                            edge("interacted", "user:1", "item:51", weight: 4)], requireExistingNodes: false, nowMs: 1))
        state.apply(try state.planRemoveEdges([
            EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "2"), target: NodeRefInput(type: "item", key: "2")),
            EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "3"), target: NodeRefInput(type: "item", key: "53")),
        ], ignoreMissing: false))
        let expected = names(state.snapshot)
        #expect(expected.count == 50 + 10 - 1 + 1 - 2)
        let built = try job.build(topology: topology)
        state.finishCompaction(job, built)
        #expect(names(state.snapshot) == expected)
        #expect(state.snapshot.edgeCount == expected.count)
        #expect(topology.edgeCount == state.snapshot.base.edgeCount)
        // The upsert made during the build is still found (and replaced) by key.
        let again = try state.planAddEdges([edge("interacted", "user:1", "item:51", weight: 5)], requireExistingNodes: false, nowMs: 1)
        #expect(again.updated == 1)
        state.apply(again)
        try state.compact(topology: topology)
        #expect(names(state.snapshot)[ModelEdge(type: "interacted", source: "user:1", target: "item:51")] == 5)
        #expect(state.snapshot.edgeCount == expected.count)
    }

    @Test func nodeKeysResolveAcrossCompactionsRemovalsAndReAdds() throws {
        var state = GraphState()
        let topology = try IgraphTopology()
        state.apply(try state.planAddEdges((0..<300).map { edge("interacted", "user:u\($0)", "item:i\($0)") }, requireExistingNodes: false, nowMs: 1))
        try state.compact(topology: topology)
        let user = NodeKey(type: 0, key: "u7")
        let before = try #require(state.snapshot.nodes.id(of: user))
        state.apply(try state.planRemoveNodes([NodeRefInput(type: "user", key: "u7")], ignoreMissing: false))
        #expect(state.snapshot.nodes.id(of: user) == nil)
        state.apply(try state.planAddEdges([edge("interacted", "user:u7", "item:i8")], requireExistingNodes: false, nowMs: 1))
        let after = try #require(state.snapshot.nodes.id(of: user))
        #expect(after != before)
        try state.compact(topology: topology)
        #expect(state.snapshot.nodes.id(of: user) == after)
        #expect(state.snapshot.nodes.id(of: NodeKey(type: 1, key: "i299")) != nil)
        #expect(state.snapshot.nodes.id(of: NodeKey(type: 1, key: "nope")) == nil)
        #expect(state.snapshot.nodes.id(of: NodeKey(type: 0, key: "i3")) == nil)  // the key exists, as another type
        #expect(state.snapshot.nodeCount == 600)
    }

    @Test func snapshotsDoNotSeeLaterWrites() throws {
        var state = GraphState()
        let topology = try IgraphTopology()
        state.apply(try state.planAddEdges([edge("interacted", "user:a", "item:1")], requireExistingNodes: false, nowMs: 1))
        let before = state.snapshot
        state.apply(try state.planAddEdges((2..<5000).map { edge("interacted", "user:a", "item:\($0)") }, requireExistingNodes: false, nowMs: 1))
        state.apply(try state.planRemoveNodes([NodeRefInput(type: "item", key: "1")], ignoreMissing: false))
        _ = try state.compact(topology: topology)
        #expect(before.edgeCount == 1)
        #expect(before.nodeCount == 2)
        #expect(before.nodes.id(of: NodeKey(type: 1, key: "1")) != nil)
        #expect(before.nodes.id(of: NodeKey(type: 1, key: "4000")) == nil)
        #expect(state.snapshot.edgeCount == 4998)
        #expect(state.snapshot.nodes.id(of: NodeKey(type: 1, key: "1")) == nil)
    }

    @Test func upsertReplacesAndLastOccurrenceInBatchWins() throws {
        var state = GraphState()
        let first = try state.planAddEdges([
            edge("interacted", "user:u", "item:i", weight: 1),
            edge("interacted", "user:u", "item:i", weight: 7, attributes: [("rating", 4)]),
        ], requireExistingNodes: false, nowMs: 1)
        #expect(first.created == 1 && first.insertedEdges.count == 1)
        state.apply(first)
        let second = try state.planAddEdges([edge("interacted", "user:u", "item:i", weight: 2)], requireExistingNodes: false, nowMs: 1)
        #expect(second.created == 0 && second.updated == 1 && second.removedEdges.count == 1)
        state.apply(second)
        let snapshot = state.snapshot
        #expect(snapshot.edgeCount == 1)
        let user = try #require(snapshot.nodes.id(of: NodeKey(type: 0, key: "u")))
        let item = try #require(snapshot.nodes.id(of: NodeKey(type: 1, key: "i")))
        // Undirected: found from either side, and stored in the declared user → item orientation.
        let found = try #require(snapshot.findEdge(type: 0, source: item, target: user))
        #expect(found.record.weight == 2)
        #expect(found.record.attributes.isEmpty)
        #expect(found.record.source == user && found.record.target == item)
        // Naming the ends in the other order is the same edge.
        let reversed = try state.planAddEdges([edge("interacted", "item:i", "user:u", weight: 5)], requireExistingNodes: false, nowMs: 1)
        #expect(reversed.created == 0 && reversed.updated == 1)
        #expect(reversed.insertedEdges.first?.source == user)
    }

    @Test func blocksPlanExactlyWhatRowsPlan() throws {
        // The same random edges, as rows and as blocks (some naming the undirected
        // type's ends item first), applied batch by batch to two graphs. The last
        // rounds are large enough for the block path's parallel lookups, and the
        // blocks' graph applies with the work prepared aside, as the database does.
        var rowsState = GraphState(), blocksState = GraphState()
        var generator = SplitMix(seed: 7)
        for round in 0..<10 {
            let large = round >= 7
            let (size, users, items) = large ? (5000 + Int(generator.next() % 2000), 300 * (round - 6), 500 * (round - 6)) : (Int(generator.next() % 200), 60, 90)
            var rows: [EdgeInput] = []
            var blocks: [EdgeBlockInput] = []
            for part in 0..<3 {
                let reversed = (round + part) % 2 == 1
                var block = EdgeBlockInput(type: "interacted", sourceType: reversed ? "item" : "user",
                                           targetType: reversed ? "user" : "item", sourceKeys: [], targetKeys: [],
                                           attributes: [("rating", []), ("effect", [])])
                for _ in 0..<size {
                    let user = "u\(generator.next() % UInt64(users))", item = "i\(generator.next() % UInt64(items))"
                    let weight = Double(generator.next() % 5), timestamp = Int64(generator.next() % 3)
                    let attributes = [("rating", Double(generator.next() % 5)), ("effect", 0.5)]
                    let (source, target) = reversed ? (item, user) : (user, item)
                    rows.append(EdgeInput(type: "interacted", source: NodeRefInput(type: block.sourceType, key: source),
                                          target: NodeRefInput(type: block.targetType, key: target), weight: weight,
                                          timestampMs: timestamp, attributes: attributes))
                    block.sourceKeys.append(source)
                    block.targetKeys.append(target)
                    block.weights.append(weight)
                    block.timestampsMs.append(timestamp)
                    block.attributes[0].values.append(attributes[0].1)
                    block.attributes[1].values.append(attributes[1].1)
                }
                blocks.append(block)
            }
            let fromRows = try rowsState.planAddEdges(rows, requireExistingNodes: false, nowMs: 9)
            let fromBlocks = try blocksState.planAddEdges([], blocks: blocks, requireExistingNodes: false, nowMs: 9)
            #expect(fromRows.insertedEdges == fromBlocks.insertedEdges, "round \(round)")
            #expect(fromRows.insertedNodes == fromBlocks.insertedNodes, "round \(round)")
            #expect(fromRows.removedEdges.map(\.slot) == fromBlocks.removedEdges.map(\.slot), "round \(round)")
            #expect(fromRows.created == fromBlocks.created && fromRows.updated == fromBlocks.updated, "round \(round)")
            #expect(fromRows.updated > 0 || round == 0)
            #expect(!large || (fromBlocks.updated > 100 && fromBlocks.insertedNodes.count > 10), "round \(round)")
            rowsState.apply(fromRows)
            blocksState.apply(fromBlocks, prepared: blocksState.preparation(for: fromBlocks)())
        }
        #expect(edges(of: rowsState.snapshot) == edges(of: blocksState.snapshot))
        #expect(rowsState.snapshot.edgeCount > 1000)
    }

    /// A group of requests planned together does what the requests do one
    /// after another: the same counts per request (an edge an earlier request
    /// wrote is updated by a later one), the same refusals (a request needing
    /// a node only a refused request would create fails), the same graph.
    @Test func aGroupPlansWhatItsRequestsDoInTurn() throws {
        var grouped = GraphState(), serial = GraphState()
        var generator = SplitMix(seed: 21)
        var refusals = 0, crossUpdates = 0
        for round in 0..<12 {
            var requests: [EdgeWriteRequest] = []
            for _ in 0..<Int(generator.next() % 6) + 1 {
                let kind = generator.next() % 10
                var rows = (0..<Int(generator.next() % 40)).map { _ in
                    edge("interacted", "user:u\(generator.next() % 30)", "item:i\(generator.next() % 40)", weight: Double(generator.next() % 7))
                }
                if kind == 0 { rows.append(edge("interacted", "user:bad", "item:bad", weight: .nan)) }  // refused
                var request = EdgeWriteRequest(edges: kind == 1 ? [] : rows, requireExistingNodes: kind == 2)
                if kind == 1 {  // the same rows as a block
                    var block = EdgeBlockInput(type: "interacted", sourceType: "user", targetType: "item", sourceKeys: [], targetKeys: [])
                    for row in rows {
                        block.sourceKeys.append(row.source.key)
                        block.targetKeys.append(row.target.key)
                        block.weights.append(row.weight ?? 1)
                    }
                    request.blocks = [block]
                }
                requests.append(request)
            }
            let (plan, outcomes) = grouped.planEdgeGroup(requests, nowMs: 5)
            for (index, request) in requests.enumerated() {
                let alone = Result { try serial.planAddEdges(request.edges, blocks: request.blocks,
                                                              requireExistingNodes: request.requireExistingNodes, nowMs: 5) }
                switch (alone, outcomes[index]) {
                case (.success(let expected), .success(let counts)):
                    #expect(counts == EdgeWriteCounts(created: expected.created, updated: expected.updated,
                                                      nodesCreated: expected.insertedNodes.count), "round \(round) request \(index)")
                    serial.apply(expected)
                case (.failure(let expected as GraphError), .failure(let error as GraphError)):
                    #expect(error.kind == expected.kind && error.message == expected.message, "round \(round) request \(index)")
                    refusals += 1
                default:
                    Issue.record("round \(round) request \(index): alone \(alone), in the group \(outcomes[index])")
                }
            }
            crossUpdates += outcomes.reduce(0) { $0 + ((try? $1.get())?.updated ?? 0) } - plan.updated
            grouped.apply(plan)
            #expect(edges(of: grouped.snapshot) == edges(of: serial.snapshot), "round \(round)")
            #expect(grouped.snapshot.nodeCount == serial.snapshot.nodeCount, "round \(round)")
        }
        #expect(refusals >= 3)
        #expect(crossUpdates > 0, "no request updated an edge an earlier one of its group wrote")
    }

    @Test func badBlocksAreRefusedWhole() throws {
        var state = GraphState()
        state.apply(try state.planAddEdges([edge("interacted", "user:u", "item:i")], requireExistingNodes: false, nowMs: 1))
        func block(_ change: (inout EdgeBlockInput) -> Void) -> EdgeBlockInput {
            var block = EdgeBlockInput(type: "interacted", sourceType: "user", targetType: "item",
                                       sourceKeys: ["a", "b"], targetKeys: ["x", "y"])
            change(&block)
            return block
        }
        let bad: [(GraphError.Kind, String, (inout EdgeBlockInput) -> Void)] = [
            (.invalidArgument, "target_keys", { $0.targetKeys = ["x"] }),
            (.invalidArgument, "weights", { $0.weights = [1] }),
            (.invalidArgument, "timestamps_ms", { $0.timestampsMs = [1, 2, 3] }),
            (.invalidArgument, "not a finite", { $0.weights = [1, .infinity] }),
            (.invalidArgument, "negative", { $0.timestampsMs = [0, -1] }),
            (.invalidArgument, "has 1 values", { $0.attributes = [("rating", [1])] }),
            (.invalidArgument, "not finite", { $0.attributes = [("rating", [1, .nan])] }),
            (.invalidArgument, "appears twice", { $0.attributes = [("rating", [1, 2]), ("rating", [3, 4])] }),
            (.invalidArgument, "empty", { $0.targetKeys = ["x", ""] }),
            (.invalidArgument, "must be a 'user' node", { $0.sourceType = "llm" }),
            (.notFound, "edge type", { $0.type = "nope" }),
            (.notFound, "node type", { $0.targetType = "nope" }),
        ]
        let version = state.snapshot.version
        for (kind, fragment, change) in bad {
            do {
                _ = try state.planAddEdges([edge("interacted", "user:fine", "item:fine")], blocks: [block(change)],
                                           requireExistingNodes: false, nowMs: 1)
                Issue.record("\(fragment): accepted")
            } catch let error as GraphError {
                #expect(error.kind == kind, "\(fragment): \(error)")
                #expect(error.message.contains(fragment), "\(fragment): \(error.message)")
                #expect(error.message.contains("blocks[0]"), "\(fragment): \(error.message)")
            }
        }
        #expect(throws: GraphError.notFound("blocks[0] row 0 (interacted user/a → item/x): source node user/a does not exist (require_existing_nodes is set)")) {
            try state.planAddEdges([], blocks: [block { _ in }], requireExistingNodes: true, nowMs: 1)
        }
        #expect(try state.planAddEdges([], blocks: [block { $0.sourceKeys = []; $0.targetKeys = [] }], requireExistingNodes: false, nowMs: 1).isEmpty)
        #expect(throws: GraphError.self) {  // empty, but of a type that does not exist
            try state.planAddEdges([], blocks: [block { $0.sourceKeys = []; $0.targetKeys = []; $0.type = "nope" }], requireExistingNodes: false, nowMs: 1)
        }
        #expect(state.snapshot.version == version)
    }

    @Test func recentNodeKeysStayFindableAsLevelsMerge() throws {
        // Many small batches of new nodes, with removals and re-adds: every live key
        // resolves from the snapshot, removed ones do not, and levels stay few.
        var state = GraphState()
        let topology = try IgraphTopology()
        var live: [String: UInt32] = [:]
        var generator = SplitMix(seed: 11)
        for round in 0..<120 {
            let count = 1 + Int(generator.next() % 40)
            let keys = (0..<count).map { "k\(round)-\($0)" }
            state.apply(try state.planAddEdges(keys.map { edge("interacted", "user:\($0)", "item:hub") }, requireExistingNodes: false, nowMs: 1))
            for key in keys { live[key] = try #require(state.snapshot.nodes.id(of: NodeKey(type: 0, key: key))) }
            if round % 7 == 3, let victim = live.keys.sorted().first {
                state.apply(try state.planRemoveNodes([NodeRefInput(type: "user", key: victim)], ignoreMissing: false))
                live[victim] = nil
                #expect(state.snapshot.nodes.id(of: NodeKey(type: 0, key: victim)) == nil)
            }
            if round == 60 { try state.compact(topology: topology) }
            #expect(state.snapshot.nodes.recentLevels.count <= 12, "round \(round): \(state.snapshot.nodes.recentLevels.count) levels")
        }
        let snapshot = state.snapshot
        let misses = live.filter { snapshot.nodes.id(of: NodeKey(type: 0, key: $0.key)) != $0.value }
        #expect(misses.isEmpty, "\(misses.count) keys resolve wrongly, e.g. \(misses.prefix(3))")
        // A removed key added again gets a new id, found in place of the old one.
        let readded = try #require(live.keys.sorted().first)
        state.apply(try state.planRemoveNodes([NodeRefInput(type: "user", key: readded)], ignoreMissing: false))
        state.apply(try state.planAddEdges([edge("interacted", "user:\(readded)", "item:hub")], requireExistingNodes: false, nowMs: 1))
        let again = try #require(state.snapshot.nodes.id(of: NodeKey(type: 0, key: readded)))
        #expect(again != live[readded])
        let plan = try state.planAddEdges([edge("interacted", "user:\(readded)", "item:hub", weight: 2)], requireExistingNodes: true, nowMs: 1)
        #expect(plan.insertedNodes.isEmpty && plan.updated == 1 && plan.insertedEdges.first?.source == again)
    }

    @Test func nodesAndEdgesPlanAsOneBatch() throws {
        var state = GraphState()
        state.apply(try state.planDefineTypes(nodeTypes: [], edgeTypes: [EdgeTypeInput(name: "asked", directed: true)]))
        state.apply(try state.planAddNodes([NodeInput(type: "llm", key: "gpt")]))
        let nodes = [NodeInput(type: "query", key: "q1", text: "what is 2+2"), NodeInput(type: "task", key: "math")]
        // An edge to a missing LLM refuses the nodes too.
        #expect(throws: GraphError.self) {
            try state.planAddNodesAndEdges(nodes, edges: [edge("asked", "query:q1", "llm:nope")], requireExistingNodes: true, nowMs: 1)
        }
        // The batch's own nodes count as existing.
        let plan = try state.planAddNodesAndEdges(nodes, edges: [edge("asked", "query:q1", "llm:gpt", weight: 2),
                                                                 edge("asked", "task:math", "query:q1")],
                                                  requireExistingNodes: true, nowMs: 1)
        #expect(plan.insertedNodes.map(\.key) == ["q1", "math"])
        #expect(plan.insertedEdges.count == 2 && plan.created == 2 && plan.updated == 0)
        state.apply(plan)
        let snapshot = state.snapshot
        let query = try #require(snapshot.nodes.id(of: NodeKey(type: try snapshot.schema.requireNodeType("query"), key: "q1")))
        #expect(snapshot.nodes.text(of: query) == "what is 2+2")
        #expect(snapshot.edgeCount == 2 && snapshot.nodeCount == 3)
    }

    @Test func invalidBatchesAreRefusedWhole() throws {
        var state = GraphState()
        state.apply(try state.planAddEdges([edge("interacted", "user:u", "item:i")], requireExistingNodes: false, nowMs: 1))
        let version = state.snapshot.version
        #expect(throws: GraphError.self) {
            try state.planAddEdges([edge("interacted", "user:x", "item:y"), edge("nope", "user:u", "item:i")], requireExistingNodes: false, nowMs: 1)
        }
        #expect(throws: GraphError.self) {
            try state.planAddEdges([edge("interacted", "llm:y", "user:u")], requireExistingNodes: false, nowMs: 1)
        }
        #expect(throws: GraphError.self) {
            try state.planAddEdges([edge("interacted", "user:u", "item:i", weight: .nan)], requireExistingNodes: false, nowMs: 1)
        }
        #expect(throws: GraphError.self) {
            try state.planAddEdges([edge("interacted", "user:u", "item:new")], requireExistingNodes: true, nowMs: 1)
        }
        #expect(throws: GraphError.self) {
            try state.planAddNodes([NodeInput(type: "user", key: "v", features: [1, 2]), NodeInput(type: "user", key: "w", features: [1, 2, 3])])
        }
        #expect(throws: GraphError.self) {
            try state.planDefineTypes(nodeTypes: [NodeTypeInput(name: "Bad Name")], edgeTypes: [])
        }
        #expect(state.snapshot.version == version)
        #expect(state.snapshot.nodeCount == 2)
    }

    @Test func removingANodeRemovesItsEdges() throws {
        var state = GraphState()
        state.apply(try state.planDefineTypes(nodeTypes: [], edgeTypes: [EdgeTypeInput(name: "follows", directed: true)]))
        state.apply(try state.planAddEdges([
            edge("follows", "user:a", "user:b"), edge("follows", "user:b", "user:a"),
            edge("follows", "user:b", "user:c"), edge("follows", "user:c", "user:c"),
        ], requireExistingNodes: false, nowMs: 1))
        let b = try #require(state.snapshot.nodes.id(of: NodeKey(type: 0, key: "b")))
        #expect(state.snapshot.degree(of: b).outgoing == 2)
        #expect(state.snapshot.degree(of: b).incoming == 1)
        let plan = try state.planRemoveNodes([NodeRefInput(type: "user", key: "b")], ignoreMissing: false)
        #expect(plan.removedEdges.count == 3)
        state.apply(plan)
        #expect(state.snapshot.edgeCount == 1)
        #expect(state.snapshot.nodeCount == 2)
    }

    @Test func neighborsPageInEdgeIDOrderWithFilters() throws {
        var state = GraphState()
        state.apply(try state.planDefineTypes(nodeTypes: [], edgeTypes: [EdgeTypeInput(name: "knows", directed: true)]))
        state.apply(try state.planAddEdges((0..<25).map { edge("interacted", "user:u", "item:\($0)") }
            + [edge("knows", "user:u", "user:v"), edge("knows", "user:w", "user:u")], requireExistingNodes: false, nowMs: 1))
        let topology = try IgraphTopology()
        _ = try state.compact(topology: topology)
        state.apply(try state.planAddEdges([edge("interacted", "user:u", "item:x")], requireExistingNodes: false, nowMs: 1))
        let snapshot = state.snapshot
        let u = try #require(snapshot.nodes.id(of: NodeKey(type: 0, key: "u")))
        var collected: [Int64] = []
        var after: Int64? = nil
        repeat {
            let page = snapshot.neighbors(of: u, direction: .both, edgeTypes: [0], nodeTypes: nil, afterEdgeID: after, limit: 10)
            collected += page.edges.map(\.edge.record.id)
            after = page.nextEdgeID
        } while after != nil
        #expect(collected.count == 26)
        #expect(collected == collected.sorted())
        let outgoing = snapshot.neighbors(of: u, direction: .outgoing, edgeTypes: [1], nodeTypes: nil, afterEdgeID: nil, limit: 10)
        #expect(outgoing.edges.count == 1)
        let incoming = snapshot.neighbors(of: u, direction: .incoming, edgeTypes: [1], nodeTypes: nil, afterEdgeID: nil, limit: 10)
        #expect(incoming.edges.count == 1 && incoming.edges[0].nodeIsSource == false)
        let users = snapshot.neighbors(of: u, direction: .both, edgeTypes: nil, nodeTypes: [0], afterEdgeID: nil, limit: 100)
        #expect(users.edges.count == 2)
    }
}

@Suite struct IgraphTests {
    @Test func errorsComeBackAsCodesNotAborts() throws {
        let topology = try IgraphTopology(vertexCount: 3)
        try topology.addEdges(sources: [0, 1], targets: [1, 2])
        #expect(throws: IgraphError.self) { try topology.deleteEdges([99]) }
        #expect(throws: IgraphError.self) { try topology.addEdges(sources: [0], targets: [42]) }
        #expect(topology.edgeCount == 2)
        let list = try topology.edgeList()
        #expect(list.sources == [0, 1] && list.targets == [1, 2])
    }

    /// igraph keeps its error state process-wide: graphs worked on from several
    /// threads at once (failing calls included) must not corrupt it.
    @Test func graphsOnSeveralThreadsAtOnce() throws {
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for round in 0..<300 {
                do {
                    let topology = try IgraphTopology(vertexCount: 8)
                    try topology.addEdges(sources: [0, 1, 2, 3], targets: [1, 2, 3, UInt32(4 + worker)])
                    do {
                        try topology.deleteEdges([99])
                        failures.withLock { $0 += 1 }
                    } catch {}
                    try topology.deleteEdges([UInt32(round % 4)])
                    let list = try topology.edgeList()
                    if list.sources.count != 3 { failures.withLock { $0 += 1 } }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }

    @Test func deleteKeepsOrderOfRemainingEdges() throws {
        let topology = try IgraphTopology(vertexCount: 4)
        try topology.addEdges(sources: [0, 1, 2, 3], targets: [1, 2, 3, 0])
        try topology.deleteEdges([1])
        let list = try topology.edgeList()
        #expect(list.sources == [0, 2, 3] && list.targets == [1, 3, 0])
    }
}

@Suite struct ChunkedColumnTests {
    @Test func copiesAreIsolated() {
        var column = ChunkedColumn<Int>()
        for i in 0..<10_000 { column.append(i) }
        let copy = column
        column[5] = -1
        column.append(42)
        #expect(copy[5] == 5 && copy.count == 10_000)
        #expect(column[5] == -1 && column.count == 10_001 && column[10_000] == 42)
        #expect(Array(copy) == Array(0..<10_000))
    }
}
