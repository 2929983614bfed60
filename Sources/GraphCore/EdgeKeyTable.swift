/// Edge (type, source, target) → slot, for upserts (the delta's edges, a
/// batch's edges). A multiplicative hash over the packed key.
struct EdgeKeyTable: Sendable {
    private struct Entry: ProbingSlot {
        var source: UInt32
        var target: UInt32
        var value: UInt32
        var type: UInt16

        static let vacant = Entry(source: 0, target: 0, value: .max, type: 0)
        static let tombstone = Entry(source: 0, target: 0, value: .max - 1, type: 0)
        var isVacant: Bool { value == .max }
        var isTombstone: Bool { value == .max - 1 }
        var probeHash: UInt64 { EdgeKeyTable.hash(type, source, target) }
    }

    private var table: ProbingTable<Entry>

    init(capacity: Int = 16) {
        table = ProbingTable(capacity: capacity)
    }

    var count: Int { table.count }

    @inline(__always)
    fileprivate static func hash(_ type: UInt16, _ source: UInt32, _ target: UInt32) -> UInt64 {
        let key = (UInt64(source) << 32 | UInt64(target)) &+ UInt64(type) &* 0x9E37_79B9
        return (key &* 0x9E37_79B9_7F4A_7C15) >> 29
    }

    subscript(type: UInt16, source: UInt32, target: UInt32) -> UInt32? {
        table.find(hash: Self.hash(type, source, target)) { $0.source == source && $0.target == target && $0.type == type }?.value
    }

    /// Starts loading where a lookup or `set` of the key probes first (see `ProbingTable.prefetch`).
    @inline(__always)
    func prefetch(type: UInt16, source: UInt32, target: UInt32) {
        table.prefetch(hash: Self.hash(type, source, target))
    }

    /// Inserts or replaces. Values must be below `UInt32.max - 1`.
    mutating func set(type: UInt16, source: UInt32, target: UInt32, value: UInt32) {
        table.upsert(Entry(source: source, target: target, value: value, type: type)) {
            $0.source == source && $0.target == target && $0.type == type
        }
    }

    mutating func remove(type: UInt16, source: UInt32, target: UInt32) {
        table.remove(hash: Self.hash(type, source, target)) { $0.source == source && $0.target == target && $0.type == type }
    }
}
