import Foundation
import GraphCore
import MessagePassing

/// The G-CRS graph reasoner: one R-GCN layer over the knowledge graph
/// (entity and item nodes, one adjacency per `kg_` relation) on the shared
/// SpMM/GEMM module, scoring items for a dialogue from its context entities.
///
///     M_r = Â_r E                      (Â_r: relation r, row-normalised, both directions)
///     Z   = E W₀ + Σ_r M_r W_r
///     H   = E + relu(Z)                (residual)
///     u   = mean of H over the context nodes
///     s_i = u · H_i                    for every item i; softmax cross-entropy on the gold item
///
/// Gradients are derived by hand (checked against finite differences in the tests).
public struct ReasonerGraph: Sendable {
    /// Graph node ids of the reasoner's nodes (entities and items), in row order.
    public let nodes: [UInt32]
    let rowOfNode: [UInt32: Int32]
    /// Rows of the items, and each item row's position among them.
    public let itemRows: [Int32]
    let itemPosition: [Int32: Int]
    /// One N×N adjacency per relation, row-normalised, and its transpose (for backpropagation).
    let relations: [SparseMatrix]
    let transposedRelations: [SparseMatrix]
    public let relationNames: [String]

    /// Entity and item nodes of `snapshot`, with the `kg_` relations among them.
    public init(snapshot: GraphSnapshot, index: ConversationIndex) throws(RetrievalError) {
        var nodes: [UInt32] = [], rowOfNode: [UInt32: Int32] = [:], itemRows: [Int32] = []
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) {
            let type = snapshot.nodes.type(of: id)
            guard type == index.itemType || type == index.entityType else { continue }
            rowOfNode[id] = Int32(nodes.count)
            if type == index.itemType { itemRows.append(Int32(nodes.count)) }
            nodes.append(id)
        }
        let relationTypes = index.relationTypes.sorted()
        var triplets = [(rows: [Int32], columns: [Int32])](repeating: ([], []), count: relationTypes.count)
        let slot = Dictionary(uniqueKeysWithValues: relationTypes.enumerated().map { ($1, $0) })
        for (row, node) in nodes.enumerated() {
            snapshot.forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
                guard let r = slot[edge.record.type] else { return true }
                let other = nodeIsSource ? edge.record.target : edge.record.source
                if let column = rowOfNode[other] {
                    triplets[r].rows.append(Int32(row))
                    triplets[r].columns.append(column)
                }
                return true
            }
        }
        do {
            relations = try triplets.map { rows, columns in
                let raw = try SparseMatrix(rowCount: nodes.count, columnCount: nodes.count, rows: rows, columns: columns,
                                           values: [Float](repeating: 1, count: rows.count))
                return raw.scaled(rows: raw.rowSums().map { $0 > 0 ? 1 / $0 : 0 }, columns: nil)
            }
        } catch {
            throw RetrievalError(.failedPrecondition, "reasoner graph: \(error)")
        }
        transposedRelations = relations.map { $0.transposed() }
        self.nodes = nodes
        self.rowOfNode = rowOfNode
        self.itemRows = itemRows
        itemPosition = Dictionary(uniqueKeysWithValues: itemRows.enumerated().map { ($1, $0) })
        relationNames = relationTypes.map { snapshot.schema.edgeType($0).name }
    }

    public var nodeCount: Int { nodes.count }

    /// The row of a graph node, if it is one of the reasoner's.
    public func row(of node: UInt32) -> Int32? { rowOfNode[node] }

    /// A training example: context rows → the position of the gold item.
    public struct Sample: Sendable {
        public var context: [Int32]
        public var target: Int
    }

    /// Examples from the graph's conversations: for every item a conversation
    /// recommended, the other entities and items it mentions → that item.
    /// (The graph keeps no turn order, so later mentions count as context too.)
    public func samples(snapshot: GraphSnapshot, index: ConversationIndex) -> [Sample] {
        guard let conversationType = index.conversationType, let recommendedType = index.recommendedType,
              let mentionsType = index.mentionsType else { return [] }
        var samples: [Sample] = []
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) && snapshot.nodes.type(of: id) == conversationType {
            var recommended: [Int32] = [], mentioned: [Int32] = []
            snapshot.forEachEdge(of: id, direction: .both) { edge, nodeIsSource in
                let other = nodeIsSource ? edge.record.target : edge.record.source
                guard let row = rowOfNode[other] else { return true }
                if edge.record.type == recommendedType { recommended.append(row) }
                if edge.record.type == mentionsType { mentioned.append(row) }
                return true
            }
            for item in Set(recommended).sorted() {
                guard let target = itemPosition[item] else { continue }
                let context = Set(mentioned).subtracting([item]).sorted()
                if !context.isEmpty { samples.append(Sample(context: context, target: target)) }
            }
        }
        return samples
    }
}

