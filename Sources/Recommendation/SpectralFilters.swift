import MessagePassing

/// The normalised item–item operator P = R̃ᵀR̃ of one interaction matrix
/// (R̃ = D_u^−½ R D_i^−½, eigenvalues in [0, 1]) and its leading eigenpairs:
/// what every spectral filter scorer is built from. Built once per model;
/// the filters are cheap views of it.
public struct ItemSpectrum: Sendable {
    /// users × items and items × users, normalised.
    let normalized: SparseMatrix
    let normalizedByItem: SparseMatrix
    /// items × dimensions: leading eigenvectors of P, largest eigenvalue first.
    public let basis: DenseMatrix
    /// Their eigenvalues, descending.
    public let eigenvalues: [Float]
    /// Interactions per item (summed weights).
    let itemDegrees: [Float]

    public var dimensions: Int { basis.columnCount }

    /// Catalogues up to this many items are decomposed exactly (dense P);
    /// larger ones by the randomized method on sparse products.
    public static let denseLimit = 1024

    /// Finds the `dimensions` leading eigenpairs (all of them on a catalogue
    /// that has fewer items).
    public init(matrix: InteractionMatrix, dimensions: Int) throws(MatrixError) {
        let userDegrees = matrix.byUser.rowSums()
        itemDegrees = matrix.byItem.rowSums()
        normalized = matrix.byUser.scaled(rows: Self.powers(userDegrees, -0.5), columns: Self.powers(itemDegrees, -0.5))
        normalizedByItem = normalized.transposed()
        let n = matrix.itemCount, count = min(max(0, dimensions), n)
        if count > 0 && n <= Self.denseLimit {
            var identity = DenseMatrix(zeros: n, n)
            for i in 0..<n { identity[i, i] = 1 }
            let (values, vectors) = try SymmetricEigen.decompose(try normalizedByItem.multiply(try normalized.multiply(identity)))
            // Ascending from LAPACK: the last `count`, largest first.
            var picked = DenseMatrix(zeros: n, count)
            for c in 0..<count {
                for r in 0..<n { picked[r, c] = vectors[r, n - 1 - c] }
            }
            basis = picked
            eigenvalues = (0..<count).map { max(0, values[n - 1 - $0]) }
        } else if count > 0 {
            let (forward, backward) = (normalized, normalizedByItem)
            let leading = try SymmetricEigen.leading(count: min(count, n - 1), dimension: n) { (block: DenseMatrix) throws(MatrixError) -> DenseMatrix in
                try backward.multiply(try forward.multiply(block))
            }
            basis = leading.vectors
            eigenvalues = leading.values
        } else {
            basis = DenseMatrix(zeros: matrix.itemCount, 0)
            eigenvalues = []
        }
    }

    /// d^exponent per item, 0 for an item without interactions.
    static func powers(_ degrees: [Float], _ exponent: Float) -> [Float] {
        degrees.map { $0 > 0 ? (exponent == -0.5 ? 1 / $0.squareRoot() : Float.pow($0, exponent)) : 0 }
    }
}

/// A filter on `ItemSpectrum`, applied to a user's interaction row r:
///
///     scores = D^βₗ · c·P · D^−βₗ r  +  D^βₛ · V diag(g) Vᵀ · D^−βₛ r
///
/// (D: item degrees, V: the leading eigenvectors). The first term is two sparse
/// hops through the users who share the user's items; the second, two GEMVs on
/// the eigenvectors. Every scorer below is such a filter with its own c, g, β.
struct SpectralFilter: Sendable {
    let spectrum: ItemSpectrum
    /// c, and D^−βₗ / D^βₗ (nil when βₗ = 0).
    let linearWeight: Float
    let linearPre: [Float]?
    let linearPost: [Float]?
    /// g: one gain per leading eigenvector used (a prefix of the basis).
    let gains: [Float]
    let spectralPre: [Float]
    let spectralPost: [Float]
    /// Score only the items the linear term reaches (those sharing a user with
    /// one of the user's items); the rest score 0. The spectral term then costs
    /// a dot product per reached item instead of a GEMV over the catalogue.
    let reachedOnly: Bool

    init(spectrum: ItemSpectrum, linearWeight: Float, linearExponent: Float, gains: [Float], spectralExponent: Float,
         reachedOnly: Bool = false) {
        self.spectrum = spectrum
        self.reachedOnly = reachedOnly && linearWeight != 0
        self.linearWeight = linearWeight
        linearPre = linearExponent == 0 ? nil : ItemSpectrum.powers(spectrum.itemDegrees, -linearExponent)
        linearPost = linearExponent == 0 ? nil : ItemSpectrum.powers(spectrum.itemDegrees, linearExponent)
        self.gains = Array(gains.prefix(spectrum.dimensions))
        spectralPre = ItemSpectrum.powers(spectrum.itemDegrees, -spectralExponent)
        spectralPost = ItemSpectrum.powers(spectrum.itemDegrees, spectralExponent)
    }

