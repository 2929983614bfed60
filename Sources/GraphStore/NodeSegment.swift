import GraphCore

#if _endian(big)
#error("node segments are written in the machine's byte order, which must be little-endian")
#endif

/// The stored form of a run of new nodes (`SegmentCodec`): table
/// `node_segments`, removed ids in `removed_nodes`. Ingest creates nodes as
/// fast as edges (each first mention of a key), so they are stored the same
/// way. Later changes of a node's text or features go to `node_updates`, one
/// row per node, which start-up lays over the segments.
///
/// Blob layout (little-endian, columnar): `count: u32`, `flags: u32` (bit 0:
/// texts follow, bit 1: features follow), then `count` each of offset `u32`,
/// type `u16`, key length `u32`; if flagged, `count` text lengths `u32` and
/// `count` feature counts `u32` (`0xFFFF_FFFF`: none); then all key bytes
/// (UTF-8), all text bytes, all features (`f32`).
enum NodeSegment: SegmentCodec {
    static let segmentTable = "node_segments"
    static let removedTable = "removed_nodes"
    static let noun = "node"
    static func id(of record: NodeRecord) -> Int64 { Int64(record.id) }

    static let headerSize = 8
    static let hasTexts: UInt32 = 1
    static let hasFeatures: UInt32 = 2
    static let absent = UInt32.max

    static func encode(_ records: some Collection<NodeRecord>, firstID: Int64) -> [UInt8] {
        let count = records.count
        var flags: UInt32 = 0
        var keyBytes = 0, textBytes = 0, featureCount = 0
        for record in records {
            keyBytes += record.key.utf8.count
            if let text = record.text { flags |= hasTexts; textBytes += text.utf8.count }
            if let features = record.features { flags |= hasFeatures; featureCount += features.count }
        }
        let columns = 4 + 2 + 4 + (flags & hasTexts != 0 ? 4 : 0) + (flags & hasFeatures != 0 ? 4 : 0)
        let size = headerSize + count * columns + keyBytes + textBytes + featureCount * 4
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: UInt32(count), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: flags, toByteOffset: 4, as: UInt32.self)
            var offsets = headerSize
            var types = offsets + count * 4
            var keyLengths = types + count * 2
            var textLengths = keyLengths + count * 4
            var featureCounts = textLengths + (flags & hasTexts != 0 ? count * 4 : 0)
            var bytes = headerSize + count * columns
            func store(_ string: String) {
                var string = string
                string.withUTF8 { utf8 in
                    UnsafeMutableRawBufferPointer(rebasing: raw[bytes..<(bytes + utf8.count)]).copyMemory(from: UnsafeRawBufferPointer(utf8))
                    bytes += utf8.count
                }
            }
            for record in records {
                raw.storeBytes(of: UInt32(truncatingIfNeeded: Int64(record.id) - firstID), toByteOffset: offsets, as: UInt32.self)
                raw.storeBytes(of: record.type, toByteOffset: types, as: UInt16.self)
                raw.storeBytes(of: UInt32(record.key.utf8.count), toByteOffset: keyLengths, as: UInt32.self)
                offsets += 4; types += 2; keyLengths += 4
                if flags & hasTexts != 0 {
                    raw.storeBytes(of: record.text.map { UInt32($0.utf8.count) } ?? absent, toByteOffset: textLengths, as: UInt32.self)
                    textLengths += 4
                }
                if flags & hasFeatures != 0 {
                    raw.storeBytes(of: record.features.map { UInt32($0.count) } ?? absent, toByteOffset: featureCounts, as: UInt32.self)
                    featureCounts += 4
                }
            }
            for record in records { store(record.key) }
            for record in records { if let text = record.text { store(text) } }
            for record in records {
                for value in record.features ?? [] {
                    raw.storeBytes(of: value.bitPattern, toByteOffset: bytes, as: UInt32.self)
                    bytes += 4
                }
            }
            initialized = size
        }
    }

    static func decode(_ blob: UnsafeRawBufferPointer, firstID: Int64, _ body: (NodeRecord) throws -> Void) throws {
        var header = SegmentReader(blob)
        let count = Int(try header.read(UInt32.self, what: "the header"))
        let flags = try header.read(UInt32.self, what: "the header")
        guard flags & ~(hasTexts | hasFeatures) == 0 else { throw MalformedSegment(reason: "unknown flags \(flags)") }
        let columns = 4 + 2 + 4 + (flags & hasTexts != 0 ? 4 : 0) + (flags & hasFeatures != 0 ? 4 : 0)
        guard count <= blob.count / columns, headerSize + count * columns <= blob.count else {
            throw MalformedSegment(reason: "\(count) nodes do not fit in \(blob.count) bytes")
        }
        var offsets = SegmentReader(blob, at: headerSize)
        var types = SegmentReader(blob, at: headerSize + count * 4)
        var keyLengths = SegmentReader(blob, at: headerSize + count * 6)
        var textLengths = SegmentReader(blob, at: headerSize + count * 10)
        var featureCounts = SegmentReader(blob, at: headerSize + count * (flags & hasTexts != 0 ? 14 : 10))
        // Variable-length parts: keys, then texts, then features; find where each starts.
        var keyTotal = 0, textTotal = 0
        var lengths = SegmentReader(blob, at: headerSize + count * 6)
        for _ in 0..<count { keyTotal += Int(try lengths.read(UInt32.self, what: "a key length")) }
        if flags & hasTexts != 0 {
            for _ in 0..<count {
                let length = try lengths.read(UInt32.self, what: "a text length")
                if length != absent { textTotal += Int(length) }
            }
        }
        var keys = SegmentReader(blob, at: headerSize + count * columns)
        var texts = SegmentReader(blob, at: keys.offset)
        _ = try texts.bytes(keyTotal, what: "the keys")
        var features = SegmentReader(blob, at: texts.offset)
        _ = try features.bytes(textTotal, what: "the texts")
        var previousOffset: Int64 = -1
        for i in 0..<count {
            let offset = Int64(try offsets.read(UInt32.self, what: "an offset"))
            guard offset > previousOffset else { throw MalformedSegment(reason: "node ids are not increasing at node \(i)") }
            previousOffset = offset
            let id = firstID + offset
            guard id >= 0, id < Int64(GraphLimits.maxNodes) else { throw MalformedSegment(reason: "node id \(id) is out of range") }
            let type = try types.read(UInt16.self, what: "a type")
            let key = String(decoding: try keys.bytes(Int(try keyLengths.read(UInt32.self, what: "a key length")), what: "key \(i)"), as: UTF8.self)
            var record = NodeRecord(id: UInt32(id), type: type, key: key)
            if flags & hasTexts != 0 {
                let length = try textLengths.read(UInt32.self, what: "a text length")
                if length != absent { record.text = String(decoding: try texts.bytes(Int(length), what: "text \(i)"), as: UTF8.self) }
            }
            if flags & hasFeatures != 0 {
                let dimension = try featureCounts.read(UInt32.self, what: "a feature count")
                if dimension != absent {
                    let values = try features.bytes(Int(dimension) * 4, what: "features \(i)")
                    record.features = (0..<Int(dimension)).map { Float(bitPattern: values.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
                }
            }
            try body(record)
        }
        guard features.remaining == 0 else { throw MalformedSegment(reason: "\(features.remaining) trailing bytes") }
    }
}
