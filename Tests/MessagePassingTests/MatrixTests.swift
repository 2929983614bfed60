import GraphCore
import Testing
@testable import MessagePassing

private func randomSparse(rows: Int, columns: Int, entries: Int, seed: UInt64) throws -> (SparseMatrix, [[Float]]) {
    var random = SplitMix(seed: seed)
    var dense = [[Float]](repeating: [Float](repeating: 0, count: columns), count: rows)
    var r: [Int32] = [], c: [Int32] = [], v: [Float] = []
    for _ in 0..<entries {
        let i = random.below(rows), j = random.below(columns), x = random.signedUnit()
        r.append(Int32(i)); c.append(Int32(j)); v.append(x)
        dense[i][j] += x  // duplicates sum
    }
    return (try SparseMatrix(rowCount: rows, columnCount: columns, rows: r, columns: c, values: v), dense)
}

private func randomDense(rows: Int, columns: Int, seed: UInt64) -> DenseMatrix {
    var random = SplitMix(seed: seed)
    var m = DenseMatrix(zeros: rows, columns)
    for i in m.values.indices { m.values[i] = random.signedUnit() }
    return m
}

@Test func coordinateInputSumsDuplicatesAndSortsRows() throws {
    let m = try SparseMatrix(rowCount: 2, columnCount: 3, rows: [1, 0, 1, 1], columns: [2, 1, 0, 2], values: [1, 2, 3, 4])
    #expect(m.rowOffsets == [0, 1, 3])
    #expect(m.columnIndices == [1, 0, 2])
    #expect(m.values == [2, 3, 5])
}

@Test func spmmMatchesTheDenseProductOnEveryThreadCount() throws {
    let (sparse, dense) = try randomSparse(rows: 300, columns: 200, entries: 3000, seed: 7)
    let x = randomDense(rows: 200, columns: 9, seed: 8)
    for threads in [1, 2, 4] {
        let y = try sparse.multiply(x, threads: threads)
        for i in 0..<300 {
            for j in 0..<9 {
                var expected: Float = 0
                for k in 0..<200 { expected += dense[i][k] * x[k, j] }
                #expect(abs(y[i, j] - expected) < 1e-4, "(\(i), \(j)) with \(threads) threads")
            }
        }
    }
}

@Test func transposeAndVectorProductsAgree() throws {
    let (sparse, dense) = try randomSparse(rows: 50, columns: 70, entries: 400, seed: 11)
    let t = sparse.transposed()
    #expect(t.rowCount == 70 && t.columnCount == 50)
    var random = SplitMix(seed: 3)
    let v = (0..<50).map { _ in random.signedUnit() }
    let viaTranspose = try t.multiply(vector: v)
    var viaRows = [Float](repeating: 0, count: 70)
    sparse.accumulateRows(Array(0..<50), scales: v, into: &viaRows)
    for j in 0..<70 {
        var expected: Float = 0
        for i in 0..<50 { expected += dense[i][j] * v[i] }
        #expect(abs(viaTranspose[j] - expected) < 1e-4)
        #expect(abs(viaRows[j] - expected) < 1e-4)
    }
    #expect(sparse.columnSums() == t.rowSums())
}

@Test func gemmAndGemvMatchNaiveProducts() throws {
    let a = randomDense(rows: 17, columns: 13, seed: 1), b = randomDense(rows: 13, columns: 5, seed: 2)
    let c = try a.multiplied(by: b)
    let bt = randomDense(rows: 5, columns: 13, seed: 4)
    let d = try a.multiplied(by: bt, transposeOther: true)
    let at = try a.multiplied(by: a, transposeSelf: true)  // 13×13
    for i in 0..<17 {
        for j in 0..<5 {
            var e1: Float = 0, e2: Float = 0
            for k in 0..<13 { e1 += a[i, k] * b[k, j]; e2 += a[i, k] * bt[j, k] }
            #expect(abs(c[i, j] - e1) < 1e-4)
            #expect(abs(d[i, j] - e2) < 1e-4)
        }
    }
    for i in 0..<13 {
        for j in 0..<13 {
            var e: Float = 0
            for k in 0..<17 { e += a[k, i] * a[k, j] }
            #expect(abs(at[i, j] - e) < 1e-4)
        }
    }
    let x = (0..<13).map { Float($0) / 13 }
    let y = try a.multiplied(vector: x)
    for i in 0..<17 {
        var e: Float = 0
        for k in 0..<13 { e += a[i, k] * x[k] }
        #expect(abs(y[i] - e) < 1e-4)
    }
}

