internal import CIgraphSupport

/// A slot of a `ProbingTable`: one struct per slot, so that a probe touches
/// one cache line rather than one array per field.
protocol ProbingSlot: Sendable {
    /// A slot never used (probing stops here).
    static var vacant: Self { get }
    /// A slot whose entry was removed (probing continues past it).
    static var tombstone: Self { get }
    var isVacant: Bool { get }
    var isTombstone: Bool { get }
    /// The hash of the slot's key, which picks the first slot probed.
    var probeHash: UInt64 { get }
}

/// Open addressing with linear probing and tombstones, for the writer's hash
/// tables (edge keys, recent node keys): the writer consults them a few times
/// per edge, and Swift's seeded `Hasher` dominated the ingest profile. Keys and
/// their comparison belong to the caller (`matches`), as does the hash.
struct ProbingTable<Slot: ProbingSlot>: Sendable {
    private var slots: [Slot]
    private var mask: Int
    /// Live entries.
    private(set) var count = 0
    var byteCount: Int { slots.count * MemoryLayout<Slot>.stride }
    /// Live entries and tombstones.
    private var used = 0

    /// Room for `capacity` entries at half load, or with `dense` at up to two
    /// thirds (for large tables built once and only read).
    init(capacity: Int = 0, dense: Bool = false) {
        let size = max(16, (dense ? capacity + capacity / 2 + 1 : capacity * 2).nextPowerOfTwo)
        slots = [Slot](repeating: .vacant, count: size)
        mask = size - 1
    }

    /// The live entry for which `matches` holds, probing from `hash`.
    @inline(__always)
    func find(hash: UInt64, where matches: (Slot) -> Bool) -> Slot? {
        var index = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            while true {
                let slot = slots[index]
                if slot.isVacant { return nil }
                if !slot.isTombstone, matches(slot) { return slot }
                index = (index + 1) & mask
            }
        }
    }

    /// Starts loading the first slot a lookup of `hash` probes, without
    /// waiting: a batch of lookups that prefetches a few keys ahead has its
    /// cache misses overlap (a large table's slots are mostly not in cache).
    @inline(__always)
    func prefetch(hash: UInt64) {
        slots.withUnsafeBufferPointer { slots in
            if let base = slots.baseAddress { graphd_prefetch(base + (Int(truncatingIfNeeded: hash) & mask)) }
        }
    }

    /// Replaces the live entry for which `matches` holds, or adds `entry`.
    @inline(__always)
    mutating func upsert(_ entry: Slot, where matches: (Slot) -> Bool) {
        if (used + 1) * 4 > slots.count * 3 { grow() }
        var index = Int(truncatingIfNeeded: entry.probeHash) & mask
        var firstTombstone: Int? = nil
        while true {
            let slot = slots[index]
            if slot.isVacant { break }
            if slot.isTombstone {
                if firstTombstone == nil { firstTombstone = index }
            } else if matches(slot) {
                slots[index] = entry
                return
            }
            index = (index + 1) & mask
        }
        if let firstTombstone { index = firstTombstone } else { used += 1 }
        slots[index] = entry
        count += 1
    }

    /// Removes the live entry for which `matches` holds, if any.
    @inline(__always)
    mutating func remove(hash: UInt64, where matches: (Slot) -> Bool) {
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[index]
            if slot.isVacant { return }
            if !slot.isTombstone, matches(slot) {
                slots[index] = .tombstone
                count -= 1
                return
            }
            index = (index + 1) & mask
        }
    }

    /// Calls `body` with every live entry, in slot order.
    func forEachEntry(_ body: (Slot) -> Void) {
        for slot in slots where !slot.isVacant && !slot.isTombstone { body(slot) }
    }

    /// Twice the live entries' room, without the tombstones.
    private mutating func grow() {
        let old = slots
        self = ProbingTable(capacity: max(count * 2, 16))
        for slot in old where !slot.isVacant && !slot.isTombstone {
            var index = Int(truncatingIfNeeded: slot.probeHash) & mask
            while !slots[index].isVacant { index = (index + 1) & mask }
            slots[index] = slot
            used += 1
            count += 1
        }
    }
}

extension Int {
    var nextPowerOfTwo: Int {
        guard self > 1 else { return 1 }
        return 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
