import HashTreeCollections

/// The writer's side of the graph: the current snapshot plus indexes only the
/// writer needs. Owned by exactly one actor, together with the igraph topology.
///
/// Every change goes through two steps: `plan…` validates a batch against the
/// current state and computes a `WritePlan` without changing anything, and
/// `apply` performs a plan. Between the two the store commits the plan, so an
/// acknowledged write is always durable and a failed one leaves no trace.
public struct GraphState: Sendable {
    public private(set) var snapshot: GraphSnapshot
    /// Next edge id (store row id) to assign.
    private(set) var nextEdgeID: Int64
    /// Delta edges by (type, source, target), for upserts.
    private var deltaIndex = EdgeKeyTable()
    /// Nodes added since the base index was built, in one mutable hash table:
    /// ingest looks up two nodes per edge, and the snapshot's recent levels
    /// (immutable, for readers) would take a probe per level.
    private var recentNodeIDs = RecentNodeKeys()
    /// Delta chunks captured by a running compaction: never merged into.
    private var sealedChunkCount = 0
    /// Counts every change of this state, so that `Prepared` work can tell it is current.
    private var generation: UInt64 = 0

    /// A new, empty graph with the built-in schema.
    public init(schema: GraphSchema = .builtin()) {
        self.snapshot = GraphSnapshot(schema: schema)
        self.nextEdgeID = 1
    }

    /// A graph loaded from the store: `columns`, `sources` and `targets` hold
    /// every edge in id order; `topology` must already hold the same edges.
    /// `nodeIDCount` and `nextEdgeID` (when given) are above every node and
    /// edge id the store has used, so that ids of removed nodes and edges are
    /// never handed out again.
    public init(schema: GraphSchema, nodes: [NodeRecord], nodeIDCount: Int = 0, columns: EdgeColumns, sources: [UInt32],
                targets: [UInt32], topology: IgraphTopology, nextEdgeID: Int64? = nil) throws {
        var snapshot = GraphSnapshot(schema: schema)
        for node in nodes { snapshot.nodes.insert(node) }
        snapshot.nodes.reserveIDs(upTo: nodeIDCount)
        snapshot.nodes.reindex()
        guard topology.edgeCount == columns.count else {
            throw GraphError(.internal, "igraph holds \(topology.edgeCount) edges, the store \(columns.count)")
        }
        try topology.addVertices(snapshot.nodes.idCount - topology.vertexCount)
        snapshot.base = BaseTopology(vertexCount: snapshot.nodes.idCount, sources: sources, targets: targets, columns: columns)
        for type in columns.types { snapshot.edgeCountByType[type, default: 0] += 1 }
        self.snapshot = snapshot
        self.nextEdgeID = max((columns.ids.last ?? 0) + 1, nextEdgeID ?? 1)
    }

    public var schema: GraphSchema { snapshot.schema }

    /// The writer's node lookup: recent nodes from its hash table, older ones
    /// from the snapshot's base index.
    func nodeID(_ key: NodeKey) -> UInt32? {
        let hash = NodeKeyIndex.hash(type: key.type, key: key.key)
        let nodes = snapshot.nodes
        return recentNodeIDs.find(key, hash: hash) ?? nodes.baseIndex.find(key, hash: hash, in: nodes)
    }

    /// The id of each key's existing node of `type` (nil where there is
    /// none), for a whole block of keys: the lookups run in parallel.
    func existingNodeIDs(type: NodeTypeID, keys: [String]) -> [UInt32?] {
        let hashes = keys.map { NodeKeyIndex.hash(type: type, key: $0) }
        let recent = recentNodeIDs, nodes = snapshot.nodes, distance = Self.prefetchDistance
        return ParallelReads.map(keys.count) { i in
            // Both tables are large and probed at random: one lookup after
            // another waits for each cache miss in turn, prefetching a few
            // keys ahead overlaps them.
            if i + distance < hashes.count {
                recent.prefetch(hash: hashes[i + distance])
                nodes.baseIndex.prefetch(hash: hashes[i + distance])
            }
            let key = NodeKey(type: type, key: keys[i])
            return recent.find(key, hash: hashes[i]) ?? nodes.baseIndex.find(key, hash: hashes[i], in: nodes)
        }
    }

