/// A checksum of what a graph holds, for telling whether two graphds hold the
/// same graph (replicas against their primary): every live node (type, key,
/// text, features) and edge (type, endpoint keys, weight, timestamp,
/// attributes by name), each hashed alone and the hashes summed, so neither
/// node ids nor the storage order (compacted or not) change it.
extension GraphSnapshot {
    public func contentChecksum() -> UInt64 {
        var sum: UInt64 = 0
        for id in 0..<UInt32(nodes.idCount) {
            guard let node = nodes.record(id) else { continue }
            var hash = StableHash()
            hash.addByte(UInt8(1))
            hash.addField(schema.nodeType(node.type).name)
            hash.addField(node.key)
            hash.addByte(UInt8(node.text == nil ? 0 : 1))
            hash.addField(node.text ?? "")
            hash.addBytes((node.features ?? []).lazy.flatMap { Self.bytes($0.bitPattern) })
            sum &+= Self.finalized(hash.value)
            forEachEdge(of: id, direction: .both) { edge, nodeIsSource in
                guard nodeIsSource else { return true }
                sum &+= Self.finalized(edgeHash(edge.record))
                return true
            }
        }
        return sum
    }

    private func edgeHash(_ edge: EdgeRecord) -> UInt64 {
        var hash = StableHash()
        hash.addByte(UInt8(2))
        hash.addField(schema.edgeType(edge.type).name)
        hash.addField(nodes.record(edge.source).map { "\(schema.nodeType($0.type).name)\u{0}\($0.key)" } ?? "")
        hash.addField(nodes.record(edge.target).map { "\(schema.nodeType($0.type).name)\u{0}\($0.key)" } ?? "")
        hash.addWord(UInt64(edge.weight.bitPattern))
        hash.addWord(UInt64(bitPattern: edge.timestampMs))
        for attribute in edge.attributes.sorted(by: { schema.attributeName($0.id) < schema.attributeName($1.id) }) {
            hash.addField(schema.attributeName(attribute.id))
            hash.addWord(attribute.value.bitPattern)
        }
        return hash.value
    }

    private static func bytes(_ word: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }

    /// SplitMix64's output for the hash: spreads each item's hash so that a
    /// sum of them does not cancel out on related items.
    public static func finalized(_ value: UInt64) -> UInt64 {
        var mix = SplitMix(seed: value)
        return mix.next()
    }
}
