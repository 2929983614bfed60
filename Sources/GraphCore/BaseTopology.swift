import Synchronization

/// Per-edge columns in slot order.
public struct EdgeColumns: Sendable {
    public var types: [EdgeTypeID] = []
    public var weights: [Float] = []
    public var timestamps: [Int64] = []
    public var ids: [Int64] = []
    /// Sparse: only edges that carry attributes.
    public var attributes: [UInt32: [EdgeAttribute]] = [:]

    public init() {}

    public var count: Int { ids.count }

    public mutating func reserveCapacity(_ n: Int) {
        types.reserveCapacity(n)
        weights.reserveCapacity(n)
        timestamps.reserveCapacity(n)
        ids.reserveCapacity(n)
    }

    public mutating func append(_ record: EdgeRecord) {
        if !record.attributes.isEmpty { attributes[UInt32(ids.count)] = record.attributes }
        types.append(record.type)
        weights.append(record.weight)
        timestamps.append(record.timestampMs)
        ids.append(record.id)
    }
}

/// The compacted, read-optimised part of a snapshot: CSR adjacency in both
/// directions built from igraph's edge list, and the edge columns. Immutable.
///
/// Rows are sorted by neighbour id, so finding an edge between two nodes is a
/// binary search.
final class BaseTopology: Sendable {
    let vertexCount: Int
    let outOffsets: [UInt32]
    let outNeighbors: [UInt32]
    let outSlots: [UInt32]
    let inOffsets: [UInt32]
    let inNeighbors: [UInt32]
    let inSlots: [UInt32]
    let columns: EdgeColumns
    /// Walk graphs derived from this base, per filter (see `walkGraph`).
    let walkGraphs = Mutex<[WalkFilter: WalkGraph]>([:])

    var edgeCount: Int { columns.count }

    static let empty = BaseTopology(vertexCount: 0, sources: [], targets: [], columns: EdgeColumns())

    /// Builds the CSR from edge endpoints in slot order (three stable counting
    /// sorts: O(V + E)). `sources.count` must equal `columns.count`.
    public init(vertexCount: Int, sources: [UInt32], targets: [UInt32], columns: EdgeColumns) {
        precondition(sources.count == targets.count && sources.count == columns.count)
        self.vertexCount = vertexCount
        self.columns = columns
        let edgeCount = sources.count
        // Slots ordered by target, then stably by source: out rows sorted by target.
        let byTarget = Self.countingSort(keys: targets, order: nil, buckets: vertexCount).order
        let out = Self.countingSort(keys: sources, order: byTarget, buckets: vertexCount)
        // Out order is source-major: sorting it stably by target gives in rows sorted by source.
        let inSorted = Self.countingSort(keys: targets, order: out.order, buckets: vertexCount)
        var outNeighbors = [UInt32](repeating: 0, count: edgeCount)
        var inNeighbors = [UInt32](repeating: 0, count: edgeCount)
        for i in 0..<edgeCount {
            outNeighbors[i] = targets[Int(out.order[i])]
            inNeighbors[i] = sources[Int(inSorted.order[i])]
        }
        self.outOffsets = out.offsets
        self.outSlots = out.order
        self.outNeighbors = outNeighbors
        self.inOffsets = inSorted.offsets
        self.inSlots = inSorted.order
        self.inNeighbors = inNeighbors
    }

    private static func countingSort(keys: [UInt32], order: [UInt32]?, buckets: Int) -> (offsets: [UInt32], order: [UInt32]) {
        var offsets = [UInt32](repeating: 0, count: buckets + 1)
        for key in keys { offsets[Int(key) + 1] &+= 1 }
        for i in 0..<buckets { offsets[i + 1] &+= offsets[i] }
        var cursor = offsets
        var result = [UInt32](repeating: 0, count: keys.count)
        if let order {
            for slot in order {
                let key = Int(keys[Int(slot)])
                result[Int(cursor[key])] = slot
                cursor[key] &+= 1
            }
        } else {
            for slot in 0..<keys.count {
                let key = Int(keys[slot])
                result[Int(cursor[key])] = UInt32(slot)
                cursor[key] &+= 1
            }
        }
        return (offsets, result)
    }

    @inline(__always)
    func outRange(_ node: UInt32) -> Range<Int> {
        guard Int(node) < vertexCount else { return 0..<0 }
        return Int(outOffsets[Int(node)])..<Int(outOffsets[Int(node) + 1])
    }

    @inline(__always)
    func inRange(_ node: UInt32) -> Range<Int> {
        guard Int(node) < vertexCount else { return 0..<0 }
        return Int(inOffsets[Int(node)])..<Int(inOffsets[Int(node) + 1])
    }

    /// Slots of edges source→target (any type), by binary search in the out row.
    func slots(from source: UInt32, to target: UInt32) -> ArraySlice<UInt32> {
        let row = outRange(source)
        var low = row.lowerBound, high = row.upperBound
        while low < high {
            let mid = (low + high) / 2
            if outNeighbors[mid] < target { low = mid + 1 } else { high = mid }
        }
        var end = low
        while end < row.upperBound, outNeighbors[end] == target { end += 1 }
        return outSlots[low..<end]
    }

