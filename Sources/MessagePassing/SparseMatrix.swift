import Dispatch
import RealModule

/// A sparse matrix in compressed sparse row (CSR) form, Float32 values.
///
/// This is the adjacency of every message-passing layer: one SpMM with a
/// `SparseMatrix` spreads node states along edges, a GEMM on `DenseMatrix`
/// transforms them. Immutable once built; safe to share between threads.
public struct SparseMatrix: Sendable {
    public let rowCount: Int
    public let columnCount: Int
    /// `rowCount + 1` offsets into `columnIndices` / `values`.
    public let rowOffsets: [Int]
    public let columnIndices: [Int32]
    public let values: [Float]

    public var entryCount: Int { values.count }

    /// Builds from parts that already form valid CSR (checked).
    public init(rowCount: Int, columnCount: Int, rowOffsets: [Int], columnIndices: [Int32], values: [Float]) throws(MatrixError) {
        guard rowCount >= 0, columnCount >= 0, rowCount <= Int(Int32.max), columnCount <= Int(Int32.max) else {
            throw MatrixError("matrix shape \(rowCount)×\(columnCount) is out of range")
        }
        guard rowOffsets.count == rowCount + 1, rowOffsets.first == 0, rowOffsets.last == values.count,
              columnIndices.count == values.count else {
            throw MatrixError("CSR parts do not agree: \(rowOffsets.count) offsets for \(rowCount) rows, \(columnIndices.count) indices, \(values.count) values")
        }
        for row in 0..<rowCount where rowOffsets[row] > rowOffsets[row + 1] {
            throw MatrixError("row offsets decrease at row \(row)")
        }
        for column in columnIndices where column < 0 || Int(column) >= columnCount {
            throw MatrixError("column index \(column) is outside 0..<\(columnCount)")
        }
        self.init(unchecked: rowCount, columnCount, rowOffsets, columnIndices, values)
    }

    init(unchecked rowCount: Int, _ columnCount: Int, _ rowOffsets: [Int], _ columnIndices: [Int32], _ values: [Float]) {
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.rowOffsets = rowOffsets
        self.columnIndices = columnIndices
        self.values = values
    }

    /// Builds from coordinate triples; duplicates are summed, rows come out
    /// sorted by column.
    public init(rowCount: Int, columnCount: Int, rows: [Int32], columns: [Int32], values: [Float]) throws(MatrixError) {
        guard rows.count == columns.count, rows.count == values.count else {
            throw MatrixError("coordinate arrays differ in length: \(rows.count), \(columns.count), \(values.count)")
        }
        guard rowCount >= 0, columnCount >= 0, rowCount <= Int(Int32.max), columnCount <= Int(Int32.max) else {
            throw MatrixError("matrix shape \(rowCount)×\(columnCount) is out of range")
        }
        for i in rows.indices {
            guard rows[i] >= 0, Int(rows[i]) < rowCount, columns[i] >= 0, Int(columns[i]) < columnCount else {
                throw MatrixError("entry (\(rows[i]), \(columns[i])) is outside \(rowCount)×\(columnCount)")
            }
        }
        // Counting sort by column, then stably by row: rows end up column-sorted.
        let byColumn = Self.bucketOrder(keys: columns, buckets: columnCount, order: nil).order
        let (offsets, order) = Self.bucketOrder(keys: rows, buckets: rowCount, order: byColumn)
        var outOffsets = [Int](repeating: 0, count: rowCount + 1)
        var outColumns: [Int32] = []
        var outValues: [Float] = []
        outColumns.reserveCapacity(order.count)
        outValues.reserveCapacity(order.count)
        for row in 0..<rowCount {
            var last: Int32 = -1
            for k in offsets[row]..<offsets[row + 1] {
                let entry = order[k]
                if columns[entry] == last {
                    outValues[outValues.count - 1] += values[entry]
                } else {
                    outColumns.append(columns[entry])
                    outValues.append(values[entry])
                    last = columns[entry]
                }
            }
            outOffsets[row + 1] = outValues.count
        }
        self.init(unchecked: rowCount, columnCount, outOffsets, outColumns, outValues)
    }

    private static func bucketOrder(keys: [Int32], buckets: Int, order: [Int]?) -> (offsets: [Int], order: [Int]) {
        var offsets = [Int](repeating: 0, count: buckets + 1)
        for key in keys { offsets[Int(key) + 1] += 1 }
        for i in 0..<buckets { offsets[i + 1] += offsets[i] }
        var cursor = offsets
        var result = [Int](repeating: 0, count: keys.count)
        for entry in order ?? Array(keys.indices) {
            let key = Int(keys[entry])
            result[cursor[key]] = entry
            cursor[key] += 1
        }
        return (offsets, result)
    }

    @inlinable
    public func row(_ row: Int) -> Range<Int> { rowOffsets[row]..<rowOffsets[row + 1] }

    /// The transpose, in CSR (rows sorted by column).
    public func transposed() -> SparseMatrix {
        var offsets = [Int](repeating: 0, count: columnCount + 1)
        for column in columnIndices { offsets[Int(column) + 1] += 1 }
        for i in 0..<columnCount { offsets[i + 1] += offsets[i] }
        var cursor = offsets
        var indices = [Int32](repeating: 0, count: entryCount)
        var newValues = [Float](repeating: 0, count: entryCount)
        for row in 0..<rowCount {
            for k in self.row(row) {
                let column = Int(columnIndices[k])
                indices[cursor[column]] = Int32(row)
                newValues[cursor[column]] = values[k]
                cursor[column] += 1
            }
        }
        return SparseMatrix(unchecked: columnCount, rowCount, offsets, indices, newValues)
    }