    /// How many keys ahead batched lookups prefetch: enough misses in flight
    /// to cover memory latency, few enough that the lines stay in L1/L2.
    static let prefetchDistance = 8

    // MARK: Planning

    public func planDefineTypes(nodeTypes: [NodeTypeInput], edgeTypes: [EdgeTypeInput]) throws -> WritePlan {
        var plan = WritePlan()
        var schema = snapshot.schema
        for input in nodeTypes {
            try GraphLimits.validateName(input.name, what: "node type")
            guard input.featureDimension >= 0, input.featureDimension <= GraphLimits.maxFeatureDimension else {
                throw GraphError.invalid("node type '\(input.name)': feature dimension \(input.featureDimension) is outside 0…\(GraphLimits.maxFeatureDimension)")
            }
            if let id = schema.nodeTypeID(input.name) {
                let existing = schema.nodeType(id)
                if input.featureDimension != 0 && existing.featureDimension != input.featureDimension {
                    if existing.featureDimension == 0 {  // not fixed yet: no node of the type has a vector
                        var changed = existing
                        changed.featureDimension = input.featureDimension
                        schema.insert(changed)
                        plan.changedNodeTypes.append(changed)
                        continue
                    }
                    throw GraphError(.alreadyExists, "node type '\(input.name)' exists with feature dimension \(existing.featureDimension), not \(input.featureDimension)")
                }
                continue
            }
            guard schema.nodeTypes.count < GraphLimits.maxTypes else {
                throw GraphError(.resourceExhausted, "at most \(GraphLimits.maxTypes) node types")
            }
            let info = NodeTypeInfo(id: NodeTypeID(schema.nodeTypes.count), name: input.name, featureDimension: input.featureDimension)
            schema.insert(info)
            plan.newNodeTypes.append(info)
        }
        for input in edgeTypes {
            try GraphLimits.validateName(input.name, what: "edge type")
            let sourceType = try input.sourceType.map { try schema.requireNodeType($0) }
            let targetType = try input.targetType.map { try schema.requireNodeType($0) }
            if let id = schema.edgeTypeID(input.name) {
                let existing = schema.edgeType(id)
                guard existing.directed == input.directed, existing.sourceType == sourceType, existing.targetType == targetType else {
                    throw GraphError(.alreadyExists, "edge type '\(input.name)' exists with a different declaration (directed: \(existing.directed))")
                }
                continue
            }
            guard schema.edgeTypes.count < GraphLimits.maxTypes else {
                throw GraphError(.resourceExhausted, "at most \(GraphLimits.maxTypes) edge types")
            }
            let info = EdgeTypeInfo(id: EdgeTypeID(schema.edgeTypes.count), name: input.name, directed: input.directed,
                                    sourceType: sourceType, targetType: targetType)
            schema.insert(info)
            plan.newEdgeTypes.append(info)
        }
        plan.created = plan.newNodeTypes.count + plan.newEdgeTypes.count
        return plan
    }

