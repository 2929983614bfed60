import Foundation
import MessagePassing

/// A trained router: the GNN's tensors and what they were trained with.
/// Serialised as a small JSON header followed by the tensors as
/// little-endian Float32, so graphd keeps it in its store.
public struct RouterModel: Sendable, Equatable {
    public struct Header: Codable, Sendable, Equatable {
        public var format = 1
        public var dimension: Int
        /// The text embedder the node features came from; routed text must use the same.
        public var embedder: String
        public var training: RouterTrainingConfig
        public var shapes: [[Int]]
        public var epochs: Int
        public var bestEpoch: Int
        public var validationLoss: Float
        public var priorOnlyValidationLoss: Float
        public var trainedAtMs: Int64
    }

    public var header: Header
    public var parameters: RouterParameters

    public init(result: RouterTrainingResult, embedder: String, training: RouterTrainingConfig, trainedAtMs: Int64) {
        parameters = result.parameters
        header = Header(dimension: result.parameters.dimension, embedder: embedder, training: training,
                        shapes: result.parameters.tensors.map { [$0.rowCount, $0.columnCount] },
                        epochs: result.epochs, bestEpoch: result.bestEpoch, validationLoss: result.validationLoss,
                        priorOnlyValidationLoss: result.priorOnlyValidationLoss, trainedAtMs: trainedAtMs)
    }

    static let magic: [UInt8] = Array("GRTR".utf8)

    public func serialized() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = Array(try encoder.encode(header))
        var out = Self.magic
        appendLittleEndian(UInt32(json.count), to: &out)
        out += json
        for tensor in parameters.tensors {
            for value in tensor.values { appendLittleEndian(value.bitPattern, to: &out) }
        }
        return out
    }

    public init(serialized bytes: [UInt8]) throws(RoutingError) {
        func corrupt(_ why: String) -> RoutingError { RoutingError(.internalError, "stored router model is unreadable: \(why)") }
        guard bytes.count >= 8, Array(bytes[0..<4]) == Self.magic else { throw corrupt("bad magic") }
        let headerLength = Int(readLittleEndian(bytes, at: 4) as UInt32)
        guard headerLength <= bytes.count - 8 else { throw corrupt("header length \(headerLength) exceeds the blob") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<(8 + headerLength)])) } catch {
            throw corrupt("\(error)")
        }
        guard header.format == 1, header.shapes.count == RouterParameters.names.count,
              header.shapes.allSatisfy({ $0.count == 2 && $0[0] > 0 && $0[1] > 0 && $0[0] <= 1 << 16 && $0[1] <= 1 << 16 }) else {
            throw corrupt("unexpected tensor shapes")
        }
        var offset = 8 + headerLength
        var tensors: [DenseMatrix] = []
        for shape in header.shapes {
            let count = shape[0] * shape[1]
            guard count * 4 <= bytes.count - offset else { throw corrupt("tensor data is truncated") }
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = Float(bitPattern: readLittleEndian(bytes, at: offset + 4 * i)) }
            offset += 4 * count
            guard let tensor = try? DenseMatrix(rowCount: shape[0], columnCount: shape[1], values: values) else {
                throw corrupt("tensor shape")
            }
            tensors.append(tensor)
        }
        guard offset == bytes.count else { throw corrupt("\(bytes.count - offset) trailing bytes") }
        self.header = header
        self.parameters = RouterParameters(tensors: tensors)
    }
}

private func appendLittleEndian(_ value: UInt32, to out: inout [UInt8]) {
    for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
}

private func readLittleEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    var value: UInt32 = 0
    for i in 0..<4 { value |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
    return value
}
