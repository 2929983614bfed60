import Synchronization

/// Which edges a walk or a propagation may use.
public struct WalkFilter: Hashable, Sendable {
    /// Edge types a step may follow; nil for all.
    public var edgeTypes: Set<EdgeTypeID>?
    /// Node types a walk may visit (both ends of a step); nil for all.
    public var nodeTypes: Set<NodeTypeID>?

    public init(edgeTypes: Set<EdgeTypeID>? = nil, nodeTypes: Set<NodeTypeID>? = nil) {
        self.edgeTypes = edgeTypes
        self.nodeTypes = nodeTypes
    }

    public static let all = WalkFilter()

    @inline(__always)
    func admits(edgeType: EdgeTypeID) -> Bool { edgeTypes?.contains(edgeType) ?? true }

    @inline(__always)
    func admits(nodeType: NodeTypeID) -> Bool {
        nodeType != NodeTable.removed && (nodeTypes?.contains(nodeType) ?? true)
    }
}

/// Weighted steps out of every node, in CSR form: row `v` lists each step a
/// walk may take from `v` — along a directed edge from its source, along an
/// undirected edge from either end — with the edge's weight. Immutable.
public final class WalkGraph: Sendable {
    public let nodeCount: Int
    /// `nodeCount + 1` offsets into `neighbors` and `weights`.
    public let offsets: [Int]
    public let neighbors: [UInt32]
    public let weights: [Float]
    /// Sum of each row's weights (0 for a node with no step out).
    public let rowWeights: [Float]
    /// Sum of all rows' weights.
    public let totalWeight: Double
    /// The nodes with the largest row weights, heaviest first (at most `hubCapacity`).
    public let hubs: [UInt32]
    /// Every step has its reverse with the same weight (only undirected edge types
    /// admitted): a walk's long-run distribution is then proportional to row weight.
    public let isSymmetric: Bool

    /// Mixing class of each node: 2 × component + side, where the side is the
    /// node's colour in a bipartite component (always 0 otherwise). Only
    /// meaningful when `isSymmetric`: a walk that has mixed is spread over its
    /// class in proportion to row weight.
    public let mixingClass: [UInt32]
    /// Row weight of each mixing class.
    public let classWeights: [Double]
    /// Whether each component (index = class / 2) is bipartite.
    public let componentIsBipartite: [Bool]

    public static let hubCapacity = 1024

    public var stepCount: Int { neighbors.count }

    init(nodeCount: Int, offsets: [Int], neighbors: [UInt32], weights: [Float], isSymmetric: Bool) {
        self.nodeCount = nodeCount
        self.offsets = offsets
        self.neighbors = neighbors
        self.weights = weights
        self.isSymmetric = isSymmetric
        var rowWeights = [Float](repeating: 0, count: nodeCount)
        var total = 0.0
        for v in 0..<nodeCount {
            var sum: Float = 0
            for k in offsets[v]..<offsets[v + 1] { sum += weights[k] }
            rowWeights[v] = sum
            total += Double(sum)
        }
        self.rowWeights = rowWeights
        self.totalWeight = total
        // Heaviest rows: a bounded selection, not a full sort.
        var heaviest: [(weight: Float, node: UInt32)] = []
        heaviest.reserveCapacity(Self.hubCapacity + 1)
        for v in 0..<nodeCount where rowWeights[v] > 0 {
            if heaviest.count == Self.hubCapacity {
                guard rowWeights[v] > heaviest[heaviest.count - 1].weight else { continue }
                heaviest.removeLast()
            }
            let entry = (weight: rowWeights[v], node: UInt32(v))
            let position = heaviest.firstIndex { $0.weight < entry.weight } ?? heaviest.count
            heaviest.insert(entry, at: position)
        }
        self.hubs = heaviest.map(\.node)
        (mixingClass, classWeights, componentIsBipartite) = Self.mixingClasses(
            nodeCount: nodeCount, offsets: offsets, neighbors: neighbors, rowWeights: rowWeights)
    }

