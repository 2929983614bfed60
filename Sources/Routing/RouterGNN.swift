import GraphCore
import MessagePassing
import RealModule

/// Shape of the router GNN.
public struct RouterGNNConfig: Sendable, Equatable, Codable {
    /// Width of the node representations.
    public var hidden: Int = 32
    /// Width of the edge head's hidden layer.
    public var headHidden: Int = 32
    /// Pseudo-count that shrinks an LLM's per-task success rate towards the task's mean.
    public var priorStrength: Float = 4

    public init(hidden: Int = 32, headHidden: Int = 32, priorStrength: Float = 4) {
        self.hidden = hidden
        self.headHidden = headHidden
        self.priorStrength = priorStrength
    }
}

/// The learned tensors, in a fixed order (the order of `RouterParameters.names`).
///
/// Layer 0 projects each node type's text embedding into one space
/// (`Wq`, `Wt`, `Wm` with biases). Layer 1 passes messages along the graph:
/// queries → task (`Wqt`), task → query (`Wtq`), and queries → LLM split by
/// outcome, as two relations in R-GCN style (`Wps` for successes, `Wpf` for
/// failures). The edge head scores a query→LLM pair from the element-wise
/// product and both endpoints (`A`, `B`, `C`, `c`, `w`, `b0`) and adds it to the
/// logit of the LLM's smoothed success rate on the query's task, which the
/// same graph supplies — so the network learns corrections per query, and a
/// model without signal falls back to the best LLM per task.
public struct RouterParameters: Sendable, Equatable {
    public static let names = ["Wq", "bq", "Wt", "bt", "Wm", "bm", "Wqt", "Wtq", "Wps", "Wpf", "A", "B", "C", "c", "w", "b0"]
    /// Tensors that weight decay applies to (not biases).
    static let decayed: Set<Int> = [0, 2, 4, 6, 7, 8, 9, 10, 11, 12, 14]

    public var tensors: [DenseMatrix]

    /// Glorot-uniform weights, zero biases.
    public init(dimension d: Int, config: RouterGNNConfig, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let h = config.hidden, k = config.headHidden
        let shapes = [(d, h), (1, h), (d, h), (1, h), (d, h), (1, h), (h, h), (h, h), (h, h), (h, h),
                      (h, k), (h, k), (h, k), (1, k), (k, 1), (1, 1)]
        tensors = shapes.enumerated().map { index, shape in
            var m = DenseMatrix(zeros: shape.0, shape.1)
            if Self.decayed.contains(index) {
                let limit = (6 / Float(shape.0 + shape.1)).squareRoot()
                for i in m.values.indices { m.values[i] = rng.signedUnit() * limit }
            }
            return m
        }
    }

    public init(tensors: [DenseMatrix]) {
        self.tensors = tensors
    }

    /// The router before any training: the edge head's output weights ("w") are
    /// zero, so every prediction is the per-task success rate alone.
    public static func ratesOnly(dimension: Int, config: RouterGNNConfig) -> RouterParameters {
        var parameters = RouterParameters(dimension: dimension, config: config, seed: 1)
        parameters.tensors[14] = DenseMatrix(zeros: parameters.tensors[14].rowCount, 1)
        return parameters
    }

    public static func zeros(like other: RouterParameters) -> RouterParameters {
        RouterParameters(tensors: other.tensors.map { DenseMatrix(zeros: $0.rowCount, $0.columnCount) })
    }

    public var dimension: Int { tensors[0].rowCount }
    public var hidden: Int { tensors[0].columnCount }
    public var headHidden: Int { tensors[10].columnCount }
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.values.count } }
}

/// The graph structure one forward pass runs on: which queries pass messages
/// to their task and to the LLMs they have outcomes with.
struct MessageGraph {
    /// task × query, mean over the task's queries.
    var taskFromQueries: SparseMatrix
    /// query × task, one-hot (zero row for a query without task).
    var queryFromTask: SparseMatrix
    /// LLM × query: effect / degree (successes) and (1 − effect) / degree (failures).
    var llmFromSuccesses: SparseMatrix
    var llmFromFailures: SparseMatrix