/// The reasoner's weights: E (N×d), then W₀ and one W_r per relation (d×d).
public struct ReasonerParameters: Sendable, Equatable {
    public var tensors: [DenseMatrix]

    public init(nodeCount: Int, relationCount: Int, dimension d: Int, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var embedding = DenseMatrix(zeros: nodeCount, d)
        for i in embedding.values.indices { embedding.values[i] = rng.signedUnit() * 0.1 }
        let limit = (6 / Float(2 * d)).squareRoot() * 0.5
        tensors = [embedding] + (0...relationCount).map { _ in
            var w = DenseMatrix(zeros: d, d)
            for i in w.values.indices { w.values[i] = rng.signedUnit() * limit }
            return w
        }
    }

    public init(tensors: [DenseMatrix]) { self.tensors = tensors }

    public var dimension: Int { tensors[0].columnCount }
}

public enum GraphReasoner {
    /// Node states H (N×d) and what backpropagation needs.
    struct Forward {
        var messages: [DenseMatrix]  // M_r
        var preActivation: DenseMatrix  // Z
        var states: DenseMatrix  // H
    }

    static func forward(_ p: ReasonerParameters, graph: ReasonerGraph) throws(MatrixError) -> Forward {
        let e = p.tensors[0]
        var z = try e.multiplied(by: p.tensors[1])
        var messages: [DenseMatrix] = []
        for (r, adjacency) in graph.relations.enumerated() {
            let m = try adjacency.multiply(e)
            let contribution = try m.multiplied(by: p.tensors[2 + r])
            for i in z.values.indices { z.values[i] += contribution.values[i] }
            messages.append(m)
        }
        var h = e
        for i in h.values.indices where z.values[i] > 0 { h.values[i] += z.values[i] }
        return Forward(messages: messages, preActivation: z, states: h)
    }

    /// Node states for serving.
    public static func states(_ p: ReasonerParameters, graph: ReasonerGraph) throws(MatrixError) -> DenseMatrix {
        try forward(p, graph: graph).states
    }

    /// Mean cross-entropy over `samples` plus `weightDecay`/2 · ‖W‖² and
    /// `embeddingDecay`/2 · ‖E‖², and its gradient.
    public static func lossAndGradient(_ p: ReasonerParameters, graph: ReasonerGraph, samples: [ReasonerGraph.Sample],
                                       weightDecay: Float, embeddingDecay: Float = 0) throws(MatrixError) -> (loss: Float, gradient: ReasonerParameters) {
        let (loss, gradient) = try evaluate(p, graph: graph, samples: samples, weightDecay: weightDecay, embeddingDecay: embeddingDecay, wantGradient: true)
        return (loss, gradient ?? ReasonerParameters(tensors: []))
    }

    /// The loss alone (no backward pass), as for held-out examples.
    public static func loss(_ p: ReasonerParameters, graph: ReasonerGraph, samples: [ReasonerGraph.Sample]) throws(MatrixError) -> Float {
        try evaluate(p, graph: graph, samples: samples, weightDecay: 0, embeddingDecay: 0, wantGradient: false).loss
    }

