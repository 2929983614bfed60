/// Edge (type, source, target) → slot, an open-addressing hash table with
/// linear probing and a multiplicative hash. The writer consults it once per
/// edge, so it avoids Swift's seeded `Hasher`, which dominated the ingest profile.
struct EdgeKeyTable: Sendable {
    private var sources: [UInt32]
    private var targets: [UInt32]
    private var types: [UInt16]
    /// `empty`: never used; `deleted`: a tombstone that probing continues past.
    private var values: [UInt32]
    private var mask: Int
    private(set) var count = 0
    private var used = 0  // live entries + tombstones

    private static let empty = UInt32.max
    private static let deleted = UInt32.max - 1

    init(capacity: Int = 16) {
        let size = max(16, (capacity * 2).nextPowerOfTwo)
        sources = [UInt32](repeating: 0, count: size)
        targets = [UInt32](repeating: 0, count: size)
        types = [UInt16](repeating: 0, count: size)
        values = [UInt32](repeating: Self.empty, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func bucket(_ type: UInt16, _ source: UInt32, _ target: UInt32) -> Int {
        let key = (UInt64(source) << 32 | UInt64(target)) &+ UInt64(type) &* 0x9E37_79B9
        return Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    subscript(type: UInt16, source: UInt32, target: UInt32) -> UInt32? {
        var index = bucket(type, source, target)
        while true {
            let value = values[index]
            if value == Self.empty { return nil }
            if value != Self.deleted, sources[index] == source, targets[index] == target, types[index] == type { return value }
            index = (index + 1) & mask
        }
    }

    /// Inserts or replaces. Values must be below `UInt32.max - 1`.
    mutating func set(type: UInt16, source: UInt32, target: UInt32, value: UInt32) {
        if (used + 1) * 4 > values.count * 3 { grow() }
        var index = bucket(type, source, target)
        var firstDeleted: Int? = nil
        while true {
            let current = values[index]
            if current == Self.empty { break }
            if current == Self.deleted {
                if firstDeleted == nil { firstDeleted = index }
            } else if sources[index] == source, targets[index] == target, types[index] == type {
                values[index] = value
                return
            }
            index = (index + 1) & mask
        }
        if let firstDeleted { index = firstDeleted } else { used += 1 }
        sources[index] = source
        targets[index] = target
        types[index] = type
        values[index] = value
        count += 1
    }

    mutating func remove(type: UInt16, source: UInt32, target: UInt32) {
        var index = bucket(type, source, target)
        while true {
            let value = values[index]
            if value == Self.empty { return }
            if value != Self.deleted, sources[index] == source, targets[index] == target, types[index] == type {
                values[index] = Self.deleted
                count -= 1
                return
            }
            index = (index + 1) & mask
        }
    }

    private mutating func grow() {
        var bigger = EdgeKeyTable(capacity: max(count * 2, 16))
        for i in 0..<values.count where values[i] != Self.empty && values[i] != Self.deleted {
            bigger.set(type: types[i], source: sources[i], target: targets[i], value: values[i])
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