    public func planAddNodes(_ inputs: [NodeInput]) throws -> WritePlan {
        var plan = WritePlan()
        var dimensions: [NodeTypeID: Int] = [:]
        var inserted: [NodeKey: Int] = [:]  // index into plan.insertedNodes
        var updated: [UInt32: Int] = [:]    // index into plan.updatedNodes
        var nextID = UInt32(snapshot.nodes.idCount)
        for (position, input) in inputs.enumerated() {
            let context = "node \(position) (\(input.type)/\(input.key.prefix(64)))"
            let type = try snapshot.schema.requireNodeType(input.type)
            try GraphLimits.validateKey(input.key)
            if let text = input.text, text.utf8.count > GraphLimits.maxTextLength {
                throw GraphError.invalid("\(context): text is longer than \(GraphLimits.maxTextLength) bytes")
            }
            var features: [Float]? = nil
            if !input.features.isEmpty {
                guard input.features.allSatisfy(\.isFinite) else {
                    throw GraphError.invalid("\(context): feature vector has a NaN or infinite value")
                }
                let expected = dimensions[type] ?? snapshot.schema.nodeType(type).featureDimension
                if expected == 0 {
                    guard input.features.count <= GraphLimits.maxFeatureDimension else {
                        throw GraphError.invalid("\(context): feature dimension \(input.features.count) exceeds \(GraphLimits.maxFeatureDimension)")
                    }
                    dimensions[type] = input.features.count
                } else if input.features.count != expected {
                    throw GraphError.invalid("\(context): feature vector has \(input.features.count) values; node type '\(input.type)' has dimension \(expected)")
                }
                features = input.features
            }
            let key = NodeKey(type: type, key: input.key)
            if let id = nodeID(key) {
                if input.text == nil && features == nil { continue }
                if let index = updated[id] {
                    if let text = input.text { plan.updatedNodes[index].text = text }
                    if let features { plan.updatedNodes[index].features = features }
                } else {
                    updated[id] = plan.updatedNodes.count
                    plan.updatedNodes.append(NodeRecord(id: id, type: type, key: input.key, text: input.text, features: features))
                }
            } else if let index = inserted[key] {
                if let text = input.text { plan.insertedNodes[index].text = text }
                if let features { plan.insertedNodes[index].features = features }
            } else {
                guard Int(nextID) < GraphLimits.maxNodes else { throw GraphError(.resourceExhausted, "the graph holds the maximum number of nodes") }
                inserted[key] = plan.insertedNodes.count
                plan.insertedNodes.append(NodeRecord(id: nextID, type: type, key: input.key, text: input.text, features: features))
                nextID += 1
            }
        }
        for (type, dimension) in dimensions.sorted(by: { $0.key < $1.key }) {
            var info = snapshot.schema.nodeType(type)
            info.featureDimension = dimension
            plan.changedNodeTypes.append(info)
        }
        plan.created = plan.insertedNodes.count
        plan.updated = plan.updatedNodes.count
        return plan
    }

    /// Plans nodes and then edges as one batch (one transaction): the edges may
    /// name the nodes, which count as existing for `requireExistingNodes`.
    public func planAddNodesAndEdges(_ nodes: [NodeInput], edges: [EdgeInput], requireExistingNodes: Bool,
                                     nowMs: Int64) throws -> WritePlan {
        var planner = EdgeBatchPlanner(state: self, capacity: edges.count, requireExistingNodes: requireExistingNodes,
                                       nowMs: nowMs, after: try planAddNodes(nodes))
        try planner.add(edges)
        return try planner.finish()
    }

    /// Plans an AddEdges batch: `inputs` in order, then each block's rows in
    /// order (see `EdgeBatchPlanner` for the rules).
    public func planAddEdges(_ inputs: [EdgeInput], blocks: [EdgeBlockInput] = [], requireExistingNodes: Bool,
                             nowMs: Int64) throws -> WritePlan {
        var planner = EdgeBatchPlanner(state: self, capacity: inputs.count + blocks.reduce(0) { $0 + $1.count },
                                       requireExistingNodes: requireExistingNodes, nowMs: nowMs)
        try planner.add(inputs)
        for (index, block) in blocks.enumerated() { try planner.add(block, index: index) }
        return try planner.finish()
    }

    /// Plans several AddEdges requests as one batch, with what each would do
    /// had they run alone, one after another, in order: a later request sees
    /// the nodes and edges of the earlier ones (and updates, not creates, an
    /// edge one of them wrote). A request that fails is left out with its
    /// error, and the others are planned again without it. If the batch as a
    /// whole is refused (the graph's edge limit), every request gets that error.
    public func planEdgeGroup(_ requests: [EdgeWriteRequest], nowMs: Int64) -> (plan: WritePlan, outcomes: [Result<EdgeWriteCounts, any Error>]) {
        var outcomes = [Result<EdgeWriteCounts, any Error>](repeating: .success(EdgeWriteCounts()), count: requests.count)
        var active = Array(requests.indices)
        while !active.isEmpty {
            var planner = EdgeBatchPlanner(state: self, capacity: active.reduce(0) { $0 + requests[$1].rowCount },
                                           requireExistingNodes: requests[active[0]].requireExistingNodes, nowMs: nowMs)
            var failed: Int? = nil
            for (position, index) in active.enumerated() {
                if position > 0 { planner.startRequest(requireExistingNodes: requests[index].requireExistingNodes) }
                do {
                    try planner.add(requests[index].edges)
                    for (block, input) in requests[index].blocks.enumerated() { try planner.add(input, index: block) }
                } catch {
                    outcomes[index] = .failure(error)
                    failed = index
                    break
                }
            }
            if let failed {
                active.removeAll { $0 == failed }
                continue
            }
            do {
                let plan = try planner.finish()
                for (position, index) in active.enumerated() { outcomes[index] = .success(planner.counts[position]) }
                return (plan, outcomes)
            } catch {
                for index in active { outcomes[index] = .failure(error) }
                break
            }
        }
        return (WritePlan(), outcomes)
    }