    /// Connected components with a 2-colouring each (BFS over the steps, which
    /// are symmetric when this matters).
    private static func mixingClasses(nodeCount: Int, offsets: [Int], neighbors: [UInt32], rowWeights: [Float])
        -> ([UInt32], [Double], [Bool]) {
        let unset = UInt32.max
        var classOf = [UInt32](repeating: unset, count: nodeCount)
        var bipartite: [Bool] = []
        var queue: [Int] = []
        for start in 0..<nodeCount where classOf[start] == unset {
            let component = UInt32(bipartite.count)
            var isBipartite = true
            classOf[start] = component * 2
            queue.removeAll(keepingCapacity: true)
            queue.append(start)
            var head = 0
            while head < queue.count {
                let v = queue[head]
                head += 1
                let side = classOf[v] & 1
                for k in offsets[v]..<offsets[v + 1] {
                    let u = Int(neighbors[k])
                    if classOf[u] == unset {
                        classOf[u] = component * 2 + (1 - side)
                        queue.append(u)
                    } else if classOf[u] & 1 == side {
                        isBipartite = false
                    }
                }
            }
            if !isBipartite { for v in queue { classOf[v] = component * 2 } }
            bipartite.append(isBipartite)
        }
        var weights = [Double](repeating: 0, count: bipartite.count * 2)
        for v in 0..<nodeCount { weights[Int(classOf[v])] += Double(rowWeights[v]) }
        return (classOf, weights, bipartite)
    }

    /// The steps of the base topology that pass `filter`, removed edges
    /// included (a `WalkView` replaces the rows they touch).
    convenience init(base: BaseTopology, nodes: NodeTable, schema: GraphSchema, filter: WalkFilter) {
        let n = base.vertexCount
        let columns = base.columns
        var directed = [Bool](repeating: true, count: Int(EdgeTypeID.max) + 1)
        for info in schema.edgeTypes { directed[Int(info.id)] = info.directed }
        @inline(__always) func admitted(_ source: UInt32, _ target: UInt32, _ slot: UInt32) -> Bool {
            filter.admits(edgeType: columns.types[Int(slot)])
                && filter.admits(nodeType: nodes.type(of: source)) && filter.admits(nodeType: nodes.type(of: target))
        }
        var counts = [Int](repeating: 0, count: n + 1)
        for v in 0..<n {
            for i in base.outRange(UInt32(v)) {
                let t = base.outNeighbors[i], slot = base.outSlots[i]
                guard admitted(UInt32(v), t, slot) else { continue }
                counts[v + 1] += 1
                if !directed[Int(columns.types[Int(slot)])] && Int(t) != v { counts[Int(t) + 1] += 1 }
            }
        }
        for v in 0..<n { counts[v + 1] += counts[v] }
        var cursor = counts
        var neighbors = [UInt32](repeating: 0, count: counts[n])
        var weights = [Float](repeating: 0, count: counts[n])
        for v in 0..<n {
            for i in base.outRange(UInt32(v)) {
                let t = base.outNeighbors[i], slot = base.outSlots[i]
                guard admitted(UInt32(v), t, slot) else { continue }
                let w = columns.weights[Int(slot)]
                neighbors[cursor[v]] = t; weights[cursor[v]] = w; cursor[v] += 1
                if !directed[Int(columns.types[Int(slot)])] && Int(t) != v {
                    let u = Int(t)
                    neighbors[cursor[u]] = UInt32(v); weights[cursor[u]] = w; cursor[u] += 1
                }
            }
        }
        let symmetric = schema.edgeTypes.allSatisfy { !filter.admits(edgeType: $0.id) || !$0.directed }
        self.init(nodeCount: n, offsets: counts, neighbors: neighbors, weights: weights, isSymmetric: symmetric)
    }
}

