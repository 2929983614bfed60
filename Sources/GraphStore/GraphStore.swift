#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSQLite
import GraphCore

/// How hard a commit tries to reach the disk.
public enum StoreSynchronous: String, Sendable, CaseIterable {
    /// fsync the WAL on every commit: survives power loss. The default.
    case full
    /// fsync at checkpoints only: survives a process crash (kill -9), not power loss.
    case normal
}

/// The SQLite store of record (WAL mode). A `WritePlan` is committed as one
/// transaction; start-up reads everything back.
///
/// Not thread-safe: owned by the database actor.
final class GraphStore {
    /// Current schema version; `migrations[i]` moves a store from version i to i+1.
    static let schemaVersion = 3

    /// One schema step: SQL, then (for steps that move data) Swift code.
    struct Migration: Sendable {
        var sql: String
        var move: (@Sendable (GraphStore) throws(SQLiteError) -> Void)? = nil
    }

    static let migrations: [Migration] = [Migration(sql: 
        """
        CREATE TABLE node_types(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            feature_dim INTEGER NOT NULL DEFAULT 0,
            builtin INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE edge_types(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            directed INTEGER NOT NULL,
            source_type INTEGER REFERENCES node_types(id),
            target_type INTEGER REFERENCES node_types(id),
            builtin INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE attribute_names(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE);
        CREATE TABLE nodes(
            id INTEGER PRIMARY KEY,
            type INTEGER NOT NULL,
            key TEXT NOT NULL,
            text TEXT,
            features BLOB,
            UNIQUE(type, key));
        -- Edges are appended with increasing ids and located by id, so the table
        -- needs no secondary index: uniqueness of (type, source, target) is kept
        -- by the in-memory graph, which plans every write.
        CREATE TABLE edges(
            id INTEGER PRIMARY KEY,
            type INTEGER NOT NULL,
            source INTEGER NOT NULL,
            target INTEGER NOT NULL,
            weight REAL NOT NULL,
            ts INTEGER NOT NULL,
            attrs BLOB);
        """),
        // v2: named documents (router model, LLM catalogue) committed with the graph writes.
        Migration(sql: """
        CREATE TABLE documents(
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL);
        """),
        // v3: edges stored as one segment row per write batch (EdgeSegment), and
        // no (type, key) index on nodes: the in-memory node table keeps keys
        // unique, and the index cost more than the row on every new node.
        Migration(sql: """
        CREATE TABLE edge_segments(
            first_id INTEGER PRIMARY KEY,
            count INTEGER NOT NULL,
            live INTEGER NOT NULL,
            data BLOB NOT NULL);
        CREATE TABLE removed_edges(id INTEGER PRIMARY KEY);
        CREATE TABLE nodes_v3(
            id INTEGER PRIMARY KEY,
            type INTEGER NOT NULL,
            key TEXT NOT NULL,
            text TEXT,
            features BLOB);
        INSERT INTO nodes_v3(id, type, key, text, features) SELECT id, type, key, text, features FROM nodes;
        DROP TABLE nodes;
        ALTER TABLE nodes_v3 RENAME TO nodes;
        """, move: { store throws(SQLiteError) in try store.moveEdgeRowsIntoSegments() }),
    ]

    let connection: SQLiteConnection
    private var statements: [String: SQLiteStatement] = [:]
    /// The stored edge segments; changed only after a commit succeeds.
    private var segments = EdgeSegmentIndex()

    /// Opens (creating if missing) the store at `path` and migrates it to
    /// `version` (the current one but in migration tests).
    init(path: String, synchronous: StoreSynchronous = .full, migratingTo version: Int = GraphStore.schemaVersion) throws(SQLiteError) {
        connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try connection.execute("PRAGMA foreign_keys=ON")
        // 16 MiB of page cache: enough for batched inserts; the start-up scan is sequential.
        try connection.execute("PRAGMA cache_size=-16384")
        try migrate(to: version)
        if version >= 3 { try loadSegmentIndex() }
    }