    /// `messageOutcomes` are the outcomes the LLM side may see; all queries feed their task.
    init(graph: RouterGraph, messageOutcomes: [RouterGraph.Outcome]) throws(MatrixError) {
        let nQ = graph.queries.count, nT = graph.tasks.count, nM = graph.llms.count
        var perTask = [Float](repeating: 0, count: nT)
        for query in graph.queries { if let t = query.task { perTask[t] += 1 } }
        var tRows: [Int32] = [], tCols: [Int32] = [], tVals: [Float] = []
        var qRows: [Int32] = [], qCols: [Int32] = [], qVals: [Float] = []
        for (q, query) in graph.queries.enumerated() {
            guard let t = query.task else { continue }
            tRows.append(Int32(t)); tCols.append(Int32(q)); tVals.append(1 / perTask[t])
            qRows.append(Int32(q)); qCols.append(Int32(t)); qVals.append(1)
        }
        taskFromQueries = try SparseMatrix(rowCount: nT, columnCount: nQ, rows: tRows, columns: tCols, values: tVals)
        queryFromTask = try SparseMatrix(rowCount: nQ, columnCount: nT, rows: qRows, columns: qCols, values: qVals)
        var degree = [Float](repeating: 0, count: nM)
        for outcome in messageOutcomes { degree[outcome.llm] += 1 }
        var rows: [Int32] = [], cols: [Int32] = [], success: [Float] = [], failure: [Float] = []
        for outcome in messageOutcomes {
            rows.append(Int32(outcome.llm)); cols.append(Int32(outcome.query))
            success.append(outcome.effect / degree[outcome.llm])
            failure.append((1 - outcome.effect) / degree[outcome.llm])
        }
        llmFromSuccesses = try SparseMatrix(rowCount: nM, columnCount: nQ, rows: rows, columns: cols, values: success)
        llmFromFailures = try SparseMatrix(rowCount: nM, columnCount: nQ, rows: rows, columns: cols, values: failure)
    }
}

/// Per-(task, LLM) success rates from a set of outcomes, smoothed: the
/// offset the edge head adds its correction to.
public struct OutcomePriors: Sendable {
    /// logit of the smoothed rate, task-major: `[task * llmCount + llm]`.
    public var taskLogits: [Float]
    /// logit of each LLM's rate over all tasks (queries without task).
    public var globalLogits: [Float]
    /// How many outcomes each rate is observed from, task-major like `taskLogits`.
    public var taskObservations: [Float]
    /// How many outcomes each LLM has over all tasks.
    public var globalObservations: [Float]
    public let llmCount: Int

    public init(taskCount: Int, llmCount: Int, queries: [RouterGraph.Query], outcomes: [RouterGraph.Outcome], strength: Float) {
        self.llmCount = llmCount
        var sum = [Float](repeating: 0, count: taskCount * llmCount), count = sum
        var taskSum = [Float](repeating: 0, count: taskCount), taskCount_ = taskSum
        var llmSum = [Float](repeating: 0, count: llmCount), llmCount_ = llmSum
        var total: Float = 0, totalCount: Float = 0
        for outcome in outcomes {
            llmSum[outcome.llm] += outcome.effect; llmCount_[outcome.llm] += 1
            total += outcome.effect; totalCount += 1
            guard let t = queries[outcome.query].task else { continue }
            sum[t * llmCount + outcome.llm] += outcome.effect; count[t * llmCount + outcome.llm] += 1
            taskSum[t] += outcome.effect; taskCount_[t] += 1
        }
        taskObservations = count
        globalObservations = llmCount_
        let globalMean = (total + 1) / (totalCount + 2)
        globalLogits = (0..<llmCount).map { m in
            Self.logit((llmSum[m] + strength * globalMean) / (llmCount_[m] + strength))
        }
        taskLogits = [Float](repeating: 0, count: taskCount * llmCount)
        for t in 0..<taskCount {
            let taskMean = (taskSum[t] + strength * globalMean) / (taskCount_[t] + strength)
            for m in 0..<llmCount {
                let i = t * llmCount + m
                taskLogits[i] = Self.logit((sum[i] + strength * taskMean) / (count[i] + strength))
            }
        }
    }

