import CSQLite
import GraphCore

/// How one kind of record (edges, nodes) is stored as segments: one SQLite row
/// per write batch holding many records in a blob, instead of one row each, so
/// that a batch costs one B-tree insert and a few sequential pages of WAL.
///
/// A segment is keyed by the id of its first record; its records' ids are that
/// id plus a 32-bit offset, increasing. Ids are never reused, so an id belongs to
/// exactly one segment: the one with the largest first id not above it. Removed
/// records are listed in the removed table until their segment is rewritten or
/// dropped.
protocol SegmentCodec {
    associatedtype Record
    /// `CREATE TABLE <segmentTable>(first_id INTEGER PRIMARY KEY, count, live, data BLOB)`.
    static var segmentTable: String { get }
    /// `CREATE TABLE <removedTable>(id INTEGER PRIMARY KEY)`.
    static var removedTable: String { get }
    /// What a record is called in messages: "edge", "node".
    static var noun: String { get }
    static func id(of record: Record) -> Int64
    /// Encodes `records`, whose ids must be increasing and within 2³² of `firstID`.
    static func encode(_ records: some Collection<Record>, firstID: Int64) -> [UInt8]
    /// Calls `body` with each record of a segment in id order, skipping nothing;
    /// throws `MalformedSegment` when the blob is not a well-formed segment.
    static func decode(_ blob: UnsafeRawBufferPointer, firstID: Int64, _ body: (Record) throws -> Void) throws
}

/// A segment blob that cannot be decoded.
struct MalformedSegment: Error {
    var reason: String
}

/// Reads a segment blob's little-endian fields in order, checking bounds.
struct SegmentReader {
    let blob: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ blob: UnsafeRawBufferPointer, at offset: Int = 0) {
        self.blob = blob
        self.offset = offset
    }

    var remaining: Int { blob.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, what: @autoclosure () -> String) throws(MalformedSegment) -> T {
        guard remaining >= MemoryLayout<T>.size else { throw MalformedSegment(reason: "\(what()) is cut short") }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The next `count` bytes.
    mutating func bytes(_ count: Int, what: @autoclosure () -> String) throws(MalformedSegment) -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw MalformedSegment(reason: "\(what()) is cut short") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: blob[offset..<(offset + count)])
    }
}

/// Where each stored segment starts and how many of its records are live, kept
/// by the store so that removals find their segment without a query.
struct SegmentIndex {
    struct Entry: Equatable {
        var firstID: Int64
        var count: Int
        var live: Int
    }

    /// Sorted by `firstID`.
    private(set) var entries: [Entry] = []

    /// The position of the segment holding `id`, if any.
    func position(of id: Int64) -> Int? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].firstID <= id { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    mutating func append(_ entry: Entry) {
        precondition(entries.last.map { $0.firstID < entry.firstID } ?? true, "segments are appended in id order")
        entries.append(entry)
    }

    subscript(position: Int) -> Entry {
        get { entries[position] }
        set { entries[position] = newValue }
    }

    mutating func remove(firstIDs: Set<Int64>) {
        guard !firstIDs.isEmpty else { return }
        entries.removeAll { firstIDs.contains($0.firstID) }
    }

    var liveCount: Int { entries.reduce(0) { $0 + $1.live } }
}

/// One kind of record stored as segments, with the index of its segments.
/// Writes (`append`, `remove`) run inside the store's transaction and change
/// the index only when `committed()` is called after the commit.
///
/// Not thread-safe: owned by the store.
final class SegmentedTable<Codec: SegmentCodec> {
    private let connection: SQLiteConnection
    /// The stored segments; changed only after a commit succeeds.
    private(set) var index = SegmentIndex()
    /// What the open transaction does to the index.
    private var pending = PendingChanges()

    private struct PendingChanges {
        /// Positions are from before the drops.
        var changed: [Int: SegmentIndex.Entry] = [:]
        var dropped: Set<Int64> = []
        var appended: [SegmentIndex.Entry] = []
    }

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    private var table: String { Codec.segmentTable }

