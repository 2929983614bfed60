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

/// Changed rows of a `WalkView` laid out for the walk loops: a node's row is
/// found by its rank in a bitset (two loads and a popcount, no hashing), and
/// the rows' steps sit in flat arrays (no per-row array to retain). Until a
/// compaction folds the delta into the base, every node a write touched is
/// read through such a table, which after a bulk load is most of the graph.
public struct ChangedRowTable: Sendable {
    /// Bit `n % 64` of word `n / 64` is set when node `n` has a row here.
    @usableFromInline let bits: [UInt64]
    /// Set bits in the words before each word.
    @usableFromInline let ranks: [UInt32]
    /// The nodes with a row, ascending: row `r` is `nodes[r]`'s.
    public let nodes: [UInt32]
    /// Row `r`'s steps are `neighbors[offsets[r]..<offsets[r + 1]]`, and so for `weights`.
    @usableFromInline let offsets: [Int]
    @usableFromInline let neighbors: [UInt32]
    @usableFromInline let weights: [Float]
    /// Each row's weight sum.
    @usableFromInline let totals: [Float]

    /// `rows` laid out in node order (merge it over another table with
    /// `init(_:overriddenByTable:nodeCount:)`).
    init(_ rows: [UInt32: WalkView.Row], nodeCount: Int) {
        let nodes = rows.keys.sorted()
        var offsets = [0], neighbors: [UInt32] = [], weights: [Float] = [], totals: [Float] = []
        offsets.reserveCapacity(nodes.count + 1)
        totals.reserveCapacity(nodes.count)
        let stepCapacity = rows.values.reduce(0) { $0 + $1.neighbors.count }
        neighbors.reserveCapacity(stepCapacity)
        weights.reserveCapacity(stepCapacity)
        for node in nodes {
            guard let row = rows[node] else { continue }
            neighbors += row.neighbors
            weights += row.weights
            totals.append(row.total)
            offsets.append(neighbors.count)
        }
        self.init(nodes: nodes, offsets: offsets, neighbors: neighbors, weights: weights, totals: totals, nodeCount: nodeCount)
    }

    /// `table`'s rows with `newer`'s in place of or beside them: one pass over
    /// both in node order, every row copied as a slice (no per-row objects).
    init(_ table: ChangedRowTable, overriddenByTable newer: ChangedRowTable, nodeCount: Int) {
        var nodes: [UInt32] = [], offsets = [0], neighbors: [UInt32] = [], weights: [Float] = [], totals: [Float] = []
        let rowCapacity = table.nodes.count + newer.nodes.count, stepCapacity = table.neighbors.count + newer.neighbors.count
        nodes.reserveCapacity(rowCapacity)
        offsets.reserveCapacity(rowCapacity + 1)
        totals.reserveCapacity(rowCapacity)
        neighbors.reserveCapacity(stepCapacity)
        weights.reserveCapacity(stepCapacity)
        var old = 0, new = 0
        while old < table.nodes.count || new < newer.nodes.count {
            let oldNode = old < table.nodes.count ? table.nodes[old] : .max
            let newNode = new < newer.nodes.count ? newer.nodes[new] : .max
            if new < newer.nodes.count && newNode <= oldNode {
                let steps = newer.offsets[new]..<newer.offsets[new + 1]
                nodes.append(newNode)
                neighbors += newer.neighbors[steps]
                weights += newer.weights[steps]
                totals.append(newer.totals[new])
                new += 1
                if oldNode == newNode { old += 1 }
            } else {
                let steps = table.offsets[old]..<table.offsets[old + 1]
                nodes.append(oldNode)
                neighbors += table.neighbors[steps]
                weights += table.weights[steps]
                totals.append(table.totals[old])
                old += 1
            }
            offsets.append(neighbors.count)
        }
        self.init(nodes: nodes, offsets: offsets, neighbors: neighbors, weights: weights, totals: totals, nodeCount: nodeCount)
    }