    func record(slot: UInt32, source: UInt32, target: UInt32) -> EdgeRecord {
        let i = Int(slot)
        return EdgeRecord(id: columns.ids[i], type: columns.types[i], source: source, target: target,
                          weight: columns.weights[i], timestampMs: columns.timestamps[i],
                          attributes: columns.attributes[slot] ?? [])
    }

    /// Every edge's (source, target) in slot order, recovered from the out-CSR.
    func endpointsInSlotOrder() -> (sources: [UInt32], targets: [UInt32]) {
        var sources = [UInt32](repeating: 0, count: edgeCount)
        var targets = [UInt32](repeating: 0, count: edgeCount)
        for node in 0..<vertexCount {
            for i in outRange(UInt32(node)) {
                sources[Int(outSlots[i])] = UInt32(node)
                targets[Int(outSlots[i])] = outNeighbors[i]
            }
        }
        return (sources, targets)
    }

    /// Approximate heap bytes of the CSR and columns.
    var approximateByteCount: Int {
        let perEdge = 4 * 4 + 2 + 4 + 8 + 8
        return edgeCount * perEdge + 2 * 4 * (vertexCount + 1) + columns.attributes.count * 64
    }
}

/// Edges added since the last compaction, one chunk per write batch (small
/// batches are merged into the last chunk). Immutable once published.
final class DeltaChunk: Sendable {
    let firstSlot: UInt32
    let records: [EdgeRecord]
    /// Local indices of the edges leaving / entering each node.
    let bySource: NodeIndex
    let byTarget: NodeIndex

    var count: Int { records.count }

    init(firstSlot: UInt32, records: [EdgeRecord]) {
        self.firstSlot = firstSlot
        self.records = records
        self.bySource = NodeIndex(records.map(\.source))
        self.byTarget = NodeIndex(records.map(\.target))
    }

    /// The same edges at other slots (after a compaction renumbered the base).
    init(rebasing chunk: DeltaChunk, firstSlot: UInt32) {
        self.firstSlot = firstSlot
        self.records = chunk.records
        self.bySource = chunk.bySource
        self.byTarget = chunk.byTarget
    }

    /// Small chunks grow by copying rather than multiplying, which bounds the
    /// number of chunks a reader scans.
    static let mergeBelow = 4096
}

/// Positions grouped by node, as three flat arrays (no per-node allocation):
/// sorted distinct nodes, offsets into `positions`, and the positions.
struct NodeIndex: Sendable {
    private let nodes: [UInt32]
    private let offsets: [UInt32]
    private let positions: [UInt32]

    init(_ keys: [UInt32]) {
        let order = Self.stableOrder(of: keys)
        var nodes: [UInt32] = [], offsets: [UInt32] = []
        for (i, position) in order.enumerated() where nodes.last != keys[Int(position)] {
            nodes.append(keys[Int(position)])
            offsets.append(UInt32(i))
        }
        offsets.append(UInt32(order.count))
        self.nodes = nodes
        self.offsets = offsets
        self.positions = order
    }

    /// Positions 0..<keys.count ordered by key, equal keys in position order.
    /// An LSD radix sort on the key's significant bytes: ingest builds two of
    /// these per batch, and a comparison sort cost more than the rest of the index.
    static func stableOrder(of keys: [UInt32]) -> [UInt32] {
        let count = keys.count
        if count < 256 {
            var packed = keys.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }
            packed.sort()
            return packed.map { UInt32(truncatingIfNeeded: $0) }
        }
        var order = [UInt32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = UInt32(i) }
            initialized = count
        }
        var scratch = [UInt32](repeating: 0, count: count)
        let largest = keys.max() ?? 0
        var shift: UInt32 = 0
        keys.withUnsafeBufferPointer { keys in
            while shift < 32, shift == 0 || largest >> shift != 0 {
                var starts = [Int](repeating: 0, count: 257)
                order.withUnsafeBufferPointer { order in
                    for position in order { starts[Int((keys[Int(position)] >> shift) & 0xFF) + 1] += 1 }
                }
                for digit in 1...256 { starts[digit] += starts[digit - 1] }
                order.withUnsafeBufferPointer { order in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        for position in order {
                            let digit = Int((keys[Int(position)] >> shift) & 0xFF)
                            scratch[starts[digit]] = position
                            starts[digit] += 1
                        }
                    }
                }
                swap(&order, &scratch)
                shift += 8
            }
        }
        return order
    }

    /// The nodes that have entries, ascending.
    var keys: [UInt32] { nodes }

    /// Positions of `node`'s entries, in insertion order.
    subscript(node: UInt32) -> ArraySlice<UInt32> {
        var low = 0, high = nodes.count
        while low < high {
            let mid = (low + high) / 2
            if nodes[mid] < node { low = mid + 1 } else { high = mid }
        }
        guard low < nodes.count, nodes[low] == node else { return [] }
        return positions[Int(offsets[low])..<Int(offsets[low + 1])]
    }
}