    func loadIndex() throws(SQLiteError) {
        var loaded = SegmentIndex()
        let rows = try connection.prepare("SELECT first_id, count, live FROM \(table) ORDER BY first_id")
        while try rows.step() {
            loaded.append(.init(firstID: rows.int64(0), count: Int(rows.int64(1)), live: Int(rows.int64(2))))
        }
        index = loaded
        pending = PendingChanges()
    }

    /// The transaction committed: the index follows it.
    func committed() {
        for (position, entry) in pending.changed { index[position] = entry }
        index.remove(firstIDs: pending.dropped)
        for entry in pending.appended { index.append(entry) }
        pending = PendingChanges()
    }

    /// The transaction rolled back: the index stays as it was.
    func rolledBack() {
        pending = PendingChanges()
    }

    // MARK: Writing

    /// Stores new records (ids increasing) as segments: one per run of ids
    /// within 2³² of its first (a write batch is one run).
    func append(_ records: [Codec.Record]) throws(SQLiteError) {
        let insert = try connection.cached("INSERT INTO \(table)(first_id, count, live, data) VALUES (?, ?, ?, ?)")
        var start = 0
        while start < records.count {
            let firstID = Codec.id(of: records[start])
            if let last = pending.appended.last ?? index.entries.last, firstID <= last.firstID {
                throw SQLiteError(code: SQLITE_INTERNAL, message: "\(Codec.noun) id \(firstID) is not above the last stored segment (\(last.firstID))", context: "commit")
            }
            var end = start + 1
            while end < records.count, Codec.id(of: records[end]) > Codec.id(of: records[end - 1]),
                  Codec.id(of: records[end]) - firstID <= Int64(UInt32.max) { end += 1 }
            let run = records[start..<end]
            insert.bind(1, firstID); insert.bind(2, Int64(run.count)); insert.bind(3, Int64(run.count))
            insert.bind(4, blob: Codec.encode(run, firstID: firstID))
            try insert.run()
            pending.appended.append(.init(firstID: firstID, count: run.count, live: run.count))
            start = end
        }
    }

