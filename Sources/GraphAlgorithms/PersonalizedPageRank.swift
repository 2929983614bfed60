import GraphCore
import Synchronization

/// A start node of a personalized PageRank with its share of the restart mass.
public struct PPRSeed: Sendable, Equatable {
    public var node: UInt32
    public var weight: Double

    public init(node: UInt32, weight: Double = 1) {
        self.node = node
        self.weight = weight
    }
}

/// A rejected PPR request (the caller's input, never an internal fault).
public struct PPRError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Parameters of a personalized PageRank.
///
/// The walk restarts at the seeds with probability `restart` at each step,
/// otherwise follows a step of the `WalkView` with probability proportional to
/// its weight; from a node with no step it restarts (as igraph does). The score
/// of a node is the stationary probability of being there.
public struct PPRParameters: Sendable {
    /// Restart (teleport) probability, in (0, 1); igraph's damping is 1 − restart.
    public var restart: Double
    /// Forward push stops when every node's residual is below
    /// `tolerance` × its weighted out-degree (or × 1 for a node without steps).
    /// The L1 error of the result is below `tolerance` × (total step weight).
    public var tolerance: Double

    public static let defaultRestart = 0.15
    public static let defaultTolerance = 1e-7

    public init(restart: Double = defaultRestart, tolerance: Double = defaultTolerance) {
        self.restart = restart
        self.tolerance = tolerance
    }

    public func validate() throws(PPRError) {
        guard restart.isFinite, restart > 0, restart < 1 else {
            throw PPRError("restart probability \(restart) is outside (0, 1)")
        }
        guard tolerance.isFinite, tolerance > 0, tolerance < 1 else {
            throw PPRError("tolerance \(tolerance) is outside (0, 1)")
        }
    }
}

/// Scores on the nodes a query reached (all others are zero).
public struct SparseScores: Sendable {
    public var nodes: [UInt32]
    public var scores: [Double]
    /// Pushes performed (forward push) or iterations (power iteration).
    public var work: Int

    public var count: Int { nodes.count }

    /// The `k` highest-scoring nodes that `include` accepts, best first (ties by node id).
    public func top(_ k: Int, where include: (UInt32) -> Bool = { _ in true }) -> [(node: UInt32, score: Double)] {
        var heap = TopK(capacity: k)
        for i in nodes.indices where scores[i] > 0 && include(nodes[i]) {
            heap.offer(node: nodes[i], score: scores[i])
        }
        return heap.sorted()
    }
}

/// Local personalized PageRank by forward push (Andersen, Chung and Lang),
/// over a `WalkView`. Work is bounded by 1 / (restart × tolerance) and does not
/// grow with the graph; scratch arrays are pooled, so concurrent queries each
/// take their own.
public final class PersonalizedPageRank: Sendable {
    private let pool = Mutex<[Workspace]>([])

    public init() {}

    /// Validates seeds against the view (live ids, finite positive weights) and
    /// returns them with weights normalised to sum to 1; duplicates are merged.
    public static func normalize(_ seeds: [PPRSeed], nodeCount: Int) throws(PPRError) -> [PPRSeed] {
        guard !seeds.isEmpty else { throw PPRError("no seeds") }
        var merged: [UInt32: Double] = [:]
        var order: [UInt32] = []
        for seed in seeds {
            guard Int(seed.node) < nodeCount else { throw PPRError("seed node \(seed.node) does not exist") }
            guard seed.weight.isFinite, seed.weight > 0 else {
                throw PPRError("seed weight \(seed.weight) must be finite and positive")
            }
            if merged[seed.node] == nil { order.append(seed.node) }
            merged[seed.node, default: 0] += seed.weight
        }
        let total = merged.values.reduce(0, +)
        return order.map { PPRSeed(node: $0, weight: merged[$0]! / total) }
    }

    /// Approximate PPR scores of every node reached from `seeds`.
    public func scores(view: WalkView, seeds: [PPRSeed], parameters: PPRParameters = PPRParameters()) throws(PPRError) -> SparseScores {
        try parameters.validate()
        let seeds = try Self.normalize(seeds, nodeCount: view.nodeCount)
        var workspace = pool.withLock { $0.popLast() } ?? Workspace()
        defer {
            workspace.clear()
            let returned = workspace
            pool.withLock { if $0.count < 64 { $0.append(returned) } }
        }
        workspace.prepare(nodeCount: view.nodeCount)
        return workspace.push(view: view, seeds: seeds, restart: parameters.restart, tolerance: parameters.tolerance)
    }
}

