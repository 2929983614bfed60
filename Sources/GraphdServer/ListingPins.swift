import GraphCore
import Synchronization
import TTRPC

/// Snapshots pinned for listings (ListNodes, ListEdges), so that paging through
/// the graph sees it at one point in time: page positions (node ids, edge
/// offsets per node) shift as the graph changes and as compaction renumbers
/// edges, and a listing over changing snapshots would skip or repeat items.
///
/// A pin costs memory only for what changes while it is held (snapshots share
/// structure), and it is bounded: released after `idleLimit` without a page,
/// and the least recently used goes when more than `capacity` are held.
final class ListingPins: Sendable {
    static let idleLimit: Duration = .seconds(300)
    static let capacity = 16

    private struct Pin {
        let snapshot: GraphSnapshot
        var lastUsed: ContinuousClock.Instant
    }

    private let pins = Mutex<[UInt64: Pin]>([:])

    /// Pins `snapshot`; returns the id that names it (never 0).
    func pin(_ snapshot: GraphSnapshot, now: ContinuousClock.Instant = .now) -> UInt64 {
        pins.withLock { pins in
            Self.dropIdle(&pins, now: now)
            while pins.count >= Self.capacity, let oldest = pins.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
                pins[oldest] = nil
            }
            var id: UInt64 = 0
            while id == 0 || pins[id] != nil { id = UInt64.random(in: 1...UInt64.max) }
            pins[id] = Pin(snapshot: snapshot, lastUsed: now)
            return id
        }
    }

    /// The snapshot pinned as `id`, which counts as a use.
    func snapshot(_ id: UInt64, now: ContinuousClock.Instant = .now) throws(RPCError) -> GraphSnapshot {
        let found: GraphSnapshot? = pins.withLock { pins in
            Self.dropIdle(&pins, now: now)
            pins[id]?.lastUsed = now
            return pins[id]?.snapshot
        }
        guard let found else {
            throw RPCError(.failedPrecondition, "listing snapshot \(id) is no longer pinned (released \(Self.idleLimit) after its last page, or evicted by more than \(Self.capacity) open listings); start the listing again")
        }
        return found
    }

    var count: Int { pins.withLock { $0.count } }

    private static func dropIdle(_ pins: inout [UInt64: Pin], now: ContinuousClock.Instant) {
        pins = pins.filter { now - $0.value.lastUsed <= idleLimit }
    }
}