    /// Records removed records. A segment with none live left is dropped; one
    /// with at most half live (and at least 64 dead) is rewritten without
    /// them; otherwise the ids go to the removed table. Once per transaction.
    func remove(_ ids: [Int64]) throws(SQLiteError) {
        var bySegment: [Int: [Int64]] = [:]
        for id in ids {
            guard let position = index.position(of: id) else {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "\(Codec.noun) \(id) is in no stored segment", context: "commit")
            }
            bySegment[position, default: []].append(id)
        }
        for (position, removed) in bySegment.sorted(by: { $0.key < $1.key }) {
            var entry = index[position]
            let end = position + 1 < index.entries.count ? index[position + 1].firstID : Int64.max
            entry.live -= removed.count
            if entry.live <= 0 {
                let drop = try connection.cached("DELETE FROM \(table) WHERE first_id = ?")
                drop.bind(1, entry.firstID)
                try drop.run()
                try deleteRemovedIDs(from: entry.firstID, to: end)
                pending.dropped.insert(entry.firstID)
                continue
            }
            let add = try connection.cached("INSERT INTO \(Codec.removedTable)(id) VALUES (?)")
            for id in removed {
                add.bind(1, id)
                try add.run()
            }
            if entry.live * 2 <= entry.count, entry.count - entry.live >= 64 {
                entry.count = try rewrite(firstID: entry.firstID, end: end)
                entry.live = entry.count
            } else {
                let update = try connection.cached("UPDATE \(table) SET live = ? WHERE first_id = ?")
                update.bind(1, Int64(entry.live)); update.bind(2, entry.firstID)
                try update.run()
            }
            pending.changed[position] = entry
        }
    }

    /// Rewrites a segment without its removed records; returns how many it keeps.
    private func rewrite(firstID: Int64, end: Int64) throws(SQLiteError) -> Int {
        var removed = Set<Int64>()
        let query = try connection.cached("SELECT id FROM \(Codec.removedTable) WHERE id >= ? AND id < ?")
        query.bind(1, firstID); query.bind(2, end)
        defer { query.reset() }
        while try query.step() { removed.insert(query.int64(0)) }
        let read = try connection.cached("SELECT data FROM \(table) WHERE first_id = ?")
        read.bind(1, firstID)
        defer { read.reset() }
        guard try read.step(), let blob = read.blob(0) else {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "\(Codec.noun) segment \(firstID) vanished", context: "commit")
        }
        var kept: [Codec.Record] = []
        do {
            try Codec.decode(blob, firstID: firstID) { record in
                if !removed.contains(Codec.id(of: record)) { kept.append(record) }
            }
        } catch {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "\(Codec.noun) segment \(firstID): \(error)", context: "commit")
        }
        let update = try connection.cached("UPDATE \(table) SET count = ?, live = ?, data = ? WHERE first_id = ?")
        update.bind(1, Int64(kept.count)); update.bind(2, Int64(kept.count))
        update.bind(3, blob: Codec.encode(kept, firstID: firstID)); update.bind(4, firstID)
        try update.run()
        try deleteRemovedIDs(from: firstID, to: end)
        return kept.count
    }

    private func deleteRemovedIDs(from start: Int64, to end: Int64) throws(SQLiteError) {
        let delete = try connection.cached("DELETE FROM \(Codec.removedTable) WHERE id >= ? AND id < ?")
        delete.bind(1, start); delete.bind(2, end)
        try delete.run()
    }

    /// Migration: rows of an older row-per-record table, read by `query` in id
    /// order and turned into records by `record`, become segments of at most
    /// 65,536 records. Runs inside the migration's transaction.
    func moveRows(_ query: String, record: (SQLiteStatement) -> Codec.Record) throws(SQLiteError) {
        let rows = try connection.prepare(query)
        var run: [Codec.Record] = []
        func flush() throws(SQLiteError) {
            guard !run.isEmpty else { return }
            try append(run)
            committed()
            run.removeAll(keepingCapacity: true)
        }
        while try rows.step() {
            let next = record(rows)
            if let first = run.first, run.count >= 65_536 || Codec.id(of: next) - Codec.id(of: first) > Int64(UInt32.max) {
                try flush()
            }
            run.append(next)
        }
        try flush()
    }

    // MARK: Reading

    /// Calls `body` with every live record in id order, checking each segment
    /// against its row; returns one above every id stored, removed ones
    /// included (so that ids are never handed out twice).
    func scan(_ body: (Codec.Record) throws -> Void) throws -> Int64 {
        var removed: [Int64] = []
        let removedRows = try connection.prepare("SELECT id FROM \(Codec.removedTable) ORDER BY id")
        while try removedRows.step() { removed.append(removedRows.int64(0)) }
        var highestID: Int64 = removed.last ?? -1
        var nextRemoved = 0
        let segmentRows = try connection.prepare("SELECT first_id, count, live, data FROM \(table) ORDER BY first_id")
        while try segmentRows.step() {
            let firstID = segmentRows.int64(0), count = segmentRows.int64(1), live = segmentRows.int64(2)
            var seen: Int64 = 0, kept: Int64 = 0
            do {
                try Codec.decode(segmentRows.blob(3) ?? UnsafeRawBufferPointer(start: nil, count: 0), firstID: firstID) { record in
                    let id = Codec.id(of: record)
                    seen += 1
                    highestID = max(highestID, id)
                    while nextRemoved < removed.count, removed[nextRemoved] < id { nextRemoved += 1 }
                    if nextRemoved < removed.count, removed[nextRemoved] == id { return }
                    kept += 1
                    try body(record)
                }
            } catch let error as MalformedSegment {
                throw connection.inconsistency("\(Codec.noun) segment \(firstID) is malformed: \(error.reason)")
            }
            guard seen == count, kept == live else {
                throw connection.inconsistency("\(Codec.noun) segment \(firstID) holds \(seen) \(Codec.noun)s with \(kept) live; its row says \(count) with \(live) live")
            }
            highestID = max(highestID, firstID)
        }
        return highestID + 1
    }
}

extension SQLiteConnection {
    /// The store holds something graphd never writes.
    func inconsistency(_ message: String) -> GraphError {
        GraphError(.dataLoss, "store \(path) is inconsistent: \(message)")
    }
}