/// The steps of one snapshot: the base's `WalkGraph` plus replacement rows for
/// the nodes that the delta or removals changed. Cheap to build when the delta
/// is small; `WalkViewCache` keeps the latest per filter.
public struct WalkView: Sendable {
    public struct Row: Sendable {
        public var neighbors: [UInt32]
        public var weights: [Float]
        public var total: Float
    }

    public let base: WalkGraph
    /// Complete rows for changed nodes (these override `base`).
    public let changedRows: [UInt32: Row]
    /// Node ids in the snapshot (nodes added since the base was built included).
    public let nodeCount: Int
    public let version: UInt64
    public let filter: WalkFilter
    /// Sum of every row's weight, changed rows included.
    public let totalWeight: Double
    /// See `WalkGraph.isSymmetric`; false as soon as a directed edge type is admitted.
    public let isSymmetric: Bool
    /// The base's mixing-class weights with the changed rows' weights in place
    /// of the base rows' (nodes added since the base have no class).
    public let classWeights: [Double]
    /// Delta edges and removals of the snapshot this view was built from: a later
    /// snapshot with the same removals only appends delta edges (in slot order),
    /// so only their endpoints' rows change.
    let deltaEdgeCount: Int
    let removedCount: Int

    init(base: WalkGraph, changedRows: [UInt32: Row], nodeCount: Int, version: UInt64, filter: WalkFilter, isSymmetric: Bool,
         deltaEdgeCount: Int, removedCount: Int) {
        self.deltaEdgeCount = deltaEdgeCount
        self.removedCount = removedCount
        self.base = base
        self.changedRows = changedRows
        self.nodeCount = nodeCount
        self.version = version
        self.filter = filter
        self.isSymmetric = isSymmetric
        var total = base.totalWeight
        var classWeights = base.classWeights
        for (node, row) in changedRows {
            total += Double(row.total)
            if Int(node) < base.nodeCount {
                let change = Double(row.total) - Double(base.rowWeights[Int(node)])
                total -= Double(base.rowWeights[Int(node)])
                classWeights[Int(base.mixingClass[Int(node)])] += change
            }
        }
        self.totalWeight = total
        self.classWeights = classWeights
    }

    /// Sum of the weights of `node`'s steps.
    @inlinable
    public func rowWeight(_ node: UInt32) -> Float {
        if let row = changedRows[node] { return row.total }
        return Int(node) < base.nodeCount ? base.rowWeights[Int(node)] : 0
    }

    /// Calls `body` with each (neighbour, weight) step out of `node`.
    @inlinable
    public func forEachStep(from node: UInt32, _ body: (UInt32, Float) -> Void) {
        if !changedRows.isEmpty, let row = changedRows[node] {
            for k in row.neighbors.indices { body(row.neighbors[k], row.weights[k]) }
        } else if Int(node) < base.nodeCount {
            for k in base.offsets[Int(node)]..<base.offsets[Int(node) + 1] { body(base.neighbors[k], base.weights[k]) }
        }
    }

    /// Number of steps out of every node together.
    public var stepCount: Int {
        var count = base.stepCount
        for (node, row) in changedRows {
            count += row.neighbors.count
            if Int(node) < base.nodeCount { count -= base.offsets[Int(node) + 1] - base.offsets[Int(node)] }
        }
        return count
    }
}

extension GraphSnapshot {
    /// The walk view of this snapshot under `filter`. The base part is cached on
    /// the base topology; the changed rows are computed here (use `WalkViewCache`
    /// to share them between queries on the same snapshot).
    public func walkView(_ filter: WalkFilter) -> WalkView {
        walkView(filter, extending: nil)
    }

