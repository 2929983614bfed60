import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only, memory-mapped `.safetensors` file: an 8-byte little-endian
/// header length, a JSON header naming each tensor's dtype, shape and byte
/// range, then the raw data. Only F32 tensors are handed out.
public final class SafetensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let dataOffset: Int

    public init(path: String) throws(EmbeddingError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw EmbeddingError(.modelUnavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw EmbeddingError(.modelUnavailable, "cannot stat \(path)") }
        let length = Int(info.st_size)
        guard length >= 8 else { throw EmbeddingError(.invalidModel, "\(path) is \(length) bytes: too short for safetensors") }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw EmbeddingError(.modelUnavailable, "cannot map \(path)")
        }
        var headerLength: UInt64 = 0
        memcpy(&headerLength, mapped, 8)
        headerLength = UInt64(littleEndian: headerLength)
        // Validate sizes before trusting them.
        guard headerLength <= 100_000_000, 8 + Int(headerLength) <= length else {
            munmap(mapped, length)
            throw EmbeddingError(.invalidModel, "\(path): header length \(headerLength) does not fit the file (\(length) bytes)")
        }
        let headerData = Data(bytes: mapped + 8, count: Int(headerLength))
        let dataOffset = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            munmap(mapped, length)
            throw EmbeddingError(.invalidModel, "\(path): header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1], dataOffset + offsets[1] <= length else {
                munmap(mapped, length)
                throw EmbeddingError(.invalidModel, "\(path): tensor '\(name)' has a malformed or out-of-range entry")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.base = mapped
        self.length = length
        self.dataOffset = dataOffset
        self.tensors = tensors
    }

    deinit { munmap(base, length) }

    /// An F32 tensor copied out (little-endian host assumed, as on x86_64 and arm64),
    /// checked against the expected shape.
    public func floats(_ name: String, shape expected: [Int]) throws(EmbeddingError) -> [Float] {
        guard let info = tensors[name] else { throw EmbeddingError(.invalidModel, "\(path): no tensor '\(name)'") }
        guard info.dtype == "F32" else { throw EmbeddingError(.invalidModel, "\(path): tensor '\(name)' is \(info.dtype), not F32") }
        guard info.shape == expected else {
            throw EmbeddingError(.invalidModel, "\(path): tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        let count = expected.reduce(1, *)
        guard info.range.count == count * 4 else {
            throw EmbeddingError(.invalidModel, "\(path): tensor '\(name)' holds \(info.range.count) bytes for \(count) floats")
        }
        var result = [Float](repeating: 0, count: count)
        result.withUnsafeMutableBytes { out in
            _ = memcpy(out.baseAddress!, base + dataOffset + info.range.lowerBound, info.range.count)
        }
        return result
    }
}