    public func logit(task: Int?, llm: Int) -> Float {
        guard let task else { return globalLogits[llm] }
        return taskLogits[task * llmCount + llm]
    }

    /// How many outcomes the LLM has on the task (over all tasks without one).
    public func observations(task: Int?, llm: Int) -> Float {
        guard let task else { return globalObservations[llm] }
        return taskObservations[task * llmCount + llm]
    }

    static func logit(_ p: Float) -> Float {
        let clamped = min(max(p, 1e-3), 1 - 1e-3)
        return Float.log(clamped / (1 - clamped))
    }
}

/// Forward and backward passes of the router GNN, with hand-derived gradients.
public enum RouterGNN {
    /// Node representations after message passing.
    struct NodeStates {
        var zq: DenseMatrix, zt: DenseMatrix, zm: DenseMatrix
        var aggT: DenseMatrix, st: DenseMatrix, ht: DenseMatrix
        var aggQ: DenseMatrix, sq: DenseMatrix, hq: DenseMatrix
        var aggS: DenseMatrix, aggF: DenseMatrix, sm: DenseMatrix, hm: DenseMatrix
    }

    static func features(_ rows: [[Float]], dimension: Int) -> DenseMatrix {
        var m = DenseMatrix(zeros: rows.count, dimension)
        for (i, row) in rows.enumerated() { m.values.replaceSubrange((i * dimension)..<((i + 1) * dimension), with: row) }
        return m
    }

    struct Inputs {
        var xq: DenseMatrix, xt: DenseMatrix, xm: DenseMatrix
        init(_ graph: RouterGraph) {
            xq = RouterGNN.features(graph.queries.map(\.features), dimension: graph.dimension)
            xt = RouterGNN.features(graph.tasks.map(\.features), dimension: graph.dimension)
            xm = RouterGNN.features(graph.llms.map(\.features), dimension: graph.dimension)
        }
    }

    static func nodeStates(_ p: RouterParameters, inputs: Inputs, messages: MessageGraph) throws(MatrixError) -> NodeStates {
        let t = p.tensors
        let zq = try affine(inputs.xq, t[0], t[1])
        let zt = try affine(inputs.xt, t[2], t[3])
        let zm = try affine(inputs.xm, t[4], t[5])
        let aggT = try messages.taskFromQueries.multiply(zq, threads: 1)
        let st = try add(zt, aggT.multiplied(by: t[6]))
        let ht = relu(st)
        let aggQ = try messages.queryFromTask.multiply(ht, threads: 1)
        let sq = try add(zq, aggQ.multiplied(by: t[7]))
        let hq = relu(sq)
        let aggS = try messages.llmFromSuccesses.multiply(zq, threads: 1)
        let aggF = try messages.llmFromFailures.multiply(zq, threads: 1)
        let sm = try add(add(zm, aggS.multiplied(by: t[8])), aggF.multiplied(by: t[9]))
        let hm = relu(sm)
        return NodeStates(zq: zq, zt: zt, zm: zm, aggT: aggT, st: st, ht: ht, aggQ: aggQ, sq: sq, hq: hq,
                          aggS: aggS, aggF: aggF, sm: sm, hm: hm)
    }

    /// Head activations for pairs (query row of `hq`, LLM row of `hm`).
    struct HeadStates {
        var gq: DenseMatrix, gm: DenseMatrix, prod: DenseMatrix, v: DenseMatrix, u: DenseMatrix
        var logits: [Float]
    }