    /// diag(rowScale) · self · diag(columnScale); either may be nil for identity.
    public func scaled(rows rowScale: [Float]?, columns columnScale: [Float]?) -> SparseMatrix {
        precondition(rowScale.map { $0.count == rowCount } ?? true && columnScale.map { $0.count == columnCount } ?? true)
        var newValues = values
        for row in 0..<rowCount {
            let r = rowScale?[row] ?? 1
            for k in self.row(row) {
                newValues[k] *= r * (columnScale?[Int(columnIndices[k])] ?? 1)
            }
        }
        return SparseMatrix(unchecked: rowCount, columnCount, rowOffsets, columnIndices, newValues)
    }

    /// Every stored value raised to `exponent` (P3α's sharpening of transition probabilities).
    public func elementPower(_ exponent: Float) -> SparseMatrix {
        SparseMatrix(unchecked: rowCount, columnCount, rowOffsets, columnIndices, values.map { Float.pow($0, exponent) })
    }

    /// Sum of each row's values.
    public func rowSums() -> [Float] {
        (0..<rowCount).map { row in self.row(row).reduce(Float(0)) { $0 + values[$1] } }
    }

    /// Sum of each column's values.
    public func columnSums() -> [Float] {
        var sums = [Float](repeating: 0, count: columnCount)
        for k in 0..<entryCount { sums[Int(columnIndices[k])] += values[k] }
        return sums
    }

    /// self · dense (SpMM), rows split across threads.
    public func multiply(_ dense: DenseMatrix, threads: Int = ParallelWork.defaultThreads) throws(MatrixError) -> DenseMatrix {
        guard dense.rowCount == columnCount else {
            throw MatrixError("SpMM shapes differ: \(rowCount)×\(columnCount) · \(dense.rowCount)×\(dense.columnCount)")
        }
        let width = dense.columnCount
        var result = DenseMatrix(zeros: rowCount, width)
        result.values.withUnsafeMutableBufferPointer { out in
            dense.values.withUnsafeBufferPointer { input in
                let out = UnsafeMutableSendableBuffer(out)
                let input = UnsafeSendableBuffer(input)
                ParallelWork.forEachBlock(count: rowCount, threads: threads) { rows in
                    for row in rows {
                        let target = out.base.baseAddress! + row * width
                        for k in self.rowOffsets[row]..<self.rowOffsets[row + 1] {
                            let weight = self.values[k]
                            let source = input.base.baseAddress! + Int(self.columnIndices[k]) * width
                            for j in 0..<width { target[j] += weight * source[j] }
                        }
                    }
                }
            }
        }
        return result
    }

    /// self · vector (SpMV).
    public func multiply(vector: [Float]) throws(MatrixError) -> [Float] {
        guard vector.count == columnCount else {
            throw MatrixError("SpMV shapes differ: \(rowCount)×\(columnCount) · \(vector.count)")
        }
        var result = [Float](repeating: 0, count: rowCount)
        for row in 0..<rowCount {
            var sum: Float = 0
            for k in self.row(row) { sum += values[k] * vector[Int(columnIndices[k])] }
            result[row] = sum
        }
        return result
    }

    /// vectorᵀ · self for a sparse vector given as parallel `rows` / `scales`:
    /// a weighted sum of the rows named, added into `result` (length
    /// `columnCount`). Cost: the entries of those rows. When `touched` is given,
    /// every column that goes from zero to non-zero is appended to it.
    public func accumulateRows(_ rows: [Int], scales: [Float], into result: inout [Float], touched: UnsafeMutablePointer<[Int]>? = nil) {
        precondition(result.count == columnCount && rows.count == scales.count)
        rowOffsets.withUnsafeBufferPointer { offsets in
        columnIndices.withUnsafeBufferPointer { columns in
        values.withUnsafeBufferPointer { values in
        result.withUnsafeMutableBufferPointer { out in
            for (position, row) in rows.enumerated() {
                let scale = scales[position]
                guard scale != 0, row >= 0, row < rowCount else { continue }
                if let touched {
                    for k in offsets[row]..<offsets[row + 1] {
                        let column = Int(columns[k])
                        if out[column] == 0 { touched.pointee.append(column) }
                        out[column] += scale * values[k]
                    }
                } else {
                    for k in offsets[row]..<offsets[row + 1] { out[Int(columns[k])] += scale * values[k] }
                }
            }
        }}}}
    }
}

/// A shape or value problem in matrix code (a caller's mistake, reported, not trapped).
public struct MatrixError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Buffers handed to worker threads that write disjoint parts.
struct UnsafeMutableSendableBuffer<Element>: @unchecked Sendable {
    let base: UnsafeMutableBufferPointer<Element>
    init(_ base: UnsafeMutableBufferPointer<Element>) { self.base = base }
}

struct UnsafeSendableBuffer<Element>: @unchecked Sendable {
    let base: UnsafeBufferPointer<Element>
    init(_ base: UnsafeBufferPointer<Element>) { self.base = base }
}

/// Splits index ranges across threads.
public enum ParallelWork {
    /// All cores the process may use.
    public static var defaultThreads: Int { max(1, activeProcessorCount) }

    private static let activeProcessorCount: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }()

    /// Runs `body` over contiguous blocks of `0..<count`, on up to `threads` threads.
    public static func forEachBlock(count: Int, threads: Int, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let blocks = min(max(1, threads) * 4, count)
        if threads <= 1 || count < 64 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            let start = count * block / blocks, end = count * (block + 1) / blocks
            body(start..<end)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
