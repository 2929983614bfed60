import GraphCore

#if _endian(big)
#error("edge segments are written in the machine's byte order, which must be little-endian")
#endif

/// The stored form of a run of edges (`SegmentCodec`): table `edge_segments`,
/// removed ids in `removed_edges`. Edge ids are never reused: a replaced edge
/// gets a new id.
///
/// Blob layout (little-endian, columnar): `count: u32`, `flags: u32` (bit 0:
/// attributes follow), then `count` each of offset `u32`, type `u16`, source
/// `u32`, target `u32`, weight `f32`, timestamp `i64`; then, if flagged, per
/// edge an attribute count `u8` followed by (id `u16`, value `f64`) pairs.
enum EdgeSegment: SegmentCodec {
    static let segmentTable = "edge_segments"
    static let removedTable = "removed_edges"
    static let noun = "edge"
    static func id(of record: EdgeRecord) -> Int64 { record.id }

    static let headerSize = 8
    /// Bytes per edge in the fixed columns.
    static let fixedBytesPerEdge = 4 + 2 + 4 + 4 + 4 + 8

    static func encode(_ records: some Collection<EdgeRecord>, firstID: Int64) -> [UInt8] {
        let count = records.count
        let hasAttributes = records.contains { !$0.attributes.isEmpty }
        var attributeBytes = 0
        if hasAttributes { for record in records { attributeBytes += 1 + record.attributes.count * 10 } }
        let size = headerSize + count * fixedBytesPerEdge + attributeBytes
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: UInt32(count), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: hasAttributes ? 1 : 0, toByteOffset: 4, as: UInt32.self)
            var offsets = headerSize
            var types = offsets + count * 4
            var sources = types + count * 2
            var targets = sources + count * 4
            var weights = targets + count * 4
            var timestamps = weights + count * 4
            var attributes = timestamps + count * 8
            for record in records {
                raw.storeBytes(of: UInt32(truncatingIfNeeded: record.id - firstID), toByteOffset: offsets, as: UInt32.self)
                raw.storeBytes(of: record.type, toByteOffset: types, as: UInt16.self)
                raw.storeBytes(of: record.source, toByteOffset: sources, as: UInt32.self)
                raw.storeBytes(of: record.target, toByteOffset: targets, as: UInt32.self)
                raw.storeBytes(of: record.weight.bitPattern, toByteOffset: weights, as: UInt32.self)
                raw.storeBytes(of: record.timestampMs, toByteOffset: timestamps, as: Int64.self)
                offsets += 4; types += 2; sources += 4; targets += 4; weights += 4; timestamps += 8
                if hasAttributes {
                    raw.storeBytes(of: UInt8(record.attributes.count), toByteOffset: attributes, as: UInt8.self)
                    attributes += 1
                    for attribute in record.attributes {
                        raw.storeBytes(of: attribute.id, toByteOffset: attributes, as: UInt16.self)
                        raw.storeBytes(of: attribute.value.bitPattern, toByteOffset: attributes + 2, as: UInt64.self)
                        attributes += 10
                    }
                }
            }
            initialized = size
        }
    }

    static func decode(_ blob: UnsafeRawBufferPointer, firstID: Int64, _ body: (EdgeRecord) throws -> Void) throws {
        guard blob.count >= headerSize else { throw MalformedSegment(reason: "\(blob.count) bytes, shorter than a header") }
        let count = Int(blob.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let flags = blob.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        guard flags & ~1 == 0 else { throw MalformedSegment(reason: "unknown flags \(flags)") }
        let hasAttributes = flags & 1 != 0
        let fixedEnd = headerSize + count * fixedBytesPerEdge
        guard count <= blob.count / fixedBytesPerEdge, fixedEnd <= blob.count else {
            throw MalformedSegment(reason: "\(count) edges do not fit in \(blob.count) bytes")
        }
        guard hasAttributes || fixedEnd == blob.count else { throw MalformedSegment(reason: "\(blob.count - fixedEnd) trailing bytes") }
        let types = headerSize + count * 4, sources = types + count * 2, targets = sources + count * 4
        let weights = targets + count * 4, timestamps = weights + count * 4
        var attributes = timestamps + count * 8
        var previousOffset: Int64 = -1
        for i in 0..<count {
            let offset = Int64(blob.loadUnaligned(fromByteOffset: headerSize + i * 4, as: UInt32.self))
            guard offset > previousOffset else { throw MalformedSegment(reason: "edge ids are not increasing at edge \(i)") }
            previousOffset = offset
            var record = EdgeRecord(
                id: firstID + offset,
                type: blob.loadUnaligned(fromByteOffset: types + i * 2, as: UInt16.self),
                source: blob.loadUnaligned(fromByteOffset: sources + i * 4, as: UInt32.self),
                target: blob.loadUnaligned(fromByteOffset: targets + i * 4, as: UInt32.self),
                weight: Float(bitPattern: blob.loadUnaligned(fromByteOffset: weights + i * 4, as: UInt32.self)),
                timestampMs: blob.loadUnaligned(fromByteOffset: timestamps + i * 8, as: Int64.self))
            if hasAttributes {
                guard attributes < blob.count else { throw MalformedSegment(reason: "attributes of edge \(i) are missing") }
                let n = Int(blob.load(fromByteOffset: attributes, as: UInt8.self))
                attributes += 1
                guard attributes + n * 10 <= blob.count else { throw MalformedSegment(reason: "attributes of edge \(i) are cut short") }
                if n > 0 {
                    record.attributes = (0..<n).map { j in
                        EdgeAttribute(id: blob.loadUnaligned(fromByteOffset: attributes + j * 10, as: UInt16.self),
                                      value: Double(bitPattern: blob.loadUnaligned(fromByteOffset: attributes + j * 10 + 2, as: UInt64.self)))
                    }
                    attributes += n * 10
                }
            }
            try body(record)
        }
        guard !hasAttributes || attributes == blob.count else { throw MalformedSegment(reason: "\(blob.count - attributes) trailing bytes") }
    }
}