    /// With `earlier` — a view of an older snapshot on the same base whose removals
    /// this snapshot shares — only the rows of the endpoints of delta edges added
    /// since are recomputed; the rest of its changed rows carry over.
    func walkView(_ filter: WalkFilter, extending earlier: WalkView?) -> WalkView {
        let baseGraph = base.walkGraph(filter, nodes: nodes, schema: schema)
        var touched = Set<UInt32>()
        var rows: [UInt32: WalkView.Row]
        if let earlier, earlier.base === baseGraph, earlier.removedCount == removed.count, earlier.deltaEdgeCount <= deltaEdgeCount {
            rows = earlier.changedRows
            // Chunks merge (a small last chunk absorbs the next write), so count edges, not chunks.
            var chunkStart = 0
            for chunk in delta {
                let count = chunk.records.count
                defer { chunkStart += count }
                guard chunkStart + count > earlier.deltaEdgeCount else { continue }
                for record in chunk.records[max(earlier.deltaEdgeCount - chunkStart, 0)...] {
                    touched.insert(record.source)
                    touched.insert(record.target)
                }
            }
        } else {
            rows = [:]
            for node in removedEndpoints { touched.insert(node) }
            for chunk in delta {
                for node in chunk.bySource.keys { touched.insert(node) }
                for node in chunk.byTarget.keys { touched.insert(node) }
            }
        }
        rows.reserveCapacity(rows.count + touched.count)
        for node in touched {
            rows[node] = walkRow(of: node, filter: filter)
        }
        let symmetric = schema.edgeTypes.allSatisfy { !filter.admits(edgeType: $0.id) || !$0.directed }
        return WalkView(base: baseGraph, changedRows: rows, nodeCount: nodes.idCount, version: version, filter: filter, isSymmetric: symmetric,
                        deltaEdgeCount: deltaEdgeCount, removedCount: removed.count)
    }

    /// `node`'s steps, read through the snapshot (delta and removals applied).
    func walkRow(of node: UInt32, filter: WalkFilter) -> WalkView.Row {
        var row = WalkView.Row(neighbors: [], weights: [], total: 0)
        guard nodes.isLive(node), filter.admits(nodeType: nodes.type(of: node)) else { return row }
        forEachEdge(of: node, direction: .outgoing) { edge, nodeIsSource in
            guard filter.admits(edgeType: edge.record.type) else { return true }
            let other = nodeIsSource ? edge.record.target : edge.record.source
            guard filter.admits(nodeType: nodes.type(of: other)) else { return true }
            row.neighbors.append(other)
            row.weights.append(edge.record.weight)
            row.total += edge.record.weight
            return true
        }
        return row
    }
}

extension BaseTopology {
    /// The base's `WalkGraph` for `filter`, built once and kept (a few filters).
    func walkGraph(_ filter: WalkFilter, nodes: NodeTable, schema: GraphSchema) -> WalkGraph {
        if let cached = walkGraphs.withLock({ $0[filter] }) { return cached }
        let built = WalkGraph(base: self, nodes: nodes, schema: schema, filter: filter)
        walkGraphs.withLock { cache in
            if cache.count >= 8 { cache.removeAll() }
            cache[filter] = built
        }
        return built
    }
}

/// The most recent `WalkView` per filter, shared by concurrent queries: a new
/// snapshot version rebuilds only the changed rows, a compaction the base part.
public final class WalkViewCache: Sendable {
    private let views = Mutex<[WalkFilter: WalkView]>([:])

    public init() {}

    public func view(of snapshot: GraphSnapshot, filter: WalkFilter) -> WalkView {
        let cached = views.withLock { $0[filter] }
        if let cached, cached.version == snapshot.version,
           cached.base === snapshot.base.walkGraph(filter, nodes: snapshot.nodes, schema: snapshot.schema) {
            return cached
        }
        // A newer snapshot usually differs by a few delta chunks: extend the cached view.
        let view = snapshot.walkView(filter, extending: cached.flatMap { $0.version < snapshot.version ? $0 : nil })
        views.withLock { cache in
            if cache.count >= 16 { cache.removeAll() }
            if (cache[filter]?.version ?? 0) <= view.version { cache[filter] = view }
        }
        return view
    }
}
