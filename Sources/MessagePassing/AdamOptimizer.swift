import RealModule

/// Adam (Kingma & Ba) on a list of tensors: the optimiser of every model
/// graphd trains (router GNN, conversation reasoner).
public struct AdamOptimizer: Sendable {
    public var learningRate: Float
    public let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    private var m: [DenseMatrix], v: [DenseMatrix]
    public private(set) var step = 0

    /// Moments shaped like `tensors`, all zero.
    public init(like tensors: [DenseMatrix], learningRate: Float) {
        self.learningRate = learningRate
        m = tensors.map { DenseMatrix(zeros: $0.rowCount, $0.columnCount) }
        v = m
    }

    /// One step: `tensors` -= learning rate · m̂ / (√v̂ + ε).
    public mutating func update(_ tensors: inout [DenseMatrix], gradient: [DenseMatrix]) {
        precondition(tensors.count == m.count && gradient.count == m.count, "Adam: tensor lists differ from the ones it was made for")
        step += 1
        let c1 = 1 - Float.pow(beta1, Float(step)), c2 = 1 - Float.pow(beta2, Float(step))
        for t in tensors.indices {
            precondition(tensors[t].values.count == m[t].values.count && gradient[t].values.count == m[t].values.count, "Adam: tensor \(t) changed shape")
            for i in tensors[t].values.indices {
                let g = gradient[t].values[i]
                m[t].values[i] = beta1 * m[t].values[i] + (1 - beta1) * g
                v[t].values[i] = beta2 * v[t].values[i] + (1 - beta2) * g * g
                let mHat = m[t].values[i] / c1, vHat = v[t].values[i] / c2
                tensors[t].values[i] -= learningRate * mHat / (vHat.squareRoot() + epsilon)
            }
        }
    }
}
