import CBLAS

/// Eigen-decomposition of small symmetric matrices (LAPACK ssyevd from OpenBLAS)
/// and the randomized method that finds the leading eigenvectors of large
/// implicit ones (Halko, Martinsson and Tropp), with products done by SpMM and GEMM.
public enum SymmetricEigen {
    /// Eigenvalues (ascending) and eigenvectors (as columns of a row-major
    /// n×n matrix) of the symmetric `matrix`.
    public static func decompose(_ matrix: DenseMatrix) throws(MatrixError) -> (values: [Float], vectors: DenseMatrix) {
        guard matrix.rowCount == matrix.columnCount else {
            throw MatrixError("eigen-decomposition needs a square matrix, not \(matrix.rowCount)×\(matrix.columnCount)")
        }
        let n = matrix.rowCount
        guard n > 0 else { return ([], matrix) }
        guard matrix.values.allSatisfy(\.isFinite) else { throw MatrixError("matrix has non-finite entries") }
        // Row-major symmetric = column-major symmetric: LAPACK can take it as is,
        // and its column eigenvectors come back as rows; transpose at the end.
        var a = matrix.values
        var values = [Float](repeating: 0, count: n)
        var size = Int32(n), info: Int32 = 0
        var workSize: Float = 0, iworkSize: Int32 = 0, query: Int32 = -1
        ssyevd_("V", "U", &size, &a, &size, &values, &workSize, &query, &iworkSize, &query, &info, 1, 1)
        guard info == 0 else { throw MatrixError("ssyevd workspace query failed (info \(info))") }
        var lwork = Int32(workSize), liwork = iworkSize
        var work = [Float](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        ssyevd_("V", "U", &size, &a, &size, &values, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else { throw MatrixError("ssyevd did not converge (info \(info))") }
        var vectors = DenseMatrix(zeros: n, n)
        for column in 0..<n {
            for row in 0..<n { vectors[row, column] = a[column * n + row] }
        }
        return (values, vectors)
    }

    /// The `count` leading eigenpairs (largest first) of the symmetric positive
    /// semi-definite n×n operator `apply` (which multiplies an n×l block).
    /// `oversampling` extra columns and `powerIterations` passes sharpen the
    /// subspace; `seed` makes the start reproducible.
    public static func leading(
        count: Int, dimension n: Int, oversampling: Int = 64, powerIterations: Int = 3, seed: UInt64 = 1,
        apply: (DenseMatrix) throws(MatrixError) -> DenseMatrix
    ) throws(MatrixError) -> (values: [Float], vectors: DenseMatrix) {
        guard count > 0, count <= n else { throw MatrixError("asked for \(count) eigenpairs of a \(n)×\(n) operator") }
        let width = min(n, count + max(0, oversampling))
        var random = seed == 0 ? 0x9E37_79B9 : seed
        func fill(_ block: inout DenseMatrix, columns: [Int]) {
            for row in 0..<n {
                for column in columns {
                    // xorshift64*: a Gaussian-free start is enough for a subspace iteration.
                    random ^= random >> 12; random ^= random << 25; random ^= random >> 27
                    block[row, column] = Float(Int64(bitPattern: random &* 0x2545_F491_4F6C_DD1D) >> 40) / Float(1 << 23)
                }
            }
        }
        // An orthonormal block of full width: columns that come out dependent
        // (a rank-deficient operator maps several onto one span) are drawn
        // again, so no zero column reaches the Ritz vectors.
        func orthonormalize(_ block: inout DenseMatrix) throws(MatrixError) {
            var dependent = block.orthonormalizeColumns()
            for _ in 0..<3 where !dependent.isEmpty {
                fill(&block, columns: dependent)
                dependent = block.orthonormalizeColumns()
            }
            guard dependent.isEmpty else {
                throw MatrixError("could not complete an orthonormal basis of \(width) columns in dimension \(n)")
            }
        }
        var block = DenseMatrix(zeros: n, width)
        fill(&block, columns: Array(0..<width))
        try orthonormalize(&block)
        for _ in 0..<(powerIterations + 1) {
            block = try apply(block)
            try orthonormalize(&block)
        }
        // Rayleigh–Ritz: the small projected matrix Qᵀ A Q.
        let projected = try block.multiplied(by: try apply(block), transposeSelf: true)
        var symmetric = projected
        for i in 0..<width {
            for j in 0..<i {
                let mean = (projected[i, j] + projected[j, i]) / 2
                symmetric[i, j] = mean
                symmetric[j, i] = mean
            }
        }
        let (values, small) = try decompose(symmetric)
        // Largest first: the last `count` columns of `small`, reversed.
        var picked = DenseMatrix(zeros: width, count)
        for c in 0..<count {
            for r in 0..<width { picked[r, c] = small[r, width - 1 - c] }
        }
        return ((0..<count).map { values[width - 1 - $0] }, try block.multiplied(by: picked))
    }
}