    /// Indexes laid-out rows (`nodes` ascending) by a rank bitset.
    private init(nodes: [UInt32], offsets: [Int], neighbors: [UInt32], weights: [Float], totals: [Float], nodeCount: Int) {
        let wordCount = (max(nodeCount, nodes.last.map { Int($0) + 1 } ?? 0) + 63) / 64
        var bits = [UInt64](repeating: 0, count: wordCount)
        for node in nodes { bits[Int(node) / 64] |= 1 << UInt64(node % 64) }
        var ranks = [UInt32](repeating: 0, count: wordCount)
        var running: UInt32 = 0
        for w in 0..<wordCount {
            ranks[w] = running
            running += UInt32(bits[w].nonzeroBitCount)
        }
        self.init(bits: bits, ranks: ranks, nodes: nodes, offsets: offsets, neighbors: neighbors, weights: weights, totals: totals)
    }

    private init(bits: [UInt64], ranks: [UInt32], nodes: [UInt32], offsets: [Int], neighbors: [UInt32], weights: [Float], totals: [Float]) {
        self.bits = bits
        self.ranks = ranks
        self.nodes = nodes
        self.offsets = offsets
        self.neighbors = neighbors
        self.weights = weights
        self.totals = totals
    }

    static let empty = ChangedRowTable(bits: [], ranks: [], nodes: [], offsets: [0], neighbors: [], weights: [], totals: [])

    public var count: Int { nodes.count }

    /// The index of `node`'s row, if it has one here.
    @inlinable
    public func row(of node: UInt32) -> Int? { Self.row(of: Int(node), bits: bits, ranks: ranks) }

    /// The rank lookup behind `row(of:)`, on arrays or on buffers.
    @inlinable @inline(__always)
    static func row<Bits: RandomAccessCollection<UInt64>, Ranks: RandomAccessCollection<UInt32>>(
        of node: Int, bits: Bits, ranks: Ranks) -> Int? where Bits.Index == Int, Ranks.Index == Int {
        let word = node &>> 6
        guard word < bits.count else { return nil }
        let mask: UInt64 = 1 &<< UInt64(node & 63)
        let value = bits[word]
        guard value & mask != 0 else { return nil }
        return Int(ranks[word]) &+ (value & (mask &- 1)).nonzeroBitCount
    }

    /// Row `index` as a `Row`.
    public func row(at index: Int) -> WalkView.Row {
        let steps = offsets[index]..<offsets[index + 1]
        return WalkView.Row(neighbors: Array(neighbors[steps]), weights: Array(weights[steps]), total: totals[index])
    }

    /// The table's arrays as buffers, for the walk loops.
    public struct Buffers {
        public let bits: UnsafeBufferPointer<UInt64>
        public let ranks: UnsafeBufferPointer<UInt32>
        public let offsets: UnsafeBufferPointer<Int>
        public let neighbors: UnsafeBufferPointer<UInt32>
        public let weights: UnsafeBufferPointer<Float>
        public let totals: UnsafeBufferPointer<Float>

        @usableFromInline
        init(bits: UnsafeBufferPointer<UInt64>, ranks: UnsafeBufferPointer<UInt32>, offsets: UnsafeBufferPointer<Int>,
             neighbors: UnsafeBufferPointer<UInt32>, weights: UnsafeBufferPointer<Float>, totals: UnsafeBufferPointer<Float>) {
            self.bits = bits
            self.ranks = ranks
            self.offsets = offsets
            self.neighbors = neighbors
            self.weights = weights
            self.totals = totals
        }

        /// The index of `node`'s row, if it has one.
        @inlinable @inline(__always)
        public func row(of node: Int) -> Int? { ChangedRowTable.row(of: node, bits: bits, ranks: ranks) }
    }