    private static func evaluate(_ p: ReasonerParameters, graph: ReasonerGraph, samples: [ReasonerGraph.Sample],
                                 weightDecay: Float, embeddingDecay: Float, wantGradient: Bool) throws(MatrixError) -> (loss: Float, gradient: ReasonerParameters?) {
        let d = p.dimension, b = samples.count, itemCount = graph.itemRows.count
        let f = try forward(p, graph: graph)
        let h = f.states
        // U: B×d context means; S = U Hᵢᵀ.
        var u = DenseMatrix(zeros: b, d)
        for (s, sample) in samples.enumerated() {
            let scale = 1 / Float(sample.context.count)
            for row in sample.context {
                for k in 0..<d { u.values[s * d + k] += scale * h.values[Int(row) * d + k] }
            }
        }
        var items = DenseMatrix(zeros: itemCount, d)
        for (i, row) in graph.itemRows.enumerated() {
            for k in 0..<d { items.values[i * d + k] = h.values[Int(row) * d + k] }
        }
        var scores = try u.multiplied(by: items, transposeOther: true)  // B×I, becomes dS
        var loss: Float = 0
        for s in 0..<b {
            let base = s * itemCount
            var top = -Float.infinity
            for i in 0..<itemCount { top = max(top, scores.values[base + i]) }
            var total: Float = 0
            for i in 0..<itemCount {
                let e = Foundation.exp(scores.values[base + i] - top)
                scores.values[base + i] = e
                total += e
            }
            let target = samples[s].target
            loss -= Foundation.log(max(scores.values[base + target] / total, 1e-30))
            for i in 0..<itemCount { scores.values[base + i] /= total * Float(b) }
            scores.values[base + target] -= 1 / Float(b)
        }
        loss /= Float(b)
        for w in p.tensors.dropFirst() { for value in w.values { loss += weightDecay / 2 * value * value } }
        for value in p.tensors[0].values { loss += embeddingDecay / 2 * value * value }
        guard wantGradient else { return (loss, nil) }

        // Back through the scores.
        let du = try scores.multiplied(by: items)  // B×d
        let dItems = try scores.multiplied(by: u, transposeSelf: true)  // I×d
        var dh = DenseMatrix(zeros: graph.nodeCount, d)
        for (i, row) in graph.itemRows.enumerated() {
            for k in 0..<d { dh.values[Int(row) * d + k] += dItems.values[i * d + k] }
        }
        for (s, sample) in samples.enumerated() {
            let scale = 1 / Float(sample.context.count)
            for row in sample.context {
                for k in 0..<d { dh.values[Int(row) * d + k] += scale * du.values[s * d + k] }
            }
        }
        // H = E + relu(Z).
        var de = dh
        var dz = dh
        for i in dz.values.indices where f.preActivation.values[i] <= 0 { dz.values[i] = 0 }
        let e = p.tensors[0]
        var gradient = [DenseMatrix]()
        gradient.append(DenseMatrix(zeros: 0, 0))  // E, filled below
        var dw0 = try e.multiplied(by: dz, transposeSelf: true)
        let fromSelf = try dz.multiplied(by: p.tensors[1], transposeOther: true)
        for i in de.values.indices { de.values[i] += fromSelf.values[i] }
        for i in dw0.values.indices { dw0.values[i] += weightDecay * p.tensors[1].values[i] }
        gradient.append(dw0)
        for r in graph.relations.indices {
            let w = p.tensors[2 + r]
            var dw = try f.messages[r].multiplied(by: dz, transposeSelf: true)
            for i in dw.values.indices { dw.values[i] += weightDecay * w.values[i] }
            gradient.append(dw)
            let dm = try dz.multiplied(by: w, transposeOther: true)
            let back = try graph.transposedRelations[r].multiply(dm)
            for i in de.values.indices { de.values[i] += back.values[i] }
        }
        if embeddingDecay != 0 { for i in de.values.indices { de.values[i] += embeddingDecay * e.values[i] } }
        gradient[0] = de
        return (loss, ReasonerParameters(tensors: gradient))
    }

    /// Item scores (one per item row) for a context.
    public static func itemScores(states: DenseMatrix, graph: ReasonerGraph, context: [Int32]) -> [Float] {
        let d = states.columnCount
        guard !context.isEmpty else { return [Float](repeating: 0, count: graph.itemRows.count) }
        var u = [Float](repeating: 0, count: d)
        for row in context { for k in 0..<d { u[k] += states.values[Int(row) * d + k] / Float(context.count) } }
        return graph.itemRows.map { row in
            var score: Float = 0
            for k in 0..<d { score += u[k] * states.values[Int(row) * d + k] }
            return score
        }
    }
}

/// Defaults chosen on INSPIRED's valid split (README).
public struct ReasonerTrainingConfig: Sendable, Equatable {
    public var dimension = 32
    public var learningRate: Float = 0.003
    public var weightDecay: Float = 1e-4
    /// L2 on the node embeddings, which outnumber the examples by far.
    public var embeddingDecay: Float = 0.01
    public var maxEpochs = 200
    public var patience = 20
    public var validationShare = 0.1
    public var seed: UInt64 = 1
    public init() {}
}

