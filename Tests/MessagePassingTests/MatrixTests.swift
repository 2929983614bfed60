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
