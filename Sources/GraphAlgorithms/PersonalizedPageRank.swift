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

    /// How the mass left in residuals is accounted for.
    public var estimator: PPREstimator
    /// Corrected estimator, symmetric views: a residual node whose row weight
    /// exceeds this has its next step spread by row weight like the rest, not
    /// along its own steps (a hub's next step is nearly that already, and
    /// spreading it exactly costs its whole row).
    public var spreadLimit: Double
    /// Corrected estimator, symmetric views: a residual below this fraction of
    /// its node's push threshold is spread by row weight too (its exact next
    /// step would cost a row for a share of mass the push already judged small).
    public var spreadFraction: Double

    public static let defaultRestart = 0.15
    // Defaults chosen on a 500k-edge synthetic power-law graph (not the
    // benchmark's 1M and 10M graphs): precision@100 ≈ 0.99 against PRPACK.
    public static let defaultTolerance = 1e-5
    public static let defaultSpreadLimit = 300.0
    public static let defaultSpreadFraction = 0.3

    public init(restart: Double = defaultRestart, tolerance: Double = defaultTolerance, estimator: PPREstimator = .corrected,
                spreadLimit: Double = defaultSpreadLimit, spreadFraction: Double = defaultSpreadFraction) {
        self.restart = restart
        self.tolerance = tolerance
        self.estimator = estimator
        self.spreadLimit = spreadLimit
        self.spreadFraction = spreadFraction
    }

    public func validate() throws(PPRError) {
        guard restart.isFinite, restart > 0, restart < 1 else {
            throw PPRError("restart probability \(restart) is outside (0, 1)")
        }
        guard tolerance.isFinite, tolerance > 0, tolerance < 1 else {
            throw PPRError("tolerance \(tolerance) is outside (0, 1)")
        }
        guard spreadLimit >= 0, !spreadLimit.isNaN else { throw PPRError("spread limit \(spreadLimit) is negative") }
        guard spreadFraction >= 0, spreadFraction.isFinite else { throw PPRError("spread fraction \(spreadFraction) is negative or not finite") }
    }
}

/// What a forward push reports.
public enum PPREstimator: Sendable {
    /// The pushed mass only: a lower bound on every score.
    case push
    /// The pushed mass plus the residuals' expected contribution: the restart
    /// share of each residual stays where it is, the next step is spread exactly
    /// along that node's steps, and the rest — on a symmetric view, where a walk
    /// mixes towards row weight — is spread in proportion to row weight. Much
    /// more accurate ranking for the same work; no longer a lower bound.
    case corrected
}

