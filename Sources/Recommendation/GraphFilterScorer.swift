import MessagePassing

/// A training-free graph filter on the normalised interaction matrix
/// R̃ = D_u^−½ R D_i^−½ (Shen et al., "How Powerful is Graph Convolution for
/// Recommendation?"): the user's row propagated through the linear item–item
/// filter R̃ᵀR̃, plus `idealWeight` × an ideal low-pass filter built from the
/// leading eigenvectors of R̃ᵀR̃. Both are message passing on the shared SpMM /
/// GEMM code: two sparse hops for the linear part, two GEMVs for the spectral one.
public struct GraphFilterScorer: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// Eigenvectors kept for the ideal low-pass filter.
        public var dimensions: Int
        public var idealWeight: Float
        public static let defaults = Parameters(dimensions: 256, idealWeight: 0.3)
        public init(dimensions: Int, idealWeight: Float) {
            self.dimensions = dimensions
            self.idealWeight = idealWeight
        }
    }

    public let parameters: Parameters
    /// users × items and items × users, normalised.
    let normalized: SparseMatrix
    let normalizedByItem: SparseMatrix
    /// items × dimensions: leading eigenvectors of R̃ᵀR̃.
    let basis: DenseMatrix
    /// d(i)^−½ and d(i)^½ per item.
    let itemInverseRoot: [Float]
    let itemRoot: [Float]

    public init(matrix: InteractionMatrix, parameters: Parameters = .defaults) throws(MatrixError) {
        self.parameters = parameters
        let userDegrees = matrix.byUser.rowSums(), itemDegrees = matrix.byItem.rowSums()
        let userInverseRoot = userDegrees.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        itemInverseRoot = itemDegrees.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        itemRoot = itemDegrees.map { $0.squareRoot() }
        normalized = matrix.byUser.scaled(rows: userInverseRoot, columns: itemInverseRoot)
        normalizedByItem = normalized.transposed()
        let dimensions = min(parameters.dimensions, max(0, matrix.itemCount - 1))
        if dimensions > 0 && parameters.idealWeight != 0 {
            let (normalized, byItem) = (normalized, normalizedByItem)
            basis = try SymmetricEigen.leading(count: dimensions, dimension: matrix.itemCount) { (block: DenseMatrix) throws(MatrixError) -> DenseMatrix in
                try byItem.multiply(try normalized.multiply(block))
            }.vectors
        } else {
            basis = DenseMatrix(zeros: matrix.itemCount, 0)
        }
    }

    /// Dense scores, one per item index of the model's matrix.
    public func scores(for interactions: [(item: Int, weight: Float)]) -> [Float] {
        // Linear filter: items → users → items along R̃.
        var scores = twoHops(interactions, first: normalizedByItem, second: normalized)
        guard basis.columnCount > 0 else { return scores }
        // Ideal low-pass: project D^−½ r onto the basis and back, then scale by D^½.
        var coefficients = [Float](repeating: 0, count: basis.columnCount)
        for (item, weight) in interactions {
            let scale = weight * itemInverseRoot[item]
            let row = item * basis.columnCount
            for d in 0..<basis.columnCount { coefficients[d] += scale * basis.values[row + d] }
        }
        guard let smooth = try? basis.multiplied(vector: coefficients) else { return scores }
        for i in scores.indices { scores[i] += parameters.idealWeight * smooth[i] * itemRoot[i] }
        return scores
    }
}