public struct ReasonerTrainingResult: Sendable {
    public var parameters: ReasonerParameters
    public var epochs: Int
    public var bestEpoch: Int
    public var trainingSamples: Int
    public var validationSamples: Int
    public var initialValidationLoss: Float
    public var validationLoss: Float
    /// Share of validation samples whose gold item ranks in the top 10.
    public var validationHitsAt10: Double
}

public enum ReasonerTrainer {
    /// Full-batch Adam on the graph's samples with a held-out share for early
    /// stopping; `isCancelled` is asked once per epoch.
    public static func train(graph: ReasonerGraph, samples: [ReasonerGraph.Sample], config: ReasonerTrainingConfig = ReasonerTrainingConfig(),
                             isCancelled: () -> Bool = { false },
                             progress: (_ epoch: Int, _ trainingLoss: Float, _ validationLoss: Float) -> Void = { _, _, _ in }) throws(RetrievalError) -> ReasonerTrainingResult {
        guard samples.count >= 2 else { throw RetrievalError(.failedPrecondition, "\(samples.count) training examples: the graph needs conversations with recommended items") }
        guard !graph.relations.isEmpty, !graph.itemRows.isEmpty else { throw RetrievalError(.failedPrecondition, "the graph has no KG relations or no items") }
        var rng = SplitMix(seed: config.seed)
        var shuffled = samples
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let validationCount = max(1, Int(Double(shuffled.count) * config.validationShare))
        let validation = Array(shuffled.prefix(validationCount)), training = Array(shuffled.dropFirst(validationCount))
        var parameters = ReasonerParameters(nodeCount: graph.nodeCount, relationCount: graph.relations.count, dimension: config.dimension, seed: config.seed)
        do {
            let initialLoss = try GraphReasoner.loss(parameters, graph: graph, samples: validation)
            var best = parameters, bestLoss = initialLoss, bestEpoch = 0, epoch = 0
            var adam = AdamOptimizer(like: parameters.tensors, learningRate: config.learningRate)
            while epoch < config.maxEpochs, epoch - bestEpoch < config.patience {
                if isCancelled() { throw RetrievalError(.cancelled, "reasoner training stopped after \(epoch) epochs: cancelled or out of time") }
                epoch += 1
                let (loss, gradient) = try GraphReasoner.lossAndGradient(parameters, graph: graph, samples: training, weightDecay: config.weightDecay,
                                                                         embeddingDecay: config.embeddingDecay)
                adam.update(&parameters.tensors, gradient: gradient.tensors)
                let validationLoss = try GraphReasoner.loss(parameters, graph: graph, samples: validation)
                progress(epoch, loss, validationLoss)
                if validationLoss < bestLoss { best = parameters; bestLoss = validationLoss; bestEpoch = epoch }
            }
            let states = try GraphReasoner.states(best, graph: graph)
            var hits = 0
            for sample in validation {
                let scores = GraphReasoner.itemScores(states: states, graph: graph, context: sample.context)
                let better = scores.filter { $0 > scores[sample.target] }.count
                if better < 10 { hits += 1 }
            }
            return ReasonerTrainingResult(parameters: best, epochs: epoch, bestEpoch: bestEpoch, trainingSamples: training.count,
                                          validationSamples: validation.count, initialValidationLoss: initialLoss, validationLoss: bestLoss,
                                          validationHitsAt10: Double(hits) / Double(validation.count))
        } catch let error as RetrievalError {
            throw error
        } catch {
            throw RetrievalError(.failedPrecondition, "reasoner training: \(error)")
        }
    }
}

/// A trained reasoner ready to serve: node states computed once.
public struct ReasonerModel: Sendable {
    public let graph: ReasonerGraph
    public let states: DenseMatrix
    /// Items the reasoner adds as PPR seeds, and their weight relative to a context seed.
    public var seedCount: Int
    public var seedWeight: Double

    /// Seeds the reasoner adds by default, and their weight (chosen on INSPIRED's valid split).
    public static let defaultSeedCount = 5
    public static let defaultSeedWeight = 0.3

    public init(graph: ReasonerGraph, parameters: ReasonerParameters, seedCount: Int = defaultSeedCount,
                seedWeight: Double = defaultSeedWeight) throws(RetrievalError) {
        guard parameters.tensors.count == graph.relations.count + 2, parameters.tensors[0].rowCount == graph.nodeCount else {
            throw RetrievalError(.failedPrecondition, "the reasoner's weights do not fit this graph (\(parameters.tensors[0].rowCount) nodes, \(parameters.tensors.count - 2) relations; the graph has \(graph.nodeCount) and \(graph.relations.count)): retrain it")
        }
        self.graph = graph
        do { states = try GraphReasoner.states(parameters, graph: graph) } catch {
            throw RetrievalError(.failedPrecondition, "reasoner: \(error)")
        }
        self.seedCount = seedCount
        self.seedWeight = seedWeight
    }