    var userVersion: Int { Int((try? connection.scalarInt("PRAGMA user_version")) ?? 0) }

    private func migrate(to target: Int) throws(SQLiteError) {
        let version = userVersion
        guard version <= Self.schemaVersion else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "store schema version \(version) is newer than this graphd (\(Self.schemaVersion)); upgrade graphd", context: "open")
        }
        guard version < target else { return }
        do {
            try connection.transaction {
                for step in version..<target {
                    try connection.execute(Self.migrations[step].sql)
                    try Self.migrations[step].move?(self)
                }
                if version == 0 { try writeSchema(.builtin()) }
                try connection.execute("PRAGMA user_version=\(target)")
            }
        } catch let error as SQLiteError {
            throw error
        } catch {
            throw SQLiteError(code: SQLITE_ERROR, message: "\(error)", context: "migrate")
        }
    }

    private func writeSchema(_ schema: GraphSchema) throws(SQLiteError) {
        for info in schema.nodeTypes { try upsert(info) }
        for info in schema.edgeTypes { try upsert(info) }
    }

    private func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        let statement = try connection.prepare(sql)
        statements[sql] = statement
        return statement
    }

    private func upsert(_ info: NodeTypeInfo) throws(SQLiteError) {
        let s = try statement("INSERT OR REPLACE INTO node_types(id, name, feature_dim, builtin) VALUES (?, ?, ?, ?)")
        s.bind(1, Int64(info.id)); s.bind(2, info.name); s.bind(3, Int64(info.featureDimension)); s.bind(4, Int64(info.builtin ? 1 : 0))
        try s.run()
    }

    private func upsert(_ info: EdgeTypeInfo) throws(SQLiteError) {
        let s = try statement("INSERT OR REPLACE INTO edge_types(id, name, directed, source_type, target_type, builtin) VALUES (?, ?, ?, ?, ?, ?)")
        s.bind(1, Int64(info.id)); s.bind(2, info.name); s.bind(3, Int64(info.directed ? 1 : 0))
        if let source = info.sourceType { s.bind(4, Int64(source)) } else { s.bind(4, nil as String?) }
        if let target = info.targetType { s.bind(5, Int64(target)) } else { s.bind(5, nil as String?) }
        s.bind(6, Int64(info.builtin ? 1 : 0))
        try s.run()
    }

    // MARK: Commit

    /// Commits a plan as one transaction: all of it or, on any error, none of it.
    func commit(_ plan: WritePlan) throws(SQLiteError) {
        guard !plan.isEmpty else { return }
        var changes = SegmentChanges()
        do {
            try connection.transaction { try write(plan, segmentChanges: &changes) }
        } catch let error as SQLiteError {
            throw error
        } catch {
            throw SQLiteError(code: SQLITE_ERROR, message: "\(error)", context: "commit")
        }
        // Committed: now the index may follow (positions are from before the drops).
        for (position, entry) in changes.changed { segments[position] = entry }
        segments.remove(firstIDs: changes.dropped)
        for entry in changes.appended { segments.append(entry) }
    }

    /// What a transaction does to the segment index, applied once it commits.
    private struct SegmentChanges {
        var changed: [Int: EdgeSegmentIndex.Entry] = [:]
        var dropped: Set<Int64> = []
        var appended: [EdgeSegmentIndex.Entry] = []
    }

    private func write(_ plan: WritePlan, segmentChanges: inout SegmentChanges) throws(SQLiteError) {
        for (name, value) in plan.documents {
            if let value {
                let s = try statement("INSERT INTO documents(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
                s.bind(1, name); s.bind(2, blob: value)
                try s.run()
            } else {
                let s = try statement("DELETE FROM documents WHERE name = ?")
                s.bind(1, name)
                try s.run()
            }
        }
        for info in plan.newNodeTypes { try upsert(info) }
        for info in plan.changedNodeTypes { try upsert(info) }
        for info in plan.newEdgeTypes { try upsert(info) }
        if !plan.newAttributes.isEmpty {
            let s = try statement("INSERT INTO attribute_names(id, name) VALUES (?, ?)")
            for (id, name) in plan.newAttributes {
                s.bind(1, Int64(id)); s.bind(2, name)
                try s.run()
            }
        }
        if !plan.insertedNodes.isEmpty {
            let s = try statement("INSERT INTO nodes(id, type, key, text, features) VALUES (?, ?, ?, ?, ?)")
            for node in plan.insertedNodes {
                s.bind(1, Int64(node.id)); s.bind(2, Int64(node.type)); s.bind(3, node.key); s.bind(4, node.text)
                s.bind(5, blob: node.features.map(Self.encode(features:)))
                try s.run()
            }
        }
        for node in plan.updatedNodes {
            if let text = node.text {
                let s = try statement("UPDATE nodes SET text = ? WHERE id = ?")
                s.bind(1, text); s.bind(2, Int64(node.id))
                try s.run()
            }
            if let features = node.features {
                let s = try statement("UPDATE nodes SET features = ? WHERE id = ?")
                s.bind(1, blob: Self.encode(features: features)); s.bind(2, Int64(node.id))
                try s.run()
            }
        }
        if !plan.removedEdges.isEmpty { try removeFromSegments(plan.removedEdges.map(\.record.id), changes: &segmentChanges) }
        if !plan.removedNodes.isEmpty {
            let s = try statement("DELETE FROM nodes WHERE id = ?")
            for id in plan.removedNodes {
                s.bind(1, Int64(id))
                try s.run()
            }
        }
        if !plan.insertedEdges.isEmpty { try appendSegments(plan.insertedEdges, changes: &segmentChanges) }
    }

    // MARK: Edge segments

    /// Stores new edges as segments: one per run of increasing ids (a plan is one run).
    private func appendSegments(_ records: [EdgeRecord], changes: inout SegmentChanges) throws(SQLiteError) {
        let insert = try statement("INSERT INTO edge_segments(first_id, count, live, data) VALUES (?, ?, ?, ?)")
        var start = 0
        while start < records.count {
            let firstID = records[start].id
            if let last = changes.appended.last ?? segments.entries.last, firstID <= last.firstID {
                throw SQLiteError(code: SQLITE_INTERNAL, message: "edge id \(firstID) is not above the last stored segment (\(last.firstID))", context: "commit")
            }
            var end = start + 1
            while end < records.count, records[end].id > records[end - 1].id, records[end].id - firstID <= Int64(UInt32.max) { end += 1 }
            let run = records[start..<end]
            insert.bind(1, firstID); insert.bind(2, Int64(run.count)); insert.bind(3, Int64(run.count))
            insert.bind(4, blob: EdgeSegment.encode(run, firstID: firstID))
            try insert.run()
            changes.appended.append(.init(firstID: firstID, count: run.count, live: run.count))
            start = end
        }
    }

    /// Records removed edges. A segment with no live edge left is dropped; one
    /// with at most half its edges live (and at least 64 dead) is rewritten
    /// without them; otherwise the ids go to `removed_edges`.
    private func removeFromSegments(_ ids: [Int64], changes: inout SegmentChanges) throws(SQLiteError) {
        var bySegment: [Int: [Int64]] = [:]
        for id in ids {
            guard let position = segments.position(of: id) else {
                throw SQLiteError(code: SQLITE_CORRUPT, message: "edge \(id) is in no stored segment", context: "commit")
            }
            bySegment[position, default: []].append(id)
        }
        for (position, removed) in bySegment.sorted(by: { $0.key < $1.key }) {
            var entry = segments[position]
            let end = position + 1 < segments.entries.count ? segments[position + 1].firstID : Int64.max
            entry.live -= removed.count
            if entry.live <= 0 {
                let drop = try statement("DELETE FROM edge_segments WHERE first_id = ?")
                drop.bind(1, entry.firstID)
                try drop.run()
                try deleteRemovedIDs(from: entry.firstID, to: end)
                changes.dropped.insert(entry.firstID)
                continue
            }
            let add = try statement("INSERT INTO removed_edges(id) VALUES (?)")
            for id in removed {
                add.bind(1, id)
                try add.run()
            }
            if entry.live * 2 <= entry.count, entry.count - entry.live >= 64 {
                entry.count = try rewriteSegment(firstID: entry.firstID, end: end)
                entry.live = entry.count
            } else {
                let update = try statement("UPDATE edge_segments SET live = ? WHERE first_id = ?")
                update.bind(1, Int64(entry.live)); update.bind(2, entry.firstID)
                try update.run()
            }
            changes.changed[position] = entry
        }
    }

    /// Rewrites a segment without its removed edges; returns how many it keeps.
    private func rewriteSegment(firstID: Int64, end: Int64) throws(SQLiteError) -> Int {
        var removed = Set<Int64>()
        let query = try statement("SELECT id FROM removed_edges WHERE id >= ? AND id < ?")
        query.bind(1, firstID); query.bind(2, end)
        defer { query.reset() }
        while try query.step() { removed.insert(query.int64(0)) }
        let read = try statement("SELECT data FROM edge_segments WHERE first_id = ?")
        read.bind(1, firstID)
        defer { read.reset() }
        guard try read.step(), let blob = read.blob(0) else {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "segment \(firstID) vanished", context: "commit")
        }
        var kept: [EdgeRecord] = []
        do {
            try EdgeSegment.decode(blob, firstID: firstID) { record in
                if !removed.contains(record.id) { kept.append(record) }
            }
        } catch {
            throw SQLiteError(code: SQLITE_CORRUPT, message: "segment \(firstID): \(error)", context: "commit")
        }
        let update = try statement("UPDATE edge_segments SET count = ?, live = ?, data = ? WHERE first_id = ?")
        update.bind(1, Int64(kept.count)); update.bind(2, Int64(kept.count))
        update.bind(3, blob: EdgeSegment.encode(kept, firstID: firstID)); update.bind(4, firstID)
        try update.run()
        try deleteRemovedIDs(from: firstID, to: end)
        return kept.count
    }

    private func deleteRemovedIDs(from start: Int64, to end: Int64) throws(SQLiteError) {
        let delete = try statement("DELETE FROM removed_edges WHERE id >= ? AND id < ?")
        delete.bind(1, start); delete.bind(2, end)
        try delete.run()
    }

    private func loadSegmentIndex() throws(SQLiteError) {
        var index = EdgeSegmentIndex()
        let rows = try connection.prepare("SELECT first_id, count, live FROM edge_segments ORDER BY first_id")
        while try rows.step() {
            index.append(.init(firstID: rows.int64(0), count: Int(rows.int64(1)), live: Int(rows.int64(2))))
        }
        segments = index
    }

    /// v3 migration: the v1 edge rows, in id order, become segments.
    private func moveEdgeRowsIntoSegments() throws(SQLiteError) {
        let rows = try connection.prepare("SELECT id, type, source, target, weight, ts, attrs FROM edges ORDER BY id")
        var run: [EdgeRecord] = []
        var changes = SegmentChanges()
        func flush() throws(SQLiteError) {
            guard !run.isEmpty else { return }
            try appendSegments(run, changes: &changes)
            for entry in changes.appended { segments.append(entry) }
            changes.appended = []
            run.removeAll(keepingCapacity: true)
        }
        while try rows.step() {
            let id = rows.int64(0)
            if let first = run.first, run.count >= 65_536 || id - first.id > Int64(UInt32.max) { try flush() }
            run.append(EdgeRecord(id: id, type: EdgeTypeID(truncatingIfNeeded: rows.int64(1)),
                                  source: UInt32(truncatingIfNeeded: rows.int64(2)), target: UInt32(truncatingIfNeeded: rows.int64(3)),
                                  weight: Float(rows.double(4)), timestampMs: rows.int64(5),
                                  attributes: rows.blob(6).map { Self.decodeAttributes($0) } ?? []))
        }
        try flush()
        try connection.execute("DROP TABLE edges")
    }

    // MARK: Load

    /// Every stored document, by name.
    func loadDocuments() throws(SQLiteError) -> [String: [UInt8]] {
        var documents: [String: [UInt8]] = [:]
        let rows = try connection.prepare("SELECT name, value FROM documents")
        while try rows.step() {
            documents[rows.string(0) ?? ""] = rows.blob(1).map { Array($0) } ?? []
        }
        return documents
    }

    struct Loaded {
        var schema: GraphSchema
        var nodes: [NodeRecord]
        var columns: EdgeColumns
        var sources: [UInt32]
        var targets: [UInt32]
        /// Above every edge id the store has used, removed ones included.
        var nextEdgeID: Int64
    }

    /// Reads the whole graph back, validating what it reads.
    func load() throws -> Loaded {
        var schema = GraphSchema()
        let nodeTypes = try connection.prepare("SELECT id, name, feature_dim, builtin FROM node_types ORDER BY id")
        while try nodeTypes.step() {
            let id = nodeTypes.int64(0)
            guard id == Int64(schema.nodeTypes.count) else { throw corrupt("node type ids are not dense at \(id)") }
            schema.insert(NodeTypeInfo(id: NodeTypeID(id), name: nodeTypes.string(1) ?? "",
                                       featureDimension: Int(nodeTypes.int64(2)), builtin: nodeTypes.int64(3) != 0))
        }
        let edgeTypes = try connection.prepare("SELECT id, name, directed, source_type, target_type, builtin FROM edge_types ORDER BY id")
        while try edgeTypes.step() {
            let id = edgeTypes.int64(0)
            guard id == Int64(schema.edgeTypes.count) else { throw corrupt("edge type ids are not dense at \(id)") }
            schema.insert(EdgeTypeInfo(
                id: EdgeTypeID(id), name: edgeTypes.string(1) ?? "", directed: edgeTypes.int64(2) != 0,
                sourceType: edgeTypes.isNull(3) ? nil : NodeTypeID(edgeTypes.int64(3)),
                targetType: edgeTypes.isNull(4) ? nil : NodeTypeID(edgeTypes.int64(4)), builtin: edgeTypes.int64(5) != 0))
        }
        let attributes = try connection.prepare("SELECT id, name FROM attribute_names ORDER BY id")
        while try attributes.step() {
            guard attributes.int64(0) == Int64(schema.attributeNames.count) else { throw corrupt("attribute ids are not dense") }
            _ = schema.insertAttribute(attributes.string(1) ?? "")
        }

        var nodes: [NodeRecord] = []
        nodes.reserveCapacity(Int(try connection.scalarInt("SELECT count(*) FROM nodes")))
        let nodeRows = try connection.prepare("SELECT id, type, key, text, features FROM nodes ORDER BY id")
        while try nodeRows.step() {
            let id = nodeRows.int64(0), type = nodeRows.int64(1)
            guard id >= 0, id < Int64(GraphLimits.maxNodes), type >= 0, type < Int64(schema.nodeTypes.count) else {
                throw corrupt("node row \(id) has an invalid id or type \(type)")
            }
            let features = nodeRows.blob(4).map { Self.decodeFeatures($0) }
            nodes.append(NodeRecord(id: UInt32(id), type: NodeTypeID(type), key: nodeRows.string(2) ?? "",
                                    text: nodeRows.string(3), features: features))
        }
        let nodeLimit = Int64(nodes.last.map { Int($0.id) + 1 } ?? 0)

        let edgeCount = Int(try connection.scalarInt("SELECT coalesce(sum(live), 0) FROM edge_segments"))
        var columns = EdgeColumns()
        columns.reserveCapacity(edgeCount)
        var sources: [UInt32] = [], targets: [UInt32] = []
        sources.reserveCapacity(edgeCount)
        targets.reserveCapacity(edgeCount)
        var removed: [Int64] = []
        let removedRows = try connection.prepare("SELECT id FROM removed_edges ORDER BY id")
        while try removedRows.step() { removed.append(removedRows.int64(0)) }
        // Ids only grow: the next one is above every id a segment or tombstone holds.
        var highestID: Int64 = removed.last ?? 0
        var nextRemoved = 0
        let segmentRows = try connection.prepare("SELECT first_id, count, live, data FROM edge_segments ORDER BY first_id")
        while try segmentRows.step() {
            let firstID = segmentRows.int64(0), count = segmentRows.int64(1), live = segmentRows.int64(2)
            var seen: Int64 = 0, kept: Int64 = 0
            do {
                try EdgeSegment.decode(segmentRows.blob(3) ?? UnsafeRawBufferPointer(start: nil, count: 0), firstID: firstID) { record in
                    seen += 1
                    highestID = max(highestID, record.id)
                    while nextRemoved < removed.count, removed[nextRemoved] < record.id { nextRemoved += 1 }
                    if nextRemoved < removed.count, removed[nextRemoved] == record.id { return }
                    guard Int(record.type) < schema.edgeTypes.count, Int64(record.source) < nodeLimit, Int64(record.target) < nodeLimit else {
                        throw corrupt("edge \(record.id) refers to an unknown type or node")
                    }
                    kept += 1
                    if !record.attributes.isEmpty { columns.attributes[UInt32(columns.count)] = record.attributes }
                    columns.ids.append(record.id)
                    columns.types.append(record.type)
                    columns.weights.append(record.weight)
                    columns.timestamps.append(record.timestampMs)
                    sources.append(record.source)
                    targets.append(record.target)
                }
            } catch let error as EdgeSegment.Malformed {
                throw corrupt("edge segment \(firstID) is malformed: \(error.reason)")
            }
            guard seen == count, kept == live else {
                throw corrupt("edge segment \(firstID) holds \(seen) edges with \(kept) live; its row says \(count) with \(live) live")
            }
            highestID = max(highestID, firstID)
        }
        // The scan filled the page cache with rows that now live in memory.
        try? connection.execute("PRAGMA shrink_memory")
        return Loaded(schema: schema, nodes: nodes, columns: columns, sources: sources, targets: targets, nextEdgeID: highestID + 1)
    }

    private func corrupt(_ message: String) -> GraphError {
        GraphError(.dataLoss, "store \(connection.path) is inconsistent: \(message)")
    }

    /// Bytes of the database file and its WAL.
    var byteCount: Int64 {
        let pages = (try? connection.scalarInt("PRAGMA page_count")) ?? 0
        let pageSize = (try? connection.scalarInt("PRAGMA page_size")) ?? 0
        var wal: Int64 = 0
        var info = stat()
        if stat(connection.path + "-wal", &info) == 0 { wal = Int64(info.st_size) }
        return pages * pageSize + wal
    }

    // MARK: Encoding

    static func encode(features: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(features.count * 4)
        for value in features { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    static func decodeFeatures(_ blob: UnsafeRawBufferPointer) -> [Float] {
        (0..<(blob.count / 4)).map { Float(bitPattern: UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }

    /// Attributes: (id: UInt16 LE, value: Float64 LE) pairs.
    static func encode(attributes: [EdgeAttribute]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(attributes.count * 10)
        for attribute in attributes {
            withUnsafeBytes(of: attribute.id.littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: attribute.value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    static func decodeAttributes(_ blob: UnsafeRawBufferPointer) -> [EdgeAttribute] {
        (0..<(blob.count / 10)).map { i in
            EdgeAttribute(id: UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: i * 10, as: UInt16.self)),
                          value: Double(bitPattern: UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: i * 10 + 2, as: UInt64.self))))
        }
    }
}