    /// Starts loading where `existingEdge` looks first in the delta (see `ProbingTable.prefetch`).
    func prefetchEdge(type: EdgeTypeID, source: UInt32, target: UInt32) {
        deltaIndex.prefetch(type: type, source: source, target: target)
    }

    func existingEdge(type: EdgeTypeID, source: UInt32, target: UInt32) -> EdgeView? {
        if let slot = deltaIndex[type, source, target], let (chunk, index) = snapshot.deltaLocation(of: slot) {
            return EdgeView(slot: slot, record: chunk.records[index])
        }
        for slot in snapshot.base.slots(from: source, to: target)
        where snapshot.base.columns.types[Int(slot)] == type && !snapshot.isRemoved(slot) {
            return EdgeView(slot: slot, record: snapshot.base.record(slot: slot, source: source, target: target))
        }
        return nil
    }

    public func planRemoveEdges(_ inputs: [EdgeRefInput], ignoreMissing: Bool) throws -> WritePlan {
        var plan = WritePlan()
        var seen = Set<UInt32>()
        for (position, input) in inputs.enumerated() {
            let context = "edge \(position) (\(input.type) \(input.source.type)/\(input.source.key.prefix(64)) → \(input.target.type)/\(input.target.key.prefix(64)))"
            let type = try snapshot.schema.requireEdgeType(input.type)
            let source = nodeID(NodeKey(type: try snapshot.schema.requireNodeType(input.source.type), key: input.source.key))
            let target = nodeID(NodeKey(type: try snapshot.schema.requireNodeType(input.target.type), key: input.target.key))
            guard let source, let target, let edge = snapshot.findEdge(type: type, source: source, target: target) else {
                if ignoreMissing { continue }
                throw GraphError.notFound("\(context) does not exist")
            }
            if seen.insert(edge.slot).inserted {
                plan.removedEdges.append(edge)
            }
        }
        plan.updated = plan.removedEdges.count
        return plan
    }

    public func planRemoveNodes(_ inputs: [NodeRefInput], ignoreMissing: Bool) throws -> WritePlan {
        var plan = WritePlan()
        var seenNodes = Set<UInt32>()
        var seenEdges = Set<UInt32>()
        for input in inputs {
            let type = try snapshot.schema.requireNodeType(input.type)
            guard let id = nodeID(NodeKey(type: type, key: input.key)) else {
                if ignoreMissing { continue }
                throw GraphError.notFound("node \(input.type)/\(input.key) does not exist")
            }
            guard seenNodes.insert(id).inserted else { continue }
            plan.removedNodes.append(id)
            snapshot.forEachEdge(of: id, direction: .both) { edge, _ in
                if seenEdges.insert(edge.slot).inserted { plan.removedEdges.append(edge) }
                return true
            }
        }
        plan.updated = plan.removedEdges.count
        return plan
    }

    // MARK: Applying

    /// The parts of `apply` that only read the state: the node table with the
    /// plan's new nodes inserted and indexed, and the delta chunk holding its
    /// new edges. The database builds them on another thread while the store
    /// commits the plan; `apply` uses them only if the state has not changed.
    public struct Prepared: Sendable {
        fileprivate let generation: UInt64
        fileprivate let nodes: NodeTable?
        fileprivate let delta: NewDeltaChunk?
    }

    fileprivate struct NewDeltaChunk: Sendable {
        let chunk: DeltaChunk
        /// The chunk absorbs the last one (which was small) rather than following it.
        let replacesLast: Bool
    }

