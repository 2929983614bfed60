import HashTreeCollections

/// An immutable view of the whole graph at one version: compacted base (CSR),
/// delta chunks and the slots removed since compaction. Readers hold one for
/// the duration of a query and never wait on writers.
public struct GraphSnapshot: Sendable {
    public internal(set) var schema: GraphSchema
    public internal(set) var nodes: NodeTable
    internal(set) var base: BaseTopology
    var delta: [DeltaChunk]
    public internal(set) var deltaEdgeCount: Int
    /// Slots (base or delta) removed or replaced since the last compaction.
    var removed: TreeSet<UInt32>
    /// Endpoints of the edges in `removed` (a superset after a compaction that
    /// ran while edges were removed): the nodes whose base rows are stale.
    var removedEndpoints: TreeSet<UInt32>
    /// The endpoints of the edges each write removed since the last compaction,
    /// in order: the rows a walk view of an earlier version recomputes.
    var removalLog: [[UInt32]]
    public internal(set) var edgeCountByType: [EdgeTypeID: Int]
    /// Incremented by every applied write batch.
    public internal(set) var version: UInt64
    public internal(set) var compactions: Int

    public init(schema: GraphSchema = .builtin()) {
        self.schema = schema
        self.nodes = NodeTable()
        self.base = .empty
        self.delta = []
        self.deltaEdgeCount = 0
        self.removed = []
        self.removedEndpoints = []
        self.removalLog = []
        self.edgeCountByType = [:]
        self.version = 0
        self.compactions = 0
    }

    /// Live edges, delta included.
    public var edgeCount: Int { base.edgeCount + deltaEdgeCount - removed.count }
    public var nodeCount: Int { nodes.liveCount }
    public var removedSinceCompaction: Int { removed.count }
    var deltaChunkCount: Int { delta.count }

    // MARK: Edge access