    static func head(_ p: RouterParameters, hq: DenseMatrix, hm: DenseMatrix, queries: [Int], llms: [Int],
                     priors: [Float]) throws(MatrixError) -> HeadStates {
        let t = p.tensors
        let gq = gather(hq, queries), gm = gather(hm, llms)
        var prod = gq
        for i in prod.values.indices { prod.values[i] *= gm.values[i] }
        var v = try prod.multiplied(by: t[10])
        let vb = try gq.multiplied(by: t[11]), vc = try gm.multiplied(by: t[12])
        let k = v.columnCount
        for i in v.values.indices { v.values[i] += vb.values[i] + vc.values[i] + t[13].values[i % k] }
        let u = relu(v)
        let out = try u.multiplied(vector: t[14].values)
        let logits = (0..<out.count).map { out[$0] + t[15].values[0] + priors[$0] }
        return HeadStates(gq: gq, gm: gm, prod: prod, v: v, u: u, logits: logits)
    }

    /// Mean binary cross-entropy of the pairs plus L2 weight decay, and its gradient.
    static func lossAndGradient(_ p: RouterParameters, inputs: Inputs, messages: MessageGraph,
                                queries: [Int], llms: [Int], priors: [Float], targets: [Float],
                                weightDecay: Float, wantGradient: Bool = true) throws(MatrixError) -> (loss: Float, gradient: RouterParameters?) {
        let s = try nodeStates(p, inputs: inputs, messages: messages)
        let h = try head(p, hq: s.hq, hm: s.hm, queries: queries, llms: llms, priors: priors)
        let n = Float(max(targets.count, 1))
        var loss: Float = 0
        var dLogit = [Float](repeating: 0, count: targets.count)
        for i in targets.indices {
            let z = h.logits[i], y = targets[i]
            // log(1 + e^z) − y z, computed stably.
            loss += max(z, 0) - z * y + Float.log(1 + Float.exp(-abs(z)))
            dLogit[i] = (sigmoid(z) - y) / n
        }
        loss /= n
        for index in RouterParameters.decayed {
            loss += 0.5 * weightDecay * p.tensors[index].values.reduce(0) { $0 + $1 * $1 }
        }
        guard wantGradient else { return (loss, nil) }

        let t = p.tensors
        var g = RouterParameters.zeros(like: p)
        let dOut = try DenseMatrix(rowCount: dLogit.count, columnCount: 1, values: dLogit)
        g.tensors[14] = try h.u.multiplied(by: dOut, transposeSelf: true)
        g.tensors[15].values[0] = dLogit.reduce(0, +)
        var dv = try dOut.multiplied(by: t[14], transposeOther: true)
        for i in dv.values.indices where h.v.values[i] <= 0 { dv.values[i] = 0 }
        g.tensors[10] = try h.prod.multiplied(by: dv, transposeSelf: true)
        g.tensors[11] = try h.gq.multiplied(by: dv, transposeSelf: true)
        g.tensors[12] = try h.gm.multiplied(by: dv, transposeSelf: true)
        g.tensors[13] = columnSums(dv)
        let dProd = try dv.multiplied(by: t[10], transposeOther: true)
        var dGq = try dv.multiplied(by: t[11], transposeOther: true)
        var dGm = try dv.multiplied(by: t[12], transposeOther: true)
        for i in dGq.values.indices {
            dGq.values[i] += dProd.values[i] * h.gm.values[i]
            dGm.values[i] += dProd.values[i] * h.gq.values[i]
        }
        var dSq = scatter(dGq, rows: queries, into: s.hq.rowCount)
        var dSm = scatter(dGm, rows: llms, into: s.hm.rowCount)
        reluBackward(&dSq, s.sq)
        reluBackward(&dSm, s.sm)

        // LLM side: sm = zm + aggS·Wps + aggF·Wpf, aggS = Ps·zq, aggF = Pf·zq.
        var dZq = dSq
        g.tensors[8] = try s.aggS.multiplied(by: dSm, transposeSelf: true)
        g.tensors[9] = try s.aggF.multiplied(by: dSm, transposeSelf: true)
        try addInPlace(&dZq, messages.llmFromSuccesses.transposed().multiply(dSm.multiplied(by: t[8], transposeOther: true), threads: 1))
        try addInPlace(&dZq, messages.llmFromFailures.transposed().multiply(dSm.multiplied(by: t[9], transposeOther: true), threads: 1))
        // Query side: sq = zq + aggQ·Wtq, aggQ = Qt·ht.
        g.tensors[7] = try s.aggQ.multiplied(by: dSq, transposeSelf: true)
        var dSt = try messages.queryFromTask.transposed().multiply(dSq.multiplied(by: t[7], transposeOther: true), threads: 1)
        reluBackward(&dSt, s.st)
        // Task side: st = zt + aggT·Wqt, aggT = Tq·zq.
        g.tensors[6] = try s.aggT.multiplied(by: dSt, transposeSelf: true)
        try addInPlace(&dZq, messages.taskFromQueries.transposed().multiply(dSt.multiplied(by: t[6], transposeOther: true), threads: 1))
        // Projections.
        g.tensors[0] = try inputs.xq.multiplied(by: dZq, transposeSelf: true)
        g.tensors[1] = columnSums(dZq)
        g.tensors[2] = try inputs.xt.multiplied(by: dSt, transposeSelf: true)
        g.tensors[3] = columnSums(dSt)
        g.tensors[4] = try inputs.xm.multiplied(by: dSm, transposeSelf: true)
        g.tensors[5] = columnSums(dSm)
        for index in RouterParameters.decayed {
            for i in g.tensors[index].values.indices { g.tensors[index].values[i] += weightDecay * t[index].values[i] }
        }
        return (loss, g)
    }