    /// The top `seedCount` items for context nodes (graph node ids), weighted by
    /// their softmax probability relative to the best one.
    public func topItems(context: [UInt32]) -> [(node: UInt32, weight: Double)] {
        let rows = context.compactMap(graph.row(of:))
        guard !rows.isEmpty, seedCount > 0 else { return [] }
        let scores = GraphReasoner.itemScores(states: states, graph: graph, context: rows)
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(seedCount)
        guard let best = order.first else { return [] }
        return order.map { i in
            (graph.nodes[Int(graph.itemRows[i])], seedWeight * Double(Foundation.exp(scores[i] - scores[best])))
        }
    }
}

/// A trained reasoner as graphd stores it (document `conversation/reasoner`):
/// the weights with the node keys and relation names they belong to, so they
/// can be laid onto a graph that has grown since (new nodes start at zero).
public struct StoredReasoner: Sendable, Equatable {
    public static let documentName = "conversation/reasoner"
    static let magic: [UInt8] = Array("GCRS".utf8)

    public struct Header: Codable, Sendable, Equatable {
        public var format = 1
        public var dimension: Int
        /// "type/key" of every embedding row.
        public var nodeKeys: [String]
        public var relationNames: [String]
        public var epochs: Int
        public var bestEpoch: Int
        public var validationLoss: Float
        public var validationHitsAt10: Double
        public var trainedAtMs: Int64
    }

    public var header: Header
    public var parameters: ReasonerParameters

    public init(graph: ReasonerGraph, snapshot: GraphSnapshot, result: ReasonerTrainingResult, trainedAtMs: Int64) {
        header = Header(dimension: result.parameters.dimension,
                        nodeKeys: graph.nodes.map { Self.key(of: $0, in: snapshot) }, relationNames: graph.relationNames,
                        epochs: result.epochs, bestEpoch: result.bestEpoch, validationLoss: result.validationLoss,
                        validationHitsAt10: result.validationHitsAt10, trainedAtMs: trainedAtMs)
        parameters = result.parameters
    }

    static func key(of node: UInt32, in snapshot: GraphSnapshot) -> String {
        snapshot.schema.nodeType(snapshot.nodes.type(of: node)).name + "/" + snapshot.nodes.key(of: node)
    }

    public func serialized() throws -> [UInt8] {
        try TensorArchive.encode(magic: Self.magic, header: header, tensors: parameters.tensors)
    }

    public init(serialized bytes: [UInt8]) throws(RetrievalError) {
        do {
            let (header, tensors) = try TensorArchive.decode(bytes, magic: Self.magic) { (header: Header) in
                guard header.format == 1, (1...4096).contains(header.dimension), !header.nodeKeys.isEmpty else { return nil }
                return [(header.nodeKeys.count, header.dimension)] + (0...header.relationNames.count).map { _ in (header.dimension, header.dimension) }
            }
            self.header = header
            parameters = ReasonerParameters(tensors: tensors)
        } catch {
            throw RetrievalError(.failedPrecondition, "the stored reasoner is unreadable (\(error.description)): retrain it")
        }
    }

    /// The weights laid onto `graph`: embedding rows matched by node key,
    /// relation weights by relation name; what the stored model lacks is zero.
    public func parameters(for graph: ReasonerGraph, snapshot: GraphSnapshot) -> ReasonerParameters {
        let d = header.dimension
        let storedRow = Dictionary(header.nodeKeys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var embedding = DenseMatrix(zeros: graph.nodeCount, d)
        for (row, node) in graph.nodes.enumerated() {
            guard let stored = storedRow[Self.key(of: node, in: snapshot)] else { continue }
            for k in 0..<d { embedding.values[row * d + k] = parameters.tensors[0].values[stored * d + k] }
        }
        let storedRelation = Dictionary(header.relationNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let relations = graph.relationNames.map { name in
            storedRelation[name].map { parameters.tensors[2 + $0] } ?? DenseMatrix(zeros: d, d)
        }
        return ReasonerParameters(tensors: [embedding, parameters.tensors[1]] + relations)
    }
}