    /// The record in `slot`; the caller knows the endpoints for base slots.
    func deltaLocation(of slot: UInt32) -> (chunk: DeltaChunk, index: Int)? {
        guard Int(slot) >= base.edgeCount else { return nil }
        // Chunks are in slot order: binary search on firstSlot.
        var low = 0, high = delta.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if delta[mid].firstSlot <= slot { low = mid } else { high = mid - 1 }
        }
        guard !delta.isEmpty else { return nil }
        let chunk = delta[low]
        let index = Int(slot - chunk.firstSlot)
        guard index >= 0, index < chunk.count else { return nil }
        return (chunk, index)
    }

    func isRemoved(_ slot: UInt32) -> Bool { removed.contains(slot) }

    /// Visits every live edge incident to `node` in the given direction. An edge
    /// of an undirected type is visited from both of its endpoints whatever the
    /// direction asked for. `body` gets the edge and whether `node` is its source;
    /// it returns false to stop.
    public func forEachEdge(of node: UInt32, direction: EdgeDirection, _ body: (EdgeView, _ nodeIsSource: Bool) -> Bool) {
        let schema = self.schema
        @inline(__always) func wanted(_ type: EdgeTypeID, nodeIsSource: Bool) -> Bool {
            switch direction {
            case .both: return true
            case .outgoing: return nodeIsSource || !schema.edgeType(type).directed
            case .incoming: return !nodeIsSource || !schema.edgeType(type).directed
            }
        }
        // Outgoing side (node is the source).
        for i in base.outRange(node) {
            let slot = base.outSlots[i]
            if removed.contains(slot) { continue }
            let type = base.columns.types[Int(slot)]
            guard wanted(type, nodeIsSource: true) else { continue }
            let view = EdgeView(slot: slot, record: base.record(slot: slot, source: node, target: base.outNeighbors[i]))
            if !body(view, true) { return }
        }
        for chunk in delta {
            for local in chunk.bySource[node] {
                let slot = chunk.firstSlot + local
                if removed.contains(slot) { continue }
                let record = chunk.records[Int(local)]
                guard wanted(record.type, nodeIsSource: true) else { continue }
                if !body(EdgeView(slot: slot, record: record), true) { return }
            }
        }
        // Incoming side (node is the target); self-loops were seen above.
        for i in base.inRange(node) {
            let slot = base.inSlots[i]
            let source = base.inNeighbors[i]
            if source == node || removed.contains(slot) { continue }
            let type = base.columns.types[Int(slot)]
            guard wanted(type, nodeIsSource: false) else { continue }
            let view = EdgeView(slot: slot, record: base.record(slot: slot, source: source, target: node))
            if !body(view, false) { return }
        }
        for chunk in delta {
            for local in chunk.byTarget[node] {
                let slot = chunk.firstSlot + local
                let record = chunk.records[Int(local)]
                if record.source == node || removed.contains(slot) { continue }
                guard wanted(record.type, nodeIsSource: false) else { continue }
                if !body(EdgeView(slot: slot, record: record), false) { return }
            }
        }
    }

    /// Whether any live edge, of any type and direction, joins `a` and `b`.
    /// Costs `a`'s degree.
    public func hasEdge(between a: UInt32, and b: UInt32) -> Bool {
        var found = false
        forEachEdge(of: a, direction: .both) { edge, aIsSource in
            found = (aIsSource ? edge.record.target : edge.record.source) == b
            return !found
        }
        return found
    }

    /// The live edge of `type` between the endpoints, if any. For an undirected
    /// type the endpoints are unordered.
    public func findEdge(type: EdgeTypeID, source: UInt32, target: UInt32) -> EdgeView? {
        let (from, to) = normalizedEndpoints(type: type, source: source, target: target)
        if let found = findStoredEdge(type: type, from: from, to: to) { return found }
        let info = schema.edgeType(type)
        if !info.directed, !info.ordersEndpointsByID { return findStoredEdge(type: type, from: to, to: from) }
        return nil
    }

    private func findStoredEdge(type: EdgeTypeID, from: UInt32, to: UInt32) -> EdgeView? {
        for slot in base.slots(from: from, to: to) where base.columns.types[Int(slot)] == type && !removed.contains(slot) {
            return EdgeView(slot: slot, record: base.record(slot: slot, source: from, target: to))
        }
        for chunk in delta.reversed() {
            for local in chunk.bySource[from].reversed() {
                let record = chunk.records[Int(local)]
                let slot = chunk.firstSlot + local
                if record.target == to, record.type == type, !removed.contains(slot) {
                    return EdgeView(slot: slot, record: record)
                }
            }
        }
        return nil
    }

    /// The stored orientation of an edge (see `EdgeTypeInfo.ordersEndpointsByID`).
    func normalizedEndpoints(type: EdgeTypeID, source: UInt32, target: UInt32) -> (UInt32, UInt32) {
        if schema.edgeType(type).ordersEndpointsByID, target < source { return (target, source) }
        return (source, target)
    }

    public func degree(of node: UInt32) -> (outgoing: Int, incoming: Int) {
        var outgoing = 0, incoming = 0
        forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
            if !schema.edgeType(edge.record.type).directed || nodeIsSource { outgoing += 1 }
            if !schema.edgeType(edge.record.type).directed || !nodeIsSource { incoming += 1 }
            return true
        }
        return (outgoing, incoming)
    }

    // MARK: Paged listings

    /// One page of `node`'s neighbours in edge-id order, after `afterEdgeID`.
    public func neighbors(
        of node: UInt32, direction: EdgeDirection, edgeTypes: Set<EdgeTypeID>?, nodeTypes: Set<NodeTypeID>?,
        afterEdgeID: Int64?, limit: Int
    ) -> (edges: [(edge: EdgeView, nodeIsSource: Bool)], nextEdgeID: Int64?) {
        var matches: [(edge: EdgeView, nodeIsSource: Bool)] = []
        forEachEdge(of: node, direction: direction) { edge, nodeIsSource in
            if let afterEdgeID, edge.record.id <= afterEdgeID { return true }
            if let edgeTypes, !edgeTypes.contains(edge.record.type) { return true }
            if let nodeTypes {
                let other = nodeIsSource ? edge.record.target : edge.record.source
                if !nodeTypes.contains(nodes.type(of: other)) { return true }
            }
            matches.append((edge, nodeIsSource))
            return true
        }
        matches.sort { $0.edge.record.id < $1.edge.record.id }
        guard matches.count > limit else { return (matches, nil) }
        let page = Array(matches.prefix(limit))
        return (page, page.last?.edge.record.id)
    }

    /// A page of edges grouped by source node, starting at (`node`, `skip`):
    /// the export order. Returns the position after the page, or nil at the end.
    public func edges(fromNode start: UInt32, skip: Int, limit: Int) -> (edges: [EdgeView], next: (node: UInt32, skip: Int)?) {
        var page: [EdgeView] = []
        var node = start
        var skipped = skip
        while Int(node) < nodes.idCount {
            var index = 0
            var full = false
            forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
                guard nodeIsSource else { return true }
                if index < skipped {
                    index += 1
                    return true
                }
                if page.count == limit {
                    full = true
                    return false
                }
                page.append(edge)
                index += 1
                return true
            }
            if full { return (page, (node, index)) }
            node += 1
            skipped = 0
        }
        return (page, nil)
    }

    /// A page of live nodes with ids from `start`; returns the next id or nil at the end.
    public func nodeRecords(from start: UInt32, limit: Int) -> (nodes: [NodeRecord], next: UInt32?) {
        var page: [NodeRecord] = []
        var id = start
        while Int(id) < nodes.idCount {
            if let record = nodes.record(id) {
                if page.count == limit { return (page, id) }
                page.append(record)
            }
            id += 1
        }
        return (page, nil)
    }

    /// Approximate heap bytes of the snapshot's own structures.
    var approximateByteCount: Int {
        base.approximateByteCount + nodes.approximateByteCount + deltaEdgeCount * 96 + removed.count * 16
    }
}