    // MARK: Small dense helpers

    static func sigmoid(_ z: Float) -> Float { 1 / (1 + Float.exp(-z)) }

    static func affine(_ x: DenseMatrix, _ w: DenseMatrix, _ b: DenseMatrix) throws(MatrixError) -> DenseMatrix {
        var y = try x.multiplied(by: w)
        let n = y.columnCount
        for i in y.values.indices { y.values[i] += b.values[i % n] }
        return y
    }

    static func add(_ a: DenseMatrix, _ b: DenseMatrix) -> DenseMatrix {
        var c = a
        for i in c.values.indices { c.values[i] += b.values[i] }
        return c
    }

    static func addInPlace(_ a: inout DenseMatrix, _ b: DenseMatrix) {
        for i in a.values.indices { a.values[i] += b.values[i] }
    }

    static func relu(_ a: DenseMatrix) -> DenseMatrix {
        var c = a
        for i in c.values.indices where c.values[i] < 0 { c.values[i] = 0 }
        return c
    }

    static func reluBackward(_ gradient: inout DenseMatrix, _ preActivation: DenseMatrix) {
        for i in gradient.values.indices where preActivation.values[i] <= 0 { gradient.values[i] = 0 }
    }

    static func columnSums(_ a: DenseMatrix) -> DenseMatrix {
        var s = DenseMatrix(zeros: 1, a.columnCount)
        for i in a.values.indices { s.values[i % a.columnCount] += a.values[i] }
        return s
    }

    static func gather(_ a: DenseMatrix, _ rows: [Int]) -> DenseMatrix {
        let n = a.columnCount
        var g = DenseMatrix(zeros: rows.count, n)
        for (i, r) in rows.enumerated() {
            for j in 0..<n { g.values[i * n + j] = a.values[r * n + j] }
        }
        return g
    }

    static func scatter(_ a: DenseMatrix, rows: [Int], into rowCount: Int) -> DenseMatrix {
        let n = a.columnCount
        var s = DenseMatrix(zeros: rowCount, n)
        for (i, r) in rows.enumerated() {
            for j in 0..<n { s.values[r * n + j] += a.values[i * n + j] }
        }
        return s
    }
}
