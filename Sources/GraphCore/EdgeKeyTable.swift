/// Edge (type, source, target) → slot, an open-addressing hash table with
/// linear probing and a multiplicative hash. The writer consults it a few
/// times per edge, so it avoids Swift's seeded `Hasher` (which dominated the
/// ingest profile) and keeps each entry in one 16-byte struct: a probe touches
/// one cache line, not one per field.
struct EdgeKeyTable: Sendable {
    private struct Entry {
        var source: UInt32
        var target: UInt32
        /// `empty`: never used; `deleted`: a tombstone that probing continues past.
        var value: UInt32
        var type: UInt16
    }

    private var entries: [Entry]
    private var mask: Int
    private(set) var count = 0
    private var used = 0  // live entries + tombstones

    private static let empty = UInt32.max
    private static let deleted = UInt32.max - 1

    init(capacity: Int = 16) {
        let size = max(16, (capacity * 2).nextPowerOfTwo)
        entries = [Entry](repeating: Entry(source: 0, target: 0, value: Self.empty, type: 0), count: size)
        mask = size - 1
    }

    @inline(__always)
    private func bucket(_ type: UInt16, _ source: UInt32, _ target: UInt32) -> Int {
        let key = (UInt64(source) << 32 | UInt64(target)) &+ UInt64(type) &* 0x9E37_79B9
        return Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    subscript(type: UInt16, source: UInt32, target: UInt32) -> UInt32? {
        var index = bucket(type, source, target)
        return entries.withUnsafeBufferPointer { entries in
            while true {
                let entry = entries[index]
                if entry.value == Self.empty { return nil }
                if entry.value != Self.deleted, entry.source == source, entry.target == target, entry.type == type {
                    return entry.value
                }
                index = (index + 1) & mask
            }
        }
    }

    /// Inserts or replaces. Values must be below `UInt32.max - 1`.
    mutating func set(type: UInt16, source: UInt32, target: UInt32, value: UInt32) {
        if (used + 1) * 4 > entries.count * 3 { grow() }
        var index = bucket(type, source, target)
        var firstDeleted: Int? = nil
        while true {
            let current = entries[index]
            if current.value == Self.empty { break }
            if current.value == Self.deleted {
                if firstDeleted == nil { firstDeleted = index }
            } else if current.source == source, current.target == target, current.type == type {
                entries[index].value = value
                return
            }
            index = (index + 1) & mask
        }
        if let firstDeleted { index = firstDeleted } else { used += 1 }
        entries[index] = Entry(source: source, target: target, value: value, type: type)
        count += 1
    }

    mutating func remove(type: UInt16, source: UInt32, target: UInt32) {
        var index = bucket(type, source, target)
        while true {
            let entry = entries[index]
            if entry.value == Self.empty { return }
            if entry.value != Self.deleted, entry.source == source, entry.target == target, entry.type == type {
                entries[index].value = Self.deleted
                count -= 1
                return
            }
            index = (index + 1) & mask
        }
    }

    private mutating func grow() {
        var bigger = EdgeKeyTable(capacity: max(count * 2, 16))
        for entry in entries where entry.value != Self.empty && entry.value != Self.deleted {
            bigger.set(type: entry.type, source: entry.source, target: entry.target, value: entry.value)
        }
        self = bigger
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        guard self > 1 else { return 1 }
        return 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
