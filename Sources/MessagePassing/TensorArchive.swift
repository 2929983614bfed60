import Foundation

/// How trained models are stored (in graphd's `documents` table): a 4-byte
/// magic, a little-endian UInt32 length, a JSON header, then each tensor's
/// values as little-endian Float32 in the order and shapes the header gives.
public enum TensorArchive {
    public struct Unreadable: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func encode<Header: Encodable>(magic: [UInt8], header: Header, tensors: [DenseMatrix]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = Array(try encoder.encode(header))
        var out = magic
        out.reserveCapacity(magic.count + 4 + json.count + tensors.reduce(0) { $0 + 4 * $1.values.count })
        appendLittleEndian(UInt32(json.count), to: &out)
        out += json
        for tensor in tensors {
            for value in tensor.values { appendLittleEndian(value.bitPattern, to: &out) }
        }
        return out
    }

    /// Reads an archive; `shapes` gives the (rows, columns) of every tensor from
    /// the header, or nil when the header is not acceptable. Sizes are checked
    /// against the bytes before anything is allocated.
    public static func decode<Header: Decodable>(_ bytes: [UInt8], magic: [UInt8],
                                                 shapes: (Header) -> [(rows: Int, columns: Int)]?) throws(Unreadable) -> (header: Header, tensors: [DenseMatrix]) {
        let start = magic.count + 4
        guard bytes.count >= start, Array(bytes[0..<magic.count]) == magic else { throw Unreadable(description: "bad magic") }
        let headerLength = Int(readLittleEndian(bytes, at: magic.count))
        guard headerLength <= bytes.count - start else { throw Unreadable(description: "header length \(headerLength) exceeds the blob") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[start..<(start + headerLength)])) } catch {
            throw Unreadable(description: "\(error)")
        }
        guard let shapes = shapes(header), shapes.allSatisfy({ $0.rows > 0 && $0.columns > 0 }) else {
            throw Unreadable(description: "unexpected tensor shapes")
        }
        var offset = start + headerLength
        var tensors: [DenseMatrix] = []
        for shape in shapes {
            let (count, overflow) = shape.rows.multipliedReportingOverflow(by: shape.columns)
            guard !overflow, count <= (bytes.count - offset) / 4 else { throw Unreadable(description: "tensor data is truncated") }
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = Float(bitPattern: readLittleEndian(bytes, at: offset + 4 * i)) }
            offset += 4 * count
            guard let tensor = try? DenseMatrix(rowCount: shape.rows, columnCount: shape.columns, values: values) else {
                throw Unreadable(description: "tensor shape")
            }
            tensors.append(tensor)
        }
        guard offset == bytes.count else { throw Unreadable(description: "\(bytes.count - offset) trailing bytes") }
        return (header, tensors)
    }

    private static func appendLittleEndian(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    private static func readLittleEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
        return value
    }
}
