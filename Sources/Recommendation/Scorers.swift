import GraphCore
import Synchronization
import MessagePassing
import RealModule

/// items → users → items: the user's row through `first` (items × users) then
/// `second` (users × items), touching only the users reached. When `reachedItems`
/// is given, the items reached are appended to it.
func twoHops(_ interactions: [(item: Int, weight: Float)], first: SparseMatrix, second: SparseMatrix,
             reachedItems: UnsafeMutablePointer<[Int]>? = nil) -> [Float] {
    var middle = [Float](repeating: 0, count: first.columnCount)
    var reached: [Int] = []
    first.accumulateRows(interactions.map(\.item), scales: interactions.map(\.weight), into: &middle, touched: &reached)
    var scores = [Float](repeating: 0, count: second.columnCount)
    second.accumulateRows(reached, scales: reached.map { middle[$0] }, into: &scores, touched: reachedItems)
    return scores
}

/// RP3β (Paudel et al.; Christoffel et al.'s P3α with popularity correction):
/// a three-step walk user → item → user → item whose transition probabilities
/// are raised to α, the end item's score divided by its degree to the power β.
///
/// It runs on the live `WalkView` (base rows plus the rows the delta changed),
/// so an edge added a moment ago counts at once and nothing is precomputed.
/// Cost per query: the rows of the user's items' users.
public struct RP3Beta: Sendable {
    public struct Parameters: Sendable, Equatable {
        public var alpha: Float
        public var beta: Float
        /// Chosen on a validation split carved out of Gowalla's training file.
        public static let defaults = Parameters(alpha: 0.7, beta: 0.2)
        public init(alpha: Float, beta: Float) {
            self.alpha = alpha
            self.beta = beta
        }
    }

    public let parameters: Parameters

    public init(parameters: Parameters = .defaults) {
        self.parameters = parameters
    }

    @inline(__always)
    private func power(_ x: Float, _ exponent: Float) -> Float {
        exponent == 1 ? x : Float.pow(x, exponent)
    }

    /// Scores of the items reached from `user`, as (node, score) pairs.
    /// `isItem` tells item nodes from user nodes on the walk's third step.
    public func scores(user: UInt32, view: WalkView, isItem: (UInt32) -> Bool) -> [(node: UInt32, score: Float)] {
        let alpha = parameters.alpha
        // Step 1: user → items, probability (w/d(u))^α.
        let userWeight = view.rowWeight(user)
        guard userWeight > 0 else { return [] }
        var firstStep: [(node: UInt32, probability: Float)] = []
        view.forEachStep(from: user) { item, weight in firstStep.append((item, power(weight / userWeight, alpha))) }
        var users = Accumulator.take(size: view.nodeCount), items = Accumulator.take(size: view.nodeCount)
        defer {
            Accumulator.give(&users)
            Accumulator.give(&items)
        }
        // Step 2: items → users.
        for (item, probability) in firstStep {
            let itemWeight = view.rowWeight(item)
            guard itemWeight > 0 else { continue }
            let scale = probability * power(1 / itemWeight, alpha)
            view.forEachStep(from: item) { other, weight in users.add(other, scale * (weight == 1 ? 1 : power(weight, alpha))) }
        }
        // Step 3: users → items, then the popularity penalty.
        for other in users.touched {
            let otherWeight = view.rowWeight(other)
            guard otherWeight > 0 else { continue }
            let scale = users.values[Int(other)] * power(1 / otherWeight, alpha)
            view.forEachStep(from: other) { item, weight in items.add(item, scale * (weight == 1 ? 1 : power(weight, alpha))) }
        }
        var result: [(node: UInt32, score: Float)] = []
        result.reserveCapacity(items.touched.count)
        for item in items.touched where isItem(item) {
            result.append((item, items.values[Int(item)] * Float.pow(max(view.rowWeight(item), 1e-12), -parameters.beta)))
        }
        return result
    }

    /// How much each of `user`'s items contributed to `item`'s score (the
    /// walks through it), largest first.
    public func contributions(to item: UInt32, user: UInt32, view: WalkView) -> [(node: UInt32, share: Float)] {
        let alpha = parameters.alpha
        // Last step v → item, for every user v of `item`.
        var lastStep: [UInt32: Float] = [:]
        view.forEachStep(from: item) { other, weight in
            let otherWeight = view.rowWeight(other)
            if otherWeight > 0 { lastStep[other] = power(weight / otherWeight, alpha) }
        }
        let userWeight = view.rowWeight(user)
        guard userWeight > 0 else { return [] }
        var result: [(node: UInt32, share: Float)] = []
        view.forEachStep(from: user) { mine, weight in
            let mineWeight = view.rowWeight(mine)
            guard mineWeight > 0 else { return }
            var sum: Float = 0
            view.forEachStep(from: mine) { other, w in
                if let last = lastStep[other] { sum += power(w / mineWeight, alpha) * last }
            }
            if sum > 0 { result.append((mine, power(weight / userWeight, alpha) * sum)) }
        }
        return result.sorted { $0.share > $1.share || ($0.share == $1.share && $0.node < $1.node) }
    }
}

/// A dense per-node accumulator that remembers which entries it touched, so
/// that clearing it costs what was used. Pooled: queries run concurrently.
struct Accumulator: Sendable {
    var values: [Float] = []
    var touched: [UInt32] = []

    @inline(__always)
    mutating func add(_ node: UInt32, _ amount: Float) {
        let i = Int(node)
        if values[i] == 0 { touched.append(node) }
        values[i] += amount
        if values[i] == 0 { values[i] = .leastNonzeroMagnitude }  // keep it marked as touched
    }

    private static let pool = Mutex<[Accumulator]>([])

    static func take(size: Int) -> Accumulator {
        var accumulator = pool.withLock { $0.popLast() } ?? Accumulator()
        if accumulator.values.count < size {
            // Room to grow: nodes arrive with every write, and growing by exactly
            // what is missing would move the whole array on each query.
            if accumulator.values.capacity < size { accumulator.values.reserveCapacity(size + size / 8) }
            accumulator.values.append(contentsOf: repeatElement(0, count: size - accumulator.values.count))
        }
        return accumulator
    }

    /// Clears what `accumulator` touched, in place (taking it `inout` keeps its
    /// arrays uniquely referenced: a copy would duplicate a node-sized array
    /// per query), and pools it; the caller's variable is left empty.
    static func give(_ accumulator: inout Accumulator) {
        for node in accumulator.touched { accumulator.values[Int(node)] = 0 }
        accumulator.touched.removeAll(keepingCapacity: true)
        let cleared = accumulator
        accumulator = Accumulator()
        pool.withLock { if $0.count < 64 { $0.append(cleared) } }
    }
}