    /// Work that computes `Prepared` for `plan` from a copy of what it needs;
    /// safe to run on any thread while this state is unchanged.
    public func preparation(for plan: WritePlan) -> @Sendable () -> Prepared {
        let generation = self.generation
        let nodes = snapshot.nodes, inserted = plan.insertedNodes, edges = plan.insertedEdges
        let mergeable = snapshot.delta.count > sealedChunkCount ? snapshot.delta.last : nil
        let nextSlot = UInt32(snapshot.base.edgeCount + snapshot.deltaEdgeCount)
        return {
            Prepared(generation: generation,
                     nodes: inserted.isEmpty ? nil : Self.inserting(inserted, into: nodes),
                     delta: edges.isEmpty ? nil : Self.deltaChunk(for: edges, after: mergeable, nextSlot: nextSlot))
        }
    }

    private static func inserting(_ inserted: [NodeRecord], into nodes: NodeTable) -> NodeTable {
        var nodes = nodes
        for node in inserted { nodes.insert(node) }
        nodes.indexNewNodes()
        return nodes
    }

    /// The chunk for new edges: merged with the last chunk while that is
    /// small (and not captured by a compaction), else a new one at `nextSlot`.
    private static func deltaChunk(for records: [EdgeRecord], after last: DeltaChunk?, nextSlot: UInt32) -> NewDeltaChunk {
        if let last, last.count < DeltaChunk.mergeBelow {
            return NewDeltaChunk(chunk: DeltaChunk(firstSlot: last.firstSlot, records: last.records + records), replacesLast: true)
        }
        return NewDeltaChunk(chunk: DeltaChunk(firstSlot: nextSlot, records: records), replacesLast: false)
    }

    /// Performs a plan the store has committed; `prepared`, when given, is
    /// `preparation(for: plan)`'s result.
    public mutating func apply(_ plan: WritePlan, prepared: Prepared? = nil) {
        guard !plan.isEmpty else { return }
        // Work prepared for an earlier state is done again, the same way, here.
        let current = generation
        let prepared = prepared.flatMap { $0.generation == current ? $0 : nil } ?? preparation(for: plan)()
        generation += 1
        for info in plan.newNodeTypes { snapshot.schema.insert(info) }
        for info in plan.changedNodeTypes { snapshot.schema.insert(info) }
        for info in plan.newEdgeTypes { snapshot.schema.insert(info) }
        for (_, name) in plan.newAttributes { _ = snapshot.schema.insertAttribute(name) }
        if !plan.insertedNodes.isEmpty {
            if let nodes = prepared.nodes { snapshot.nodes = nodes }
            for node in plan.insertedNodes { recentNodeIDs.insert(NodeKey(type: node.type, key: node.key), id: node.id) }
        }
        for node in plan.updatedNodes { snapshot.nodes.update(node.id, text: node.text, features: node.features) }
        if !plan.removedEdges.isEmpty { snapshot.removalLog.append(plan.removedEdges.flatMap { [$0.record.source, $0.record.target] }) }
        for edge in plan.removedEdges {
            snapshot.removed.insert(edge.slot)
            snapshot.removedEndpoints.insert(edge.record.source)
            snapshot.removedEndpoints.insert(edge.record.target)
            snapshot.edgeCountByType[edge.record.type, default: 1] -= 1
            if Int(edge.slot) >= snapshot.base.edgeCount {
                deltaIndex.remove(type: edge.record.type, source: edge.record.source, target: edge.record.target)
            }
        }
        for id in plan.removedNodes {
            recentNodeIDs.remove(NodeKey(type: snapshot.nodes.type(of: id), key: snapshot.nodes.key(of: id)))
            snapshot.nodes.remove(id)
        }
        if let delta = prepared.delta { appendDelta(plan.insertedEdges, delta) }
        snapshot.version += 1
    }

    private mutating func appendDelta(_ records: [EdgeRecord], _ new: NewDeltaChunk) {
        if new.replacesLast { snapshot.delta.removeLast() }
        snapshot.delta.append(new.chunk)
        let newFirst = Int(new.chunk.firstSlot) + new.chunk.count - records.count
        var lastType: EdgeTypeID? = nil, run = 0
        let distance = Self.prefetchDistance
        for (i, record) in records.enumerated() {
            if i + distance < records.count {
                let ahead = records[i + distance]
                deltaIndex.prefetch(type: ahead.type, source: ahead.source, target: ahead.target)
            }
            deltaIndex.set(type: record.type, source: record.source, target: record.target, value: UInt32(newFirst + i))
            // Count per run of equal types: one dictionary update per run, not per edge.
            if record.type != lastType {
                if let lastType { snapshot.edgeCountByType[lastType, default: 0] += run }
                lastType = record.type
                run = 0
            }
            run += 1
        }
        if let lastType { snapshot.edgeCountByType[lastType, default: 0] += run }
        snapshot.deltaEdgeCount += records.count
        nextEdgeID = records.last.map { $0.id + 1 } ?? nextEdgeID
    }