/// Per-query scratch: dense arrays indexed by node, reset through the list of
/// touched nodes so that a small query costs little on a large graph.
struct Workspace {
    var estimate: [Double] = []
    var residual: [Double] = []
    /// Per node: bit 0 = in the queue, bit 1 = in `touched`.
    var flags: [UInt8] = []
    var touched: [UInt32] = []
    var queue: [UInt32] = []

    mutating func prepare(nodeCount: Int) {
        if estimate.count < nodeCount {
            let extra = nodeCount - estimate.count
            estimate.append(contentsOf: repeatElement(0, count: extra))
            residual.append(contentsOf: repeatElement(0, count: extra))
            flags.append(contentsOf: repeatElement(0, count: extra))
        }
    }

    mutating func clear() {
        for node in touched {
            estimate[Int(node)] = 0
            residual[Int(node)] = 0
            flags[Int(node)] = 0
        }
        touched.removeAll(keepingCapacity: true)
        queue.removeAll(keepingCapacity: true)
    }

    mutating func push(view: WalkView, seeds: [PPRSeed], restart: Double, tolerance: Double) -> SparseScores {
        let base = view.base
        let changed = view.changedRows
        let hasChanges = !changed.isEmpty
        var pushes = 0
        var head = 0
        estimate.withUnsafeMutableBufferPointer { p in
        residual.withUnsafeMutableBufferPointer { r in
        flags.withUnsafeMutableBufferPointer { flags in
        base.offsets.withUnsafeBufferPointer { offsets in
        base.neighbors.withUnsafeBufferPointer { neighbors in
        base.weights.withUnsafeBufferPointer { weights in
        base.rowWeights.withUnsafeBufferPointer { rowWeights in
            let baseCount = base.nodeCount
            @inline(__always) func degree(_ node: Int) -> Double {
                if hasChanges, let row = changed[UInt32(node)] { return Double(row.total) }
                return node < baseCount ? Double(rowWeights[node]) : 0
            }
            @inline(__always) func add(_ node: UInt32, _ mass: Double) {
                let u = Int(node)
                if flags[u] & 2 == 0 {
                    flags[u] |= 2
                    touched.append(node)
                }
                r[u] += mass
                if flags[u] & 1 == 0 {
                    let d = degree(u)
                    if r[u] > tolerance * (d > 0 ? d : 1) {
                        flags[u] |= 1
                        queue.append(node)
                    }
                }
            }
            for seed in seeds { add(seed.node, seed.weight) }
            while head < queue.count {
                let v = queue[head]
                head += 1
                // Keep the queue from growing without bound on long runs.
                if head > 4096 && head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                let vi = Int(v)
                flags[vi] &= ~1
                let mass = r[vi]
                r[vi] = 0
                p[vi] += restart * mass
                pushes += 1
                let spread = (1 - restart) * mass
                let total = degree(vi)
                if total <= 0 {
                    for seed in seeds { add(seed.node, spread * seed.weight) }
                    continue
                }
                let scale = spread / total
                if hasChanges, let row = changed[v] {
                    for k in row.neighbors.indices { add(row.neighbors[k], scale * Double(row.weights[k])) }
                } else {
                    for k in offsets[vi]..<offsets[vi + 1] { add(neighbors[k], scale * Double(weights[k])) }
                }
            }
        }}}}}}}
        var scores = [Double]()
        scores.reserveCapacity(touched.count)
        for node in touched { scores.append(estimate[Int(node)]) }
        return SparseScores(nodes: touched, scores: scores, work: pushes)
    }
}

/// A bounded min-heap keeping the `capacity` best (score, node) pairs.
public struct TopK {
    private var heap: [(node: UInt32, score: Double)] = []
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(0, capacity)
        heap.reserveCapacity(self.capacity)
    }

    /// True when (a) ranks below (b): lower score, or equal score and larger id.
    @inline(__always)
    private static func worse(_ a: (node: UInt32, score: Double), _ b: (node: UInt32, score: Double)) -> Bool {
        a.score < b.score || (a.score == b.score && a.node > b.node)
    }

    public mutating func offer(node: UInt32, score: Double) {
        guard capacity > 0 else { return }
        let entry = (node: node, score: score)
        if heap.count < capacity {
            heap.append(entry)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.worse(heap[i], heap[parent]) else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        } else if Self.worse(heap[0], entry) {
            heap[0] = entry
            var i = 0
            while true {
                let left = 2 * i + 1, right = left + 1
                var smallest = i
                if left < heap.count, Self.worse(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, Self.worse(heap[right], heap[smallest]) { smallest = right }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
    }

    /// Best first.
    public func sorted() -> [(node: UInt32, score: Double)] {
        heap.sorted { Self.worse($1, $0) }
    }
}