    /// Dense scores, one per item index of the spectrum's matrix.
    func scores(for interactions: [(item: Int, weight: Float)]) -> [Float] {
        var scores: [Float]
        var reached: [Int] = []
        if linearWeight != 0 {
            let input = linearPre.map { pre in interactions.map { ($0.item, $0.weight * pre[$0.item]) } } ?? interactions
            scores = reachedOnly
                ? twoHops(input, first: spectrum.normalizedByItem, second: spectrum.normalized, reachedItems: &reached)
                : twoHops(input, first: spectrum.normalizedByItem, second: spectrum.normalized)
            if let post = linearPost {
                for i in scores.indices { scores[i] *= linearWeight * post[i] }
            } else if linearWeight != 1 {
                for i in scores.indices { scores[i] *= linearWeight }
            }
        } else {
            scores = [Float](repeating: 0, count: spectrum.basis.rowCount)
        }
        let used = gains.count, width = spectrum.basis.columnCount
        guard used > 0 else { return scores }
        // Project D^−βₛ r onto the leading eigenvectors (only the user's items), weight by g …
        var coefficients = [Float](repeating: 0, count: used)
        let basis = spectrum.basis.values
        for (item, weight) in interactions {
            let scale = weight * spectralPre[item], row = item * width
            for d in 0..<used { coefficients[d] += scale * basis[row + d] }
        }
        for d in 0..<used { coefficients[d] *= gains[d] }
        if reachedOnly {
            // … and back to each reached item (a row of the basis each), then D^βₛ.
            guard let dots = try? spectrum.basis.rowDots(reached, with: coefficients) else { return scores }
            for (item, dot) in zip(reached, dots) { scores[item] += dot * spectralPost[item] }
            return scores
        }
        // … and back to every item, then D^βₛ.
        guard let smooth = try? spectrum.basis.multiplied(vector: coefficients, leadingColumns: used) else { return scores }
        for i in scores.indices { scores[i] += smooth[i] * spectralPost[i] }
        return scores
    }
}

/// GF-CF (Shen et al., "How Powerful is Graph Convolution for Recommendation?"):
/// the linear filter P on the raw row, plus `idealWeight` × an ideal low-pass
/// filter on the leading `dimensions` eigenvectors, between D^−½ and D^½.
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
    let filter: SpectralFilter

    public init(spectrum: ItemSpectrum, parameters: Parameters = .defaults) {
        self.parameters = parameters
        let used = parameters.idealWeight == 0 ? 0 : min(parameters.dimensions, spectrum.dimensions)
        filter = SpectralFilter(spectrum: spectrum, linearWeight: 1, linearExponent: 0,
                                gains: [Float](repeating: parameters.idealWeight, count: used), spectralExponent: 0.5)
    }

    /// Dense scores, one per item index of the model's matrix.
    public func scores(for interactions: [(item: Int, weight: Float)]) -> [Float] { filter.scores(for: interactions) }
}