    // MARK: Compaction
    //
    // Compaction runs in three steps so that writes never wait for igraph:
    // `beginCompaction` (writer, instant) captures the delta as it stands;
    // `CompactionJob.build` (igraph's actor, slow) merges it into igraph and
    // builds the new CSR base; `finishCompaction` (writer, proportional to the
    // writes made meanwhile) swaps the base in and renumbers what arrived during
    // the build. Writes keep flowing between the first and the last step.

    /// Bounds on what a compaction sizes the next delta's indexes for (32 MiB and 16 MiB).
    static let presizedDeltaEdges = 1 << 20
    static let presizedRecentNodes = 1 << 18

    /// Starts a compaction, or returns nil when there is nothing to merge.
    public mutating func beginCompaction() -> CompactionJob? {
        generation += 1
        guard !snapshot.delta.isEmpty || !snapshot.removed.isEmpty else { return nil }
        sealedChunkCount = snapshot.delta.count
        return CompactionJob(
            base: snapshot.base, chunks: snapshot.delta, removed: snapshot.removed,
            capturedEnd: snapshot.base.edgeCount + snapshot.deltaEdgeCount, nodes: snapshot.nodes)
    }

    /// Installs a built base. `job` must be the one `beginCompaction` returned,
    /// and no other compaction may have finished in between.
    public mutating func finishCompaction(_ job: CompactionJob, _ built: CompactedBase) {
        generation += 1
        let later = snapshot.delta.dropFirst(job.chunks.count)
        let shift = Int64(built.base.edgeCount) - Int64(job.capturedEnd)
        var removed = TreeSet<UInt32>()
        // Removals made during the build: translate captured slots, shift later ones.
        for slot in snapshot.removed where !job.removed.contains(slot) {
            if Int(slot) < job.capturedEnd {
                let mapped = built.slotMap[Int(slot)]
                if mapped != CompactedBase.dropped { removed.insert(mapped) }
            } else {
                removed.insert(UInt32(Int64(slot) + shift))
            }
        }
        var delta: [DeltaChunk] = []
        var deltaCount = 0
        // The next delta most likely grows about as large as the one just merged:
        // its index (and the recent nodes' below) are sized for that now, so they
        // never rehash millions of entries on the writer's path as they grow.
        // (Up to a bound: after one bulk load, memory is not held for another.)
        let mergedEdges = min(job.capturedEnd - job.base.edgeCount, Self.presizedDeltaEdges)
        let mergedNodes = min(job.nodes.idCount - snapshot.nodes.baseIndex.coverage, Self.presizedRecentNodes)
        var index = EdgeKeyTable(capacity: max(16, mergedEdges, later.reduce(0) { $0 + $1.count }))
        for chunk in later {
            let rebased = DeltaChunk(rebasing: chunk, firstSlot: UInt32(Int64(chunk.firstSlot) + shift))
            for (i, record) in rebased.records.enumerated() where !removed.contains(rebased.firstSlot + UInt32(i)) {
                index.set(type: record.type, source: record.source, target: record.target, value: rebased.firstSlot + UInt32(i))
            }
            delta.append(rebased)
            deltaCount += rebased.count
        }
        snapshot.base = built.base
        snapshot.nodes.install(built.nodeIndex)
        var recent = RecentNodeKeys(capacity: max(mergedNodes, snapshot.nodes.idCount - built.nodeIndex.coverage))
        for id in built.nodeIndex.coverage..<snapshot.nodes.idCount where snapshot.nodes.isLive(UInt32(id)) {
            recent.insert(NodeKey(type: snapshot.nodes.types[id], key: snapshot.nodes.keys[id]), id: UInt32(id))
        }
        recentNodeIDs = recent
        snapshot.delta = delta
        snapshot.deltaEdgeCount = deltaCount
        snapshot.removed = removed
        if removed.isEmpty { snapshot.removedEndpoints = [] }
        // Views of the new base start from `removedEndpoints`.
        snapshot.removalLog = []
        snapshot.compactions += 1
        deltaIndex = index
        sealedChunkCount = 0
    }