    @inlinable
    public func withBuffers<R>(_ body: (Buffers) throws -> R) rethrows -> R {
        try bits.withUnsafeBufferPointer { bits in
            try ranks.withUnsafeBufferPointer { ranks in
                try offsets.withUnsafeBufferPointer { offsets in
                    try neighbors.withUnsafeBufferPointer { neighbors in
                        try weights.withUnsafeBufferPointer { weights in
                            try totals.withUnsafeBufferPointer { totals in
                                try body(Buffers(bits: bits, ranks: ranks, offsets: offsets, neighbors: neighbors, weights: weights, totals: totals))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A view's rows read through buffers, for the walk loops. A loop generic over
/// this protocol is specialised twice: on a compacted graph (`BaseRowBuffers`)
/// every step reads the base's CSR arrays with no changed-row lookup at all.
public protocol WalkRowBuffers {
    /// Sum of the weights of `node`'s steps.
    func weight(of node: Int) -> Double
    /// Calls `body` with each (neighbour, weight) step out of `node`.
    func forEachStep(from node: Int, _ body: (UInt32, Double) -> Void)
}

/// The base's rows alone: right for a view without changed rows.
public struct BaseRowBuffers: WalkRowBuffers {
    public let nodeCount: Int
    public let offsets: UnsafeBufferPointer<Int>
    public let neighbors: UnsafeBufferPointer<UInt32>
    public let weights: UnsafeBufferPointer<Float>
    public let rowWeights: UnsafeBufferPointer<Float>

    @usableFromInline
    init(nodeCount: Int, offsets: UnsafeBufferPointer<Int>, neighbors: UnsafeBufferPointer<UInt32>,
         weights: UnsafeBufferPointer<Float>, rowWeights: UnsafeBufferPointer<Float>) {
        self.nodeCount = nodeCount
        self.offsets = offsets
        self.neighbors = neighbors
        self.weights = weights
        self.rowWeights = rowWeights
    }

    @inlinable @inline(__always)
    public func weight(of node: Int) -> Double { node < nodeCount ? Double(rowWeights[node]) : 0 }

    @inlinable @inline(__always)
    public func forEachStep(from node: Int, _ body: (UInt32, Double) -> Void) {
        guard node < nodeCount else { return }
        for k in offsets[node]..<offsets[node + 1] { body(neighbors[k], Double(weights[k])) }
    }
}

/// The base's rows overridden by a view's changed rows (`recent` first).
public struct ChangedRowBuffers: WalkRowBuffers {
    public let base: BaseRowBuffers
    public let recent: ChangedRowTable.Buffers
    public let consolidated: ChangedRowTable.Buffers

    @usableFromInline
    init(base: BaseRowBuffers, recent: ChangedRowTable.Buffers, consolidated: ChangedRowTable.Buffers) {
        self.base = base
        self.recent = recent
        self.consolidated = consolidated
    }

    @inlinable @inline(__always)
    public func weight(of node: Int) -> Double {
        if let row = recent.row(of: node) { return Double(recent.totals[row]) }
        if let row = consolidated.row(of: node) { return Double(consolidated.totals[row]) }
        return base.weight(of: node)
    }

    @inlinable @inline(__always)
    public func forEachStep(from node: Int, _ body: (UInt32, Double) -> Void) {
        if let row = recent.row(of: node) {
            for k in recent.offsets[row]..<recent.offsets[row + 1] { body(recent.neighbors[k], Double(recent.weights[k])) }
        } else if let row = consolidated.row(of: node) {
            for k in consolidated.offsets[row]..<consolidated.offsets[row + 1] {
                body(consolidated.neighbors[k], Double(consolidated.weights[k]))
            }
        } else {
            base.forEachStep(from: node, body)
        }
    }
}

/// The steps of one snapshot: the base's `WalkGraph` plus replacement rows for
/// the nodes that the delta or removals changed. The changed rows sit in two
/// tables: `consolidated`, shared by the views of later snapshots, and
/// `recent`, the rows changed since, which override it. A view of a newer
/// snapshot recomputes only the rows its new delta edges touch and lays out
/// `recent` again; once `recent` holds more than a limit of rows they are
/// merged into a new `consolidated`. So a read after each small write costs
/// about the write's size, not the size of the whole delta.
public struct WalkView: Sendable {
    public struct Row: Sendable, Equatable {
        public var neighbors: [UInt32]
        public var weights: [Float]
        public var total: Float
    }

    public let base: WalkGraph
    /// Rows changed as of the last consolidation (they override `base`).
    public let consolidated: ChangedRowTable
    /// Rows changed since (they override `consolidated`).
    public let recent: ChangedRowTable
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
    /// Delta edges and removing writes (`GraphSnapshot.removalLog`) of the
    /// snapshot this view was built from: a later snapshot on the same base only
    /// appends to both, so only the rows of their endpoints change.
    let deltaEdgeCount: Int
    let removalCount: Int

    /// A view whose changed rows are all `rows`.
    init(base: WalkGraph, rows: [UInt32: Row], nodeCount: Int, version: UInt64, filter: WalkFilter, isSymmetric: Bool,
         deltaEdgeCount: Int, removalCount: Int) {
        var total = base.totalWeight
        var classWeights = base.classWeights
        for (node, row) in rows {
            total += Double(row.total)
            if Int(node) < base.nodeCount {
                let change = Double(row.total) - Double(base.rowWeights[Int(node)])
                total -= Double(base.rowWeights[Int(node)])
                classWeights[Int(base.mixingClass[Int(node)])] += change
            }
        }
        self.init(base: base, consolidated: ChangedRowTable(rows, nodeCount: nodeCount), recent: .empty, nodeCount: nodeCount,
                  version: version, filter: filter, totalWeight: total, isSymmetric: isSymmetric, classWeights: classWeights,
                  deltaEdgeCount: deltaEdgeCount, removalCount: removalCount)
    }

    private init(base: WalkGraph, consolidated: ChangedRowTable, recent: ChangedRowTable, nodeCount: Int, version: UInt64,
                 filter: WalkFilter, totalWeight: Double, isSymmetric: Bool, classWeights: [Double], deltaEdgeCount: Int, removalCount: Int) {
        self.base = base
        self.consolidated = consolidated
        self.recent = recent
        self.nodeCount = nodeCount
        self.version = version
        self.filter = filter
        self.totalWeight = totalWeight
        self.isSymmetric = isSymmetric
        self.classWeights = classWeights
        self.deltaEdgeCount = deltaEdgeCount
        self.removalCount = removalCount
    }

    /// This view with `rows` recomputed (their nodes' new rows), for a newer
    /// snapshot of `nodeCount` nodes; `recent` is merged into `consolidated`
    /// once it holds more than `recentRowLimit` rows.
    func updating(_ rows: [UInt32: Row], nodeCount: Int, version: UInt64, isSymmetric: Bool, deltaEdgeCount: Int, removalCount: Int,
                  recentRowLimit: Int) -> WalkView {
        var total = totalWeight
        var classWeights = classWeights
        for (node, row) in rows {
            let change = Double(row.total) - Double(rowWeight(node))
            total += change
            if Int(node) < base.nodeCount { classWeights[Int(base.mixingClass[Int(node)])] += change }
        }
        // The new rows laid out alone, then merged over `recent` as slices: no
        // per-row copies of the rows that carry over.
        var recent = ChangedRowTable(self.recent, overriddenByTable: ChangedRowTable(rows, nodeCount: nodeCount), nodeCount: nodeCount)
        var consolidated = consolidated
        if recent.nodes.count > recentRowLimit {
            consolidated = ChangedRowTable(consolidated, overriddenByTable: recent, nodeCount: nodeCount)
            recent = .empty
        }
        return WalkView(base: base, consolidated: consolidated, recent: recent, nodeCount: nodeCount, version: version,
                        filter: filter, totalWeight: total, isSymmetric: isSymmetric, classWeights: classWeights,
                        deltaEdgeCount: deltaEdgeCount, removalCount: removalCount)
    }

    /// Sum of the weights of `node`'s steps.
    @inlinable
    public func rowWeight(_ node: UInt32) -> Float {
        if let row = recent.row(of: node) { return recent.totals[row] }
        if let row = consolidated.row(of: node) { return consolidated.totals[row] }
        return Int(node) < base.nodeCount ? base.rowWeights[Int(node)] : 0
    }

    /// Calls `body` with each (neighbour, weight) step out of `node`.
    @inlinable
    public func forEachStep(from node: UInt32, _ body: (UInt32, Float) -> Void) {
        if let row = recent.row(of: node) {
            for k in recent.offsets[row]..<recent.offsets[row + 1] { body(recent.neighbors[k], recent.weights[k]) }
        } else if let row = consolidated.row(of: node) {
            for k in consolidated.offsets[row]..<consolidated.offsets[row + 1] { body(consolidated.neighbors[k], consolidated.weights[k]) }
        } else if Int(node) < base.nodeCount {
            for k in base.offsets[Int(node)]..<base.offsets[Int(node) + 1] { body(base.neighbors[k], base.weights[k]) }
        }
    }

    /// Whether any row differs from the base's (the graph is not compacted).
    public var hasChangedRows: Bool { recent.count > 0 || consolidated.count > 0 }

    /// The base's rows as buffers; right only when `hasChangedRows` is false.
    @inlinable
    public func withBaseRowBuffers<R>(_ body: (BaseRowBuffers) throws -> R) rethrows -> R {
        try base.offsets.withUnsafeBufferPointer { offsets in
            try base.neighbors.withUnsafeBufferPointer { neighbors in
                try base.weights.withUnsafeBufferPointer { weights in
                    try base.rowWeights.withUnsafeBufferPointer { rowWeights in
                        try body(BaseRowBuffers(nodeCount: base.nodeCount, offsets: offsets, neighbors: neighbors,
                                                weights: weights, rowWeights: rowWeights))
                    }
                }
            }
        }
    }

    /// Every row as buffers: the changed rows over the base's.
    @inlinable
    public func withChangedRowBuffers<R>(_ body: (ChangedRowBuffers) throws -> R) rethrows -> R {
        try withBaseRowBuffers { base in
            try recent.withBuffers { recent in
                try consolidated.withBuffers { consolidated in
                    try body(ChangedRowBuffers(base: base, recent: recent, consolidated: consolidated))
                }
            }
        }
    }

    /// The nodes whose rows differ from (or are missing in) the base, ascending.
    public var changedNodes: [UInt32] {
        guard !recent.nodes.isEmpty else { return consolidated.nodes }
        return Array(Set(consolidated.nodes).union(recent.nodes)).sorted()
    }

    /// `node`'s row if it is a changed one.
    public func changedRow(of node: UInt32) -> Row? {
        if let row = recent.row(of: node) { return recent.row(at: row) }
        return consolidated.row(of: node).map(consolidated.row(at:))
    }

    /// Number of steps out of every node together.
    public var stepCount: Int {
        var count = base.stepCount
        for node in changedNodes {
            count += changedRow(of: node)?.neighbors.count ?? 0
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

    /// With `earlier` — a view of an older snapshot on the same base — only the
    /// rows of the endpoints of the delta edges added and the edges removed since
    /// are recomputed; the rest of its changed rows carry over.
    func walkView(_ filter: WalkFilter, extending earlier: WalkView?, recentRowLimit: Int = WalkViewCache.defaultRecentRowLimit) -> WalkView {
        let baseGraph = base.walkGraph(filter, nodes: nodes, schema: schema)
        let extended = earlier.flatMap { earlier in
            earlier.base === baseGraph && earlier.removalCount <= removalLog.count && earlier.deltaEdgeCount <= deltaEdgeCount ? earlier : nil
        }
        // The rows to (re)compute: since `extended`, or every row the delta or removals changed.
        var touched = Set<UInt32>()
        if let extended {
            for endpoints in removalLog[extended.removalCount...] { touched.formUnion(endpoints) }
            // Chunks merge (a small last chunk absorbs the next write), so count edges, not chunks.
            var chunkStart = 0
            for chunk in delta {
                let count = chunk.records.count
                defer { chunkStart += count }
                guard chunkStart + count > extended.deltaEdgeCount else { continue }
                for record in chunk.records[max(extended.deltaEdgeCount - chunkStart, 0)...] {
                    touched.insert(record.source)
                    touched.insert(record.target)
                }
            }
        } else {
            for node in removedEndpoints { touched.insert(node) }
            for chunk in delta {
                for node in chunk.bySource.keys { touched.insert(node) }
                for node in chunk.byTarget.keys { touched.insert(node) }
            }
        }
        var rows: [UInt32: WalkView.Row] = [:]
        rows.reserveCapacity(touched.count)
        for node in touched { rows[node] = walkRow(of: node, filter: filter) }
        if let extended {
            return extended.updating(rows, nodeCount: nodes.idCount, version: version, isSymmetric: isSymmetric(under: filter),
                                     deltaEdgeCount: deltaEdgeCount, removalCount: removalLog.count, recentRowLimit: recentRowLimit)
        }
        return WalkView(base: baseGraph, rows: rows, nodeCount: nodes.idCount, version: version, filter: filter, isSymmetric: isSymmetric(under: filter),
                        deltaEdgeCount: deltaEdgeCount, removalCount: removalLog.count)
    }

    /// Whether every edge type `filter` admits is undirected (types can be added at any time).
    func isSymmetric(under filter: WalkFilter) -> Bool {
        schema.edgeTypes.allSatisfy { !filter.admits(edgeType: $0.id) || !$0.directed }
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

/// The most recent `WalkView`s per filter, shared by concurrent queries: a new
/// snapshot version rebuilds only the changed rows, a compaction the base part.
///
/// Views are built one at a time: under a stream of writes, concurrent readers
/// of a new version wait for one build instead of each doing it. A few recent
/// versions are kept, so that a reader whose snapshot is a little older than
/// the newest view still extends a view instead of building from scratch.
public final class WalkViewCache: Sendable {
    /// Per filter, the latest views, oldest first.
    private let views = Mutex<[WalkFilter: [WalkView]]>([:])
    /// Held while a view is built.
    private let building = Mutex(())
    /// Views kept per filter.
    static let keptVersions = 4
    /// Rows changed since the last consolidation that a view carries before it
    /// lays out all its changed rows again (see `WalkView`).
    public static let defaultRecentRowLimit = 4096
    let recentRowLimit: Int

    public init(recentRowLimit: Int = WalkViewCache.defaultRecentRowLimit) {
        self.recentRowLimit = recentRowLimit
    }

    public func view(of snapshot: GraphSnapshot, filter: WalkFilter) -> WalkView {
        if let view = cached(snapshot, filter) { return view }
        return building.withLock { _ in
            // Another reader may have built it while this one waited.
            if let view = cached(snapshot, filter) { return view }
            // A newer snapshot usually differs by a few delta chunks: extend the newest older view.
            let earlier = views.withLock { $0[filter]?.last { $0.version < snapshot.version } }
            let view = snapshot.walkView(filter, extending: earlier, recentRowLimit: recentRowLimit)
            views.withLock { cache in
                if cache.count >= 16 { cache.removeAll() }
                var kept = (cache[filter] ?? []) + [view]
                kept.sort { $0.version < $1.version }
                // Views on an older base (before a compaction) are of no further use.
                if let newest = kept.last { kept.removeAll { $0.base !== newest.base } }
                cache[filter] = Array(kept.suffix(Self.keptVersions))
            }
            return view
        }
    }

    /// The kept view of `snapshot`'s version on its base, if any.
    private func cached(_ snapshot: GraphSnapshot, _ filter: WalkFilter) -> WalkView? {
        guard let view = views.withLock({ $0[filter]?.last { $0.version == snapshot.version } }),
              view.base === snapshot.base.walkGraph(filter, nodes: snapshot.nodes, schema: snapshot.schema) else { return nil }
        return view
    }
}
