import CBLAS

/// A dense row-major Float32 matrix; products go to OpenBLAS.
public struct DenseMatrix: Sendable, Equatable {
    public let rowCount: Int
    public let columnCount: Int
    /// Row-major: element (i, j) is `values[i * columnCount + j]`.
    public var values: [Float]

    public init(zeros rowCount: Int, _ columnCount: Int) {
        precondition(rowCount >= 0 && columnCount >= 0)
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.values = [Float](repeating: 0, count: rowCount * columnCount)
    }

    public init(rowCount: Int, columnCount: Int, values: [Float]) throws(MatrixError) {
        guard rowCount >= 0, columnCount >= 0, values.count == rowCount * columnCount else {
            throw MatrixError("\(values.count) values do not fill a \(rowCount)×\(columnCount) matrix")
        }
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.values = values
    }

    public subscript(row: Int, column: Int) -> Float {
        get { values[row * columnCount + column] }
        set { values[row * columnCount + column] = newValue }
    }

    public func row(_ row: Int) -> ArraySlice<Float> {
        values[(row * columnCount)..<((row + 1) * columnCount)]
    }

    /// op(self) · op(other) · alpha, with op = transpose when asked (SGEMM).
    public func multiplied(by other: DenseMatrix, transposeSelf: Bool = false, transposeOther: Bool = false,
                           alpha: Float = 1) throws(MatrixError) -> DenseMatrix {
        let m = transposeSelf ? columnCount : rowCount
        let k = transposeSelf ? rowCount : columnCount
        let otherK = transposeOther ? other.columnCount : other.rowCount
        let n = transposeOther ? other.rowCount : other.columnCount
        guard k == otherK else {
            throw MatrixError("GEMM shapes differ: \(m)×\(k) · \(otherK)×\(n)")
        }
        var result = DenseMatrix(zeros: m, n)
        guard m > 0, n > 0, k > 0 else { return result }
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                result.values.withUnsafeMutableBufferPointer { c in
                    cblas_sgemm(CblasRowMajor,
                                transposeSelf ? CblasTrans : CblasNoTrans,
                                transposeOther ? CblasTrans : CblasNoTrans,
                                blasint(m), blasint(n), blasint(k), alpha,
                                a.baseAddress, blasint(columnCount),
                                b.baseAddress, blasint(other.columnCount),
                                0, c.baseAddress, blasint(n))
                }
            }
        }
        return result
    }

    /// self · vector (SGEMV), or selfᵀ · vector when `transpose`.
    public func multiplied(vector: [Float], transpose: Bool = false) throws(MatrixError) -> [Float] {
        let inputCount = transpose ? rowCount : columnCount
        let outputCount = transpose ? columnCount : rowCount
        guard vector.count == inputCount else {
            throw MatrixError("GEMV shapes differ: \(rowCount)×\(columnCount)\(transpose ? "ᵀ" : "") · \(vector.count)")
        }
        var result = [Float](repeating: 0, count: outputCount)
        guard rowCount > 0, columnCount > 0 else { return result }
        values.withUnsafeBufferPointer { a in
            vector.withUnsafeBufferPointer { x in
                result.withUnsafeMutableBufferPointer { y in
                    cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans,
                                blasint(rowCount), blasint(columnCount), 1,
                                a.baseAddress, blasint(columnCount), x.baseAddress, 1, 0, y.baseAddress, 1)
                }
            }
        }
        return result
    }

    /// self[:, 0..<leadingColumns] · vector (SGEMV on the first columns only).
    public func multiplied(vector: [Float], leadingColumns: Int) throws(MatrixError) -> [Float] {
        guard leadingColumns >= 0, leadingColumns <= columnCount, vector.count == leadingColumns else {
            throw MatrixError("GEMV shapes differ: \(rowCount)×\(leadingColumns) of \(columnCount) columns · \(vector.count)")
        }
        var result = [Float](repeating: 0, count: rowCount)
        guard rowCount > 0, leadingColumns > 0 else { return result }
        values.withUnsafeBufferPointer { a in
            vector.withUnsafeBufferPointer { x in
                result.withUnsafeMutableBufferPointer { y in
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(rowCount), blasint(leadingColumns), 1,
                                a.baseAddress, blasint(columnCount), x.baseAddress, 1, 0, y.baseAddress, 1)
                }
            }
        }
        return result
    }

    /// self[row, 0..<vector.count] · vector for each of `rows` (one SDOT each): a
    /// GEMV restricted to some rows, split over `threads` when there are many.
    /// Rows named twice get their dot once, in their first position, and 0 after.
    public func rowDots(_ rows: [Int], with vector: [Float], threads: Int = ParallelWork.defaultThreads) throws(MatrixError) -> [Float] {
        guard vector.count <= columnCount else {
            throw MatrixError("row dots of \(vector.count) entries in a matrix of \(columnCount) columns")
        }
        if let outside = rows.first(where: { $0 < 0 || $0 >= rowCount }) {
            throw MatrixError("row \(outside) is outside 0..<\(rowCount)")
        }
        var seen = [Bool](repeating: false, count: rowCount)
        let firsts = rows.map { row in seen[row] ? false : { seen[row] = true; return true }() }
        var result = [Float](repeating: 0, count: rows.count)
        guard vector.count > 0 else { return result }
        let width = columnCount, length = blasint(vector.count)
        values.withUnsafeBufferPointer { a in
            vector.withUnsafeBufferPointer { x in
                result.withUnsafeMutableBufferPointer { out in
                    let (a, x, out) = (UnsafeSendableBuffer(a), UnsafeSendableBuffer(x), UnsafeMutableSendableBuffer(out))
                    // A thread pays off only for a few thousand rows.
                    ParallelWork.forEachBlock(count: rows.count, threads: rows.count >= 4096 ? threads : 1) { block in
                        guard let matrix = a.base.baseAddress else { return }
                        for position in block where firsts[position] {
                            out.base[position] = cblas_sdot(length, matrix + rows[position] * width, 1, x.base.baseAddress, 1)
                        }
                    }
                }
            }
        }
        return result
    }

    /// Scales row i by `scale[i]`.
    public mutating func scaleRows(_ scale: [Float]) {
        precondition(scale.count == rowCount)
        for i in 0..<rowCount where scale[i] != 1 {
            let start = i * columnCount
            for j in 0..<columnCount { values[start + j] *= scale[i] }
        }
    }

    /// Below this share of its own norm, what is left of a column after it is
    /// projected off the earlier ones counts as rounding noise: the column
    /// depends on them. Float32 keeps ~1e-7 relative; normalising a remainder
    /// near that size would turn the noise into a column that is not
    /// orthogonal to the others.
    public static let dependenceTolerance: Float = 1e-4

    /// Orthonormalises the columns in place, keeping their span: each column
    /// becomes a unit vector orthogonal to the ones before it, or zero when it
    /// depends on them (see `dependenceTolerance`). Returns the columns set to
    /// zero. Tall blocks that are well conditioned take Cholesky QR twice (two
    /// GEMMs, two small Cholesky factorisations and two triangular solves);
    /// others take classical Gram–Schmidt with reorthogonalisation, which
    /// decides dependence column by column.
    @discardableResult
    public mutating func orthonormalizeColumns() -> [Int] {
        // The first pass must see a condition number well below Float32's 1/√ε
        // (~3000) for the second to restore orthogonality; the second sees a
        // nearly orthonormal block. A pass that refuses leaves the block as it
        // was; after one pass the block has the same span, better conditioned.
        if columnCount > 1, rowCount >= columnCount, choleskyQR(minimumPivotRatio: 1e-2),
           choleskyQR(minimumPivotRatio: 0.5) { return [] }
        return gramSchmidt()
    }

    /// One Cholesky QR pass: Q = A · L⁻ᵀ with L Lᵀ = AᵀA. False (and A
    /// unchanged) unless every column keeps at least `minimumPivotRatio` of its
    /// norm outside the span of the columns before it (L's diagonal against the
    /// column norms), which bounds how ill-conditioned the block may be.
    private mutating func choleskyQR(minimumPivotRatio: Float) -> Bool {
        let n = columnCount
        guard let gram = try? multiplied(by: self, transposeSelf: true) else { return false }
        // Row-major AᵀA is symmetric, so LAPACK's column-major "U" factor is our "L" factor.
        var factor = gram.values
        var size = Int32(n), info: Int32 = 0
        spotrf_("U", &size, &factor, &size, &info, 1)
        guard info == 0 else { return false }
        // Column-major upper U with UᵀU = G is row-major lower L = Uᵀ with L Lᵀ = G.
        var lower = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0...i { lower[i * n + j] = factor[i * n + j] } }
        for i in 0..<n where !(lower[i * n + i] > minimumPivotRatio * gram[i, i].squareRoot()) { return false }
        values.withUnsafeMutableBufferPointer { a in
            cblas_strsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                        blasint(rowCount), blasint(n), 1, lower, blasint(n), a.baseAddress, blasint(n))
        }
        return values.allSatisfy(\.isFinite)
    }

    /// Classical Gram–Schmidt with reorthogonalisation, each projection one pair
    /// of GEMVs: at least two passes per column, a third when the second still
    /// removed over half of what was left (Kahan–Parlett: the remainder was then
    /// mostly rounding error). A column whose remainder falls below
    /// `dependenceTolerance` of its norm is set to zero; returns those columns.
    private mutating func gramSchmidt() -> [Int] {
        let rows = rowCount, columns = columnCount
        guard rows > 0 else { return [] }
        var coefficients = [Float](repeating: 0, count: columns)
        var dependent: [Int] = []
        values.withUnsafeMutableBufferPointer { q in
            guard let base = q.baseAddress else { return }
            for j in 0..<columns {
                let column = base + j
                let original = cblas_snrm2(blasint(rows), column, blasint(columns))
                var norm = original
                var passes = 0
                while j > 0, passes < 3, norm > Self.dependenceTolerance * original {
                    coefficients.withUnsafeMutableBufferPointer { c in
                        // c = Q[:, 0..<j]ᵀ · a_j ; a_j -= Q[:, 0..<j] · c
                        cblas_sgemv(CblasRowMajor, CblasTrans, blasint(rows), blasint(j), 1, base, blasint(columns),
                                    column, blasint(columns), 0, c.baseAddress, 1)
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(rows), blasint(j), -1, base, blasint(columns),
                                    c.baseAddress, 1, 1, column, blasint(columns))
                    }
                    let before = norm
                    norm = cblas_snrm2(blasint(rows), column, blasint(columns))
                    passes += 1
                    if passes >= 2, norm >= 0.5 * before { break }
                }
                let independent = norm.isFinite && norm > 0 && norm > Self.dependenceTolerance * original
                if !independent { dependent.append(j) }
                cblas_sscal(blasint(rows), independent ? 1 / norm : 0, column, blasint(columns))
            }
        }
        return dependent
    }
}