    /// Compacts in one go (tests and tools; the daemon uses the three steps).
    @discardableResult
    public mutating func compact(topology: IgraphTopology) throws -> CompactionResult {
        let start = ContinuousClock.now
        guard let job = beginCompaction() else { return CompactionResult(mergedEdges: 0, removedEdges: 0, seconds: 0) }
        let built = try job.build(topology: topology)
        finishCompaction(job, built)
        return CompactionResult(mergedEdges: built.mergedEdges, removedEdges: built.removedEdges, seconds: (ContinuousClock.now - start).seconds)
    }
}

/// What a compaction merges: the state captured by `beginCompaction`. Immutable.
public struct CompactionJob: Sendable {
    let base: BaseTopology
    let chunks: [DeltaChunk]
    let removed: TreeSet<UInt32>
    /// One past the last slot captured (base plus captured delta).
    let capturedEnd: Int
    /// The node table as captured: its ids become igraph vertices, its keys the new base index.
    let nodes: NodeTable
    var vertexCount: Int { nodes.idCount }

    /// Merges the captured delta into igraph and builds the new base from
    /// igraph's edge list. `topology` must hold exactly the captured base. If
    /// igraph fails part-way, `topology` is rebuilt from the captured base
    /// before the error is thrown, so it never drifts from the graph.
    public func build(topology: IgraphTopology) throws -> CompactedBase {
        var slotMap = [UInt32](repeating: CompactedBase.dropped, count: capturedEnd)
        var columns = EdgeColumns()
        columns.reserveCapacity(capturedEnd - removed.count)
        var removedBase: [UInt32] = []
        for slot in 0..<base.edgeCount {
            if removed.contains(UInt32(slot)) {
                removedBase.append(UInt32(slot))
                continue
            }
            let newSlot = UInt32(columns.count)
            slotMap[slot] = newSlot
            if let attributes = base.columns.attributes[UInt32(slot)] { columns.attributes[newSlot] = attributes }
            columns.types.append(base.columns.types[slot])
            columns.weights.append(base.columns.weights[slot])
            columns.timestamps.append(base.columns.timestamps[slot])
            columns.ids.append(base.columns.ids[slot])
        }
        var newSources: [UInt32] = [], newTargets: [UInt32] = []
        for chunk in chunks {
            for (i, record) in chunk.records.enumerated() where !removed.contains(chunk.firstSlot + UInt32(i)) {
                slotMap[Int(chunk.firstSlot) + i] = UInt32(columns.count)
                columns.append(record)
                newSources.append(record.source)
                newTargets.append(record.target)
            }
        }
        let sources: [UInt32], targets: [UInt32]
        do {
            try topology.deleteEdges(removedBase)
            try topology.addVertices(vertexCount - topology.vertexCount)
            try topology.addEdges(sources: newSources, targets: newTargets)
            (sources, targets) = try topology.edgeList()
        } catch {
            try? topology.reset(vertexCount: base.vertexCount, edges: base.endpointsInSlotOrder())
            throw GraphError(.internal, "compaction: \(error)")
        }
        guard sources.count == columns.count else {
            throw GraphError(.internal, "compaction: igraph holds \(sources.count) edges, expected \(columns.count)")
        }
        let merged = newSources.count
        return CompactedBase(
            base: BaseTopology(vertexCount: vertexCount, sources: sources, targets: targets, columns: columns),
            nodeIndex: NodeKeyIndex(nodes: nodes, ids: 0..<vertexCount),
            slotMap: slotMap, mergedEdges: merged, removedEdges: removed.count)
    }
}

/// A compaction's result, ready for `finishCompaction`.
public struct CompactedBase: Sendable {
    static let dropped = UInt32.max
    let base: BaseTopology
    let nodeIndex: NodeKeyIndex
    /// Captured slot → slot in the new base (`dropped` for removed edges).
    let slotMap: [UInt32]
    public let mergedEdges: Int
    public let removedEdges: Int
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