/// A polynomial graph filter in the family of ChebyCF (Kim et al., SIGIR 2025):
/// the response p(λ) on P's spectrum is the degree-`order` Chebyshev
/// interpolant of a smooth plateau (1 at λ = 1, ½ at λ = ½, 0 at λ = 0; its
/// `flatness` sets how sharply it falls), plus `idealWeight` on the leading
/// `idealDimensions` eigenvectors, all between D^−β and D^β.
///
/// ChebyCF applies p(P) by `order` rounds of propagation per user. Here p acts
/// exactly on the leading eigenvectors, and on the rest of the spectrum
/// (λ below the last kept eigenvalue, where p is nearly a straight line through
/// 0) as its least-squares slope c times P: two sparse hops and two GEMVs per
/// user instead of `order` full propagations, whatever the order.
public struct PolynomialFilterScorer: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// Degree of the Chebyshev interpolant (ChebyCF's K).
        public var order: Int
        /// Exponent of the plateau's fall (ChebyCF's φ): higher is flatter near λ = 0 and 1.
        public var flatness: Float
        /// Leading eigenvectors on which p acts exactly.
        public var dimensions: Int
        /// Weight of the ideal low-pass term (ChebyCF's α) and its eigenvectors (η).
        public var idealWeight: Float
        public var idealDimensions: Int
        /// β: the input is scaled by item degree^−β, the output by degree^β.
        public var degreeExponent: Float
        /// Score only items that share a user with one of the user's items
        /// (the rest score 0): a dot product per such item instead of a GEMV
        /// over the whole catalogue.
        public var reachedItemsOnly: Bool

        /// ChebyCF's Gowalla settings. On three validation splits carved out of
        /// Gowalla's training file no variant won on every split
        /// (Benchmarks/spectral-filter-lab.py; the README's benchmark section).
        public static let defaults = Parameters(order: 8, flatness: 1.5, dimensions: 512, idealWeight: 0.2,
                                                idealDimensions: 512, degreeExponent: 0.4, reachedItemsOnly: true)

        public init(order: Int, flatness: Float, dimensions: Int, idealWeight: Float, idealDimensions: Int, degreeExponent: Float,
                    reachedItemsOnly: Bool = true) {
            self.reachedItemsOnly = reachedItemsOnly
            self.order = order
            self.flatness = flatness
            self.dimensions = dimensions
            self.idealWeight = idealWeight
            self.idealDimensions = idealDimensions
            self.degreeExponent = degreeExponent
        }
    }

    public let parameters: Parameters
    /// c: the slope that stands in for p below the kept eigenvalues.
    public let tailSlope: Float
    /// p's Chebyshev coefficients in x = 1 − 2λ.
    let coefficients: [Float]
    let filter: SpectralFilter

    public init(spectrum: ItemSpectrum, parameters: Parameters = .defaults) {
        self.parameters = parameters
        let coefficients = Self.chebyshevCoefficients(order: max(1, parameters.order), flatness: parameters.flatness)
        self.coefficients = coefficients
        let response = { (lambda: Float) in Self.evaluate(coefficients, at: 1 - 2 * lambda) }
        let used = min(parameters.dimensions, spectrum.dimensions)
        let eigenvalues = spectrum.eigenvalues.prefix(used)
        // Least squares c·λ ≈ p(λ) on [0, last kept eigenvalue] (all of [0, 1] when none is kept).
        let tailTop = eigenvalues.last ?? 1
        var moment: Float = 0, cross: Float = 0
        for step in 1...200 {
            let lambda = tailTop * Float(step) / 200
            moment += lambda * lambda
            cross += lambda * response(lambda)
        }
        let slope = moment > 0 ? cross / moment : 1
        let gains = eigenvalues.enumerated().map { index, lambda in
            response(lambda) - slope * lambda + (index < parameters.idealDimensions ? parameters.idealWeight : 0)
        }
        tailSlope = slope
        filter = SpectralFilter(spectrum: spectrum, linearWeight: slope, linearExponent: parameters.degreeExponent,
                                gains: gains, spectralExponent: parameters.degreeExponent,
                                reachedOnly: parameters.reachedItemsOnly)
    }

    /// Dense scores, one per item index of the model's matrix.
    public func scores(for interactions: [(item: Int, weight: Float)]) -> [Float] { filter.scores(for: interactions) }

    /// p(λ) for one eigenvalue of P: what the filter does to that frequency.
    public func response(at lambda: Float) -> Float { Self.evaluate(coefficients, at: 1 - 2 * lambda) }

    /// The plateau's values at the `order + 1` Chebyshev extrema cos(kπ/order),
    /// paired (as ChebyCF pairs them) with the first-kind nodes of degree
    /// `order + 1`, and the interpolating series' coefficients in x = 1 − 2λ.
    static func chebyshevCoefficients(order: Int, flatness: Float) -> [Float] {
        let count = order + 1
        let target: [Double] = (0...order).map { k in
            let x = (Double.cos(Double(order - k) / Double(order) * .pi) * 1000).rounded() / 1000
            let fall = Double.pow(abs(x), Double(flatness)) * 0.5
            return ((x < 0 ? 0.5 + fall : 0.5 - fall) * 1000).rounded() / 1000
        }
        let nodes: [Double] = (1...count).map { j in Double.cos((Double(count) + 0.5 - Double(j)) / Double(count) * .pi) }
        var coefficients = [Double](repeating: 0, count: count)
        for (j, x) in nodes.enumerated() {
            var (previous, current) = (1.0, x)
            coefficients[0] += target[j]
            if count > 1 { coefficients[1] += x * target[j] }
            for k in stride(from: 2, to: count, by: 1) {
                (previous, current) = (current, 2 * x * current - previous)
                coefficients[k] += current * target[j]
            }
        }
        return coefficients.enumerated().map { k, sum in Float(sum * 2 / Double(count) / (k == 0 ? 2 : 1)) }
    }

    /// Σ aₖ Tₖ(x) by Clenshaw's recurrence.
    static func evaluate(_ coefficients: [Float], at x: Float) -> Float {
        var (b1, b2): (Float, Float) = (0, 0)
        for a in coefficients.dropFirst().reversed() { (b1, b2) = (2 * x * b1 - b2 + a, b1) }
        return x * b1 - b2 + (coefficients.first ?? 0)
    }
}
