import GraphCore

/// Where a graphd keeps the replication log position it has applied: a
/// document written in the same transaction as each batch, so the store and
/// the position never disagree (the only cursor a replica trusts after a crash).
public enum LogPosition {
    public static let documentName = "graphd/replication/applied-sequence"

    public static func document(_ sequence: UInt64) -> (name: String, value: [UInt8]?) {
        (documentName, withUnsafeBytes(of: sequence.littleEndian, Array.init))
    }

    /// The applied sequence stored in `database` (0: none yet).
    public static func applied(in database: GraphDatabase) throws(GraphError) -> UInt64 {
        guard let bytes = database.document(documentName) else { return 0 }
        return try sequence(bytes)
    }

    /// The sequence a position document's value holds.
    static func sequence(_ bytes: some Collection<UInt8>) throws(GraphError) -> UInt64 {
        guard bytes.count == 8 else {
            throw GraphError(.dataLoss, "the store's applied log sequence (document \(documentName)) is \(bytes.count) bytes, not 8")
        }
        return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension GraphDatabase {
    /// The last replication log sequence this store applied: 0 when it never
    /// replicated (or its position document is unreadable, which a replicating
    /// graphd refuses at start).
    public nonisolated var appliedLogSequence: UInt64 { (try? LogPosition.applied(in: self)) ?? 0 }

    /// `GraphSnapshot.contentChecksum` of the current graph plus its documents
    /// (the log position aside: it says where, not what). Under writes the two
    /// parts may come from neighbouring versions; compare at rest.
    public nonisolated func contentChecksum() -> UInt64 {
        var sum = snapshot.contentChecksum()
        for name in documentNames(prefix: "") where name != LogPosition.documentName {
            var hash = StableHash()
            hash.addByte(UInt8(3))
            hash.addField(name)
            hash.addBytes(document(name) ?? [])
            sum &+= GraphSnapshot.finalized(hash.value)
        }
        return sum
    }
}