@Test func orthonormalizedColumnsAreOrthonormalAndSpanTheInput() throws {
    var q = randomDense(rows: 200, columns: 12, seed: 5)
    let original = q
    q.orthonormalizeColumns()
    let gram = try q.multiplied(by: q, transposeSelf: true)
    for i in 0..<12 {
        for j in 0..<12 { #expect(abs(gram[i, j] - (i == j ? 1 : 0)) < 1e-4) }
    }
    // Projecting the input onto span(Q) gives it back.
    let coefficients = try q.multiplied(by: original, transposeSelf: true)
    let projected = try q.multiplied(by: coefficients)
    for i in projected.values.indices { #expect(abs(projected.values[i] - original.values[i]) < 1e-3) }
}

@Test func shapeMistakesAreErrorsNotTraps() throws {
    #expect(throws: MatrixError.self) { try SparseMatrix(rowCount: 2, columnCount: 2, rows: [0, 5], columns: [0, 1], values: [1, 1]) }
    #expect(throws: MatrixError.self) { try SparseMatrix(rowCount: 2, columnCount: 2, rowOffsets: [0, 2, 1], columnIndices: [0], values: [1]) }
    #expect(throws: MatrixError.self) { try DenseMatrix(rowCount: 2, columnCount: 2, values: [1, 2, 3]) }
    let (sparse, _) = try randomSparse(rows: 4, columns: 5, entries: 6, seed: 1)
    #expect(throws: MatrixError.self) { try sparse.multiply(DenseMatrix(zeros: 4, 2)) }
    #expect(throws: MatrixError.self) { try DenseMatrix(zeros: 3, 4).multiplied(by: DenseMatrix(zeros: 3, 4)) }
}

@Test func symmetricEigenDecompositionReconstructsTheMatrix() throws {
    let a = randomDense(rows: 30, columns: 8, seed: 21)
    let gram = try a.multiplied(by: a, transposeOther: true)  // 30×30, rank 8, PSD
    let (values, vectors) = try SymmetricEigen.decompose(gram)
    #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 + 1e-5 })
    for i in 0..<30 {
        for j in 0..<30 {
            var sum: Float = 0
            for k in 0..<30 { sum += vectors[i, k] * values[k] * vectors[j, k] }
            #expect(abs(sum - gram[i, j]) < 1e-3)
        }
    }
}

@Test func randomizedLeadingEigenpairsMatchTheFullDecomposition() throws {
    // A sparse matrix S; the operator is SᵀS (what the graph filter uses).
    let (sparse, _) = try randomSparse(rows: 400, columns: 150, entries: 3000, seed: 31)
    let transposed = sparse.transposed()
    var dense = DenseMatrix(zeros: 400, 150)
    for row in 0..<400 { for k in sparse.row(row) { dense[row, Int(sparse.columnIndices[k])] += sparse.values[k] } }
    let full = try SymmetricEigen.decompose(try dense.multiplied(by: dense, transposeSelf: true))
    let leading = try SymmetricEigen.leading(count: 10, dimension: 150, oversampling: 30, powerIterations: 4) { (block: DenseMatrix) throws(MatrixError) -> DenseMatrix in
        try transposed.multiply(try sparse.multiply(block))
    }
    for i in 0..<10 {
        let expected = full.values[149 - i]
        #expect(abs(leading.values[i] - expected) < 1e-2 * expected, "eigenvalue \(i): \(leading.values[i]) vs \(expected)")
        // Same eigenvector up to sign.
        var dot: Float = 0
        for r in 0..<150 { dot += leading.vectors[r, i] * full.vectors[r, 149 - i] }
        #expect(abs(abs(dot) - 1) < 1e-2, "eigenvector \(i): |cos| = \(abs(dot))")
    }
}

@Test func choleskyAndGramSchmidtPathsBothOrthonormalize() throws {
    // Rank-deficient block: Cholesky QR refuses, Gram–Schmidt zeroes the dependent column.
    var q = randomDense(rows: 50, columns: 4, seed: 41)
    for i in 0..<50 { q[i, 3] = q[i, 0] + 2 * q[i, 1] }
    q.orthonormalizeColumns()
    let gram = try q.multiplied(by: q, transposeSelf: true)
    for i in 0..<3 { for j in 0..<3 { #expect(abs(gram[i, j] - (i == j ? 1 : 0)) < 1e-4) } }
    #expect(abs(gram[3, 3]) < 1e-3 || abs(gram[3, 3] - 1) < 1e-3)
}

/// Columns equal to a combination of earlier ones up to `noise` (relative), at
/// the given positions; the rest random.
private func nearlyDependentBlock(rows: Int, columns: Int, dependent: [Int: Float], seed: UInt64) -> DenseMatrix {
    var m = randomDense(rows: rows, columns: columns, seed: seed)
    var random = SplitMix(seed: seed &+ 1)
    for (column, noise) in dependent.sorted(by: { $0.key < $1.key }) {
        let weights = (0..<column).map { _ in random.signedUnit() }
        for i in 0..<rows {
            var value: Float = 0
            for k in 0..<column { value += weights[k] * m[i, k] }
            m[i, column] = value + noise * random.signedUnit()
        }
    }
    return m
}

/// Each column is unit or zero, the unit ones are orthogonal to `tolerance`, and
/// the input lies in their span (so dropping a column is allowed only when it
/// added nothing).
private func expectOrthonormalBasis(_ q: DenseMatrix, of original: DenseMatrix, tolerance: Float = 1e-5,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
    let gram = try q.multiplied(by: q, transposeSelf: true)
    for i in 0..<q.columnCount {
        let isZero = gram[i, i] == 0
        #expect(isZero || abs(gram[i, i] - 1) < tolerance, "column \(i): squared norm \(gram[i, i])", sourceLocation: sourceLocation)
        for j in 0..<q.columnCount where j != i {
            #expect(abs(gram[i, j]) < tolerance, "columns \(i), \(j): \(gram[i, j])", sourceLocation: sourceLocation)
        }
    }
    let projected = try q.multiplied(by: try q.multiplied(by: original, transposeSelf: true))
    for column in 0..<original.columnCount {
        var residual: Float = 0, norm: Float = 0
        for row in 0..<original.rowCount {
            residual += (projected[row, column] - original[row, column]) * (projected[row, column] - original[row, column])
            norm += original[row, column] * original[row, column]
        }
        #expect(residual.squareRoot() <= 1e-3 * norm.squareRoot(), "column \(column) is lost from the span", sourceLocation: sourceLocation)
    }
}

@Test(arguments: [
    // Tall blocks (the Cholesky QR path is tried first) and a square one, as the
    // graph filter's eigen-solver makes for a small catalogue.
    (rows: 200, columns: 12, dependent: [5: Float(0), 9: 1e-6] as [Int: Float]),
    (rows: 200, columns: 12, dependent: [3: Float(1e-5), 7: 1e-5, 8: 0]),
    (rows: 15, columns: 15, dependent: [4: Float(0), 6: 1e-6, 10: 1e-5, 11: 0, 14: 0]),
    (rows: 40, columns: 30, dependent: [Int: Float](uniqueKeysWithValues: (10..<30).map { ($0, Float($0 % 3 == 0 ? 0 : 1e-6)) })),
])
func nearlyDependentColumnsAreDroppedNotAmplified(rows: Int, columns: Int, dependent: [Int: Float]) throws {
    for seed in UInt64(1)...5 {
        let original = nearlyDependentBlock(rows: rows, columns: columns, dependent: dependent, seed: seed)
        var q = original
        q.orthonormalizeColumns()
        try expectOrthonormalBasis(q, of: original)
    }
}

@Test func leadingEigenvectorsOfARankDeficientOperatorAreOrthonormal() throws {
    // A = B Bᵀ with B 15×3: rank 3, and six eigenpairs asked for (the solver's
    // block is then the whole 15-dimensional space).
    let b = randomDense(rows: 15, columns: 3, seed: 51)
    let a = try b.multiplied(by: b, transposeOther: true)
    let full = try SymmetricEigen.decompose(a)
    let leading = try SymmetricEigen.leading(count: 6, dimension: 15) { (block: DenseMatrix) throws(MatrixError) -> DenseMatrix in
        try a.multiplied(by: block)
    }
    let gram = try leading.vectors.multiplied(by: leading.vectors, transposeSelf: true)
    for i in 0..<6 { for j in 0..<6 { #expect(abs(gram[i, j] - (i == j ? 1 : 0)) < 1e-5, "(\(i), \(j)): \(gram[i, j])") } }
    for i in 0..<3 { #expect(abs(leading.values[i] - full.values[14 - i]) < 1e-4 * full.values[14]) }
    for i in 3..<6 { #expect(abs(leading.values[i]) < 1e-4 * full.values[14]) }
}

@Test(arguments: [1, 2])
func rowDotsAndLeadingColumnGemvMatchNaiveProducts(threads: Int) throws {
    let a = randomDense(rows: 5000, columns: 9, seed: 7)
    let x = (0..<6).map { Float($0 + 1) / 7 }  // the first 6 of 9 columns
    var random = SplitMix(seed: 3)
    // Enough rows for the threaded path, with repeats.
    let rows = (0..<4500).map { _ in random.below(5000) }
    let dots = try a.rowDots(rows, with: x, threads: threads)
    var seen = Set<Int>()
    for (position, row) in rows.enumerated() {
        var expected: Float = 0
        for k in 0..<6 { expected += a[row, k] * x[k] }
        #expect(abs(dots[position] - (seen.insert(row).inserted ? expected : 0)) < 1e-4, "row \(row) at \(position)")
    }
    let leading = try a.multiplied(vector: x, leadingColumns: 6)
    for row in [0, 17, 4999] {
        var expected: Float = 0
        for k in 0..<6 { expected += a[row, k] * x[k] }
        #expect(abs(leading[row] - expected) < 1e-4)
    }
    #expect(throws: MatrixError.self) { try a.rowDots([5000], with: x) }
    #expect(throws: MatrixError.self) { try a.rowDots([0], with: [Float](repeating: 1, count: 10)) }
    #expect(throws: MatrixError.self) { try a.multiplied(vector: x, leadingColumns: 5) }
}