/// Scores on the nodes a query reached (all others are zero).
public struct SparseScores: Sendable {
    public var nodes: [UInt32]
    public var scores: [Double]
    /// Pushes performed (forward push) or iterations (power iteration).
    public var work: Int
    /// Probability mass not yet pushed (0 for an exact result).
    public var residualMass: Double = 0

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
        // Summed in the seeds' order, not the dictionary's (which differs per
        // process): the same seeds give the same bits on every replica.
        let total = order.reduce(0) { $0 + (merged[$1] ?? 0) }
        return order.map { PPRSeed(node: $0, weight: (merged[$0] ?? 0) / total) }
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
        return workspace.push(view: view, seeds: seeds, restart: parameters.restart, tolerance: parameters.tolerance,
                              corrected: parameters.estimator == .corrected, spreadLimit: parameters.spreadLimit,
                              spreadFraction: parameters.spreadFraction)
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
    /// Per mixing class of the base: the mass pooled there (corrected
    /// estimator), reset through `pooledClasses` like the node arrays.
    var classMass: [Double] = []
    var pooledClasses: [UInt32] = []

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
        for c in pooledClasses { classMass[Int(c)] = 0 }
        pooledClasses.removeAll(keepingCapacity: true)
    }

    mutating func push(view: WalkView, seeds: [PPRSeed], restart: Double, tolerance: Double, corrected: Bool, spreadLimit: Double, spreadFraction: Double) -> SparseScores {
        // On a compacted graph the loop is specialised to the base's rows alone.
        let pushes = view.hasChangedRows
            ? view.withChangedRowBuffers { rows in
                push(rows, view: view, seeds: seeds, restart: restart, tolerance: tolerance, corrected: corrected,
                     spreadLimit: spreadLimit, spreadFraction: spreadFraction)
            }
            : view.withBaseRowBuffers { rows in
                push(rows, view: view, seeds: seeds, restart: restart, tolerance: tolerance, corrected: corrected,
                     spreadLimit: spreadLimit, spreadFraction: spreadFraction)
            }
        var scores = [Double]()
        scores.reserveCapacity(touched.count)
        var remaining = 0.0
        for node in touched {
            scores.append(estimate[Int(node)])
            remaining += residual[Int(node)]
        }
        return SparseScores(nodes: touched, scores: scores, work: pushes, residualMass: remaining)
    }

    /// The push loop over `rows`; returns the number of pushes.
    private mutating func push<Rows: WalkRowBuffers>(_ rows: Rows, view: WalkView, seeds: [PPRSeed], restart: Double, tolerance: Double,
                                                     corrected: Bool, spreadLimit: Double, spreadFraction: Double) -> Int {
        let base = view.base
        var pushes = 0
        var head = 0
        if classMass.count < base.classWeights.count {
            classMass.append(contentsOf: repeatElement(0, count: base.classWeights.count - classMass.count))
        }
        estimate.withUnsafeMutableBufferPointer { p in
        residual.withUnsafeMutableBufferPointer { r in
        flags.withUnsafeMutableBufferPointer { flags in
        classMass.withUnsafeMutableBufferPointer { classMass in
            let baseCount = base.nodeCount
            @inline(__always) func degree(_ node: Int) -> Double { rows.weight(of: node) }
            @inline(__always) func touch(_ u: Int) {
                if flags[u] & 2 == 0 {
                    flags[u] |= 2
                    touched.append(UInt32(u))
                }
            }
            @inline(__always) func forEachStep(_ v: UInt32, _ body: (UInt32, Double) -> Void) { rows.forEachStep(from: Int(v), body) }
            @inline(__always) func add(_ node: UInt32, _ mass: Double) {
                let u = Int(node)
                touch(u)
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
                forEachStep(v) { u, w in add(u, scale * w) }
            }
            guard corrected else { return }
            // Residual r at u: α·r stays at u, the next step spreads α(1−α)·r
            // exactly, and (1−α)²·r in total mixes towards row weight.
            // Mass that has mixed, per mixing class of the base (symmetric views).
            let mixes = view.isSymmetric && !base.classWeights.isEmpty
            // Of the walks that take two or more further steps, 1/(2−α) stop after
            // an even number; in a bipartite component those end on the home side.
            let homeShare = 1 / (2 - restart)
            // Pooled masses are positive, so a class at 0 has none yet.
            @inline(__always) func add(_ mass: Double, toClass c: UInt32) {
                if classMass[Int(c)] == 0 { pooledClasses.append(c) }
                classMass[Int(c)] += mass
            }
            @inline(__always) func pool(_ u: Int, twoOrMoreSteps mass: Double, oneStep: Double) {
                guard u < baseCount else { return }
                let home = base.mixingClass[u]
                if base.componentIsBipartite[Int(home / 2)] {
                    add(mass * homeShare, toClass: home)
                    add(mass * (1 - homeShare) + oneStep, toClass: home ^ 1)
                } else {
                    add(mass + oneStep, toClass: home)
                }
            }
            for i in touched.indices {
                let u = Int(touched[i])
                let mass = r[u]
                guard mass > 0 else { continue }
                p[u] += restart * mass
                let total = degree(u)
                let next = restart * (1 - restart) * mass
                if mixes && (total > spreadLimit || mass < spreadFraction * tolerance * total) {
                    // A hub's next step is spread by row weight with the rest.
                    pool(u, twoOrMoreSteps: (1 - restart) * (1 - restart) * mass, oneStep: next)
                    continue
                }
                if total <= 0 {
                    for seed in seeds { touch(Int(seed.node)); p[Int(seed.node)] += next * seed.weight }
                } else {
                    let scale = next / total
                    forEachStep(UInt32(u)) { w, weight in touch(Int(w)); p[Int(w)] += scale * weight }
                }
                if mixes { pool(u, twoOrMoreSteps: (1 - restart) * (1 - restart) * mass, oneStep: 0) }
            }
            guard mixes, !pooledClasses.isEmpty else { return }
            for hub in base.hubs where Int(hub) < p.count { touch(Int(hub)) }
            for node in touched where Int(node) < baseCount {
                let home = Int(base.mixingClass[Int(node)])
                let mass = classMass[home]
                if mass > 0, view.classWeights[home] > 0 {
                    p[Int(node)] += mass * degree(Int(node)) / view.classWeights[home]
                }
            }
        }}}}
        return pushes
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

    /// Whether `score` would enter now (check this before costlier filters).
    @inline(__always)
    public func admits(_ score: Double) -> Bool {
        capacity > 0 && (heap.count < capacity || heap[0].score <= score)
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
