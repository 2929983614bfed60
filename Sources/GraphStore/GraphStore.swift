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
    static let schemaVersion = 4

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
        // v4: nodes stored as segments too (NodeSegment): ingest creates a node at
        // each new key, and a row per node cost as much as the edges' segments.
        Migration(sql: """
        CREATE TABLE node_segments(
            first_id INTEGER PRIMARY KEY,
            count INTEGER NOT NULL,
            live INTEGER NOT NULL,
            data BLOB NOT NULL);
        CREATE TABLE removed_nodes(id INTEGER PRIMARY KEY);
        -- Text and features set after a node was created; laid over its segment.
        CREATE TABLE node_updates(
            id INTEGER PRIMARY KEY,
            text TEXT,
            features BLOB);
        """, move: { store throws(SQLiteError) in try store.moveNodeRowsIntoSegments() }),
    ]

    let connection: SQLiteConnection
    /// Checkpoints the log off the writer's commits; nil where a second
    /// connection could not be opened (SQLite's automatic checkpoints then).
    let checkpointer: WALCheckpointer?
    private let edges: SegmentedTable<EdgeSegment>
    private let nodes: SegmentedTable<NodeSegment>

    /// When a commit is durable: every commit fsynced (full), or at checkpoints (normal).
    func setSynchronous(_ synchronous: StoreSynchronous) throws(SQLiteError) {
        try connection.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
    }

    /// Opens (creating if missing) the store at `path` and migrates it to
    /// `version` (the current one but in migration tests).
    init(path: String, synchronous: StoreSynchronous = .full, migratingTo version: Int = GraphStore.schemaVersion) throws(SQLiteError) {
        connection = try SQLiteConnection(path: path)
        edges = SegmentedTable(connection: connection)
        nodes = SegmentedTable(connection: connection)
        checkpointer = try? WALCheckpointer(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try setSynchronous(synchronous)
        try connection.execute("PRAGMA foreign_keys=ON")
        // 16 MiB of page cache: enough for batched inserts; the start-up scan is sequential.
        try connection.execute("PRAGMA cache_size=-16384")
        try migrate(to: version)
        if version >= 3 { try edges.loadIndex() }
        if version >= 4 { try nodes.loadIndex() }
        checkpointer?.attach(to: connection)
    }

    deinit { checkpointer?.detach(from: connection) }

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

    private func upsert(_ info: NodeTypeInfo) throws(SQLiteError) {
        let s = try connection.cached("INSERT OR REPLACE INTO node_types(id, name, feature_dim, builtin) VALUES (?, ?, ?, ?)")
        s.bind(1, Int64(info.id)); s.bind(2, info.name); s.bind(3, Int64(info.featureDimension)); s.bind(4, Int64(info.builtin ? 1 : 0))
        try s.run()
    }

    private func upsert(_ info: EdgeTypeInfo) throws(SQLiteError) {
        let s = try connection.cached("INSERT OR REPLACE INTO edge_types(id, name, directed, source_type, target_type, builtin) VALUES (?, ?, ?, ?, ?, ?)")
        s.bind(1, Int64(info.id)); s.bind(2, info.name); s.bind(3, Int64(info.directed ? 1 : 0))
        if let source = info.sourceType { s.bind(4, Int64(source)) } else { s.bind(4, nil as String?) }
        if let target = info.targetType { s.bind(5, Int64(target)) } else { s.bind(5, nil as String?) }
        s.bind(6, Int64(info.builtin ? 1 : 0))
        try s.run()
    }

    // MARK: Commit

    /// Commits a plan as one transaction: all of it or, on any error, none of it.
    func commit(_ plan: WritePlan) throws(SQLiteError) {
        do {
            _ = try commit(plan, finishingWith: { [] })
        } catch let error as SQLiteError {
            throw error
        } catch {
            throw SQLiteError(code: SQLITE_ERROR, message: "\(error)", context: "commit")
        }
    }

    /// Commits `plan` and the documents `last` returns in one transaction:
    /// `last` runs once the plan's rows are written (a replicating primary
    /// waits there for the log's acknowledgement, whose position it stores),
    /// and anything it throws rolls the whole batch back. Returns those documents.
    func commit(_ plan: WritePlan, finishingWith last: () throws -> [(name: String, value: [UInt8]?)]) throws
        -> [(name: String, value: [UInt8]?)] {
        guard !plan.isEmpty else { return [] }
        let documents: [(name: String, value: [UInt8]?)]
        do {
            documents = try connection.transaction {
                try write(plan)
                let documents = try last()
                try write(documents: documents)
                return documents
            }
        } catch {
            edges.rolledBack()
            nodes.rolledBack()
            throw error
        }
        edges.committed()
        nodes.committed()
        return documents
    }

    private func write(documents: [(name: String, value: [UInt8]?)]) throws(SQLiteError) {
        for (name, value) in documents {
            if let value {
                let s = try connection.cached("INSERT INTO documents(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
                s.bind(1, name); s.bind(2, blob: value)
                try s.run()
            } else {
                let s = try connection.cached("DELETE FROM documents WHERE name = ?")
                s.bind(1, name)
                try s.run()
            }
        }
    }

    private func write(_ plan: WritePlan) throws(SQLiteError) {
        try write(documents: plan.documents)
        for info in plan.newNodeTypes { try upsert(info) }
        for info in plan.changedNodeTypes { try upsert(info) }
        for info in plan.newEdgeTypes { try upsert(info) }
        if !plan.newAttributes.isEmpty {
            let s = try connection.cached("INSERT INTO attribute_names(id, name) VALUES (?, ?)")
            for (id, name) in plan.newAttributes {
                s.bind(1, Int64(id)); s.bind(2, name)
                try s.run()
            }
        }
        if !plan.insertedNodes.isEmpty { try nodes.append(plan.insertedNodes) }
        if !plan.updatedNodes.isEmpty {
            // Only what the update sets changes; the rest keeps its stored value.
            let s = try connection.cached("""
                INSERT INTO node_updates(id, text, features) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET
                    text = coalesce(excluded.text, text), features = coalesce(excluded.features, features)
                """)
            for node in plan.updatedNodes where node.text != nil || node.features != nil {
                s.bind(1, Int64(node.id)); s.bind(2, node.text); s.bind(3, blob: node.features.map(Self.encode(features:)))
                try s.run()
            }
        }
        if !plan.removedEdges.isEmpty { try edges.remove(plan.removedEdges.map(\.record.id)) }
        if !plan.removedNodes.isEmpty {
            try nodes.remove(plan.removedNodes.map { Int64($0) })
            let s = try connection.cached("DELETE FROM node_updates WHERE id = ?")
            for id in plan.removedNodes {
                s.bind(1, Int64(id))
                try s.run()
            }
        }
        if !plan.insertedEdges.isEmpty { try edges.append(plan.insertedEdges) }
    }

    /// v3 migration: the v1 edge rows, in id order, become segments.
    private func moveEdgeRowsIntoSegments() throws(SQLiteError) {
        try edges.moveRows("SELECT id, type, source, target, weight, ts, attrs FROM edges ORDER BY id") { rows in
            EdgeRecord(id: rows.int64(0), type: EdgeTypeID(truncatingIfNeeded: rows.int64(1)),
                       source: UInt32(truncatingIfNeeded: rows.int64(2)), target: UInt32(truncatingIfNeeded: rows.int64(3)),
                       weight: Float(rows.double(4)), timestampMs: rows.int64(5),
                       attributes: rows.blob(6).map { Self.decodeAttributes($0) } ?? [])
        }
        try connection.execute("DROP TABLE edges")
    }

    /// v4 migration: the node rows, in id order, become segments.
    private func moveNodeRowsIntoSegments() throws(SQLiteError) {
        try nodes.moveRows("SELECT id, type, key, text, features FROM nodes ORDER BY id") { rows in
            NodeRecord(id: UInt32(truncatingIfNeeded: rows.int64(0)), type: NodeTypeID(truncatingIfNeeded: rows.int64(1)),
                       key: rows.string(2) ?? "", text: rows.string(3), features: rows.blob(4).map { Self.decodeFeatures($0) })
        }
        try connection.execute("DROP TABLE nodes")
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
        /// Live nodes in id order.
        var nodes: [NodeRecord]
        /// Above every node id the store has used, removed ones included.
        var nodeIDCount: Int
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
        nodes.reserveCapacity(self.nodes.index.liveCount)
        let nodeIDCount = try self.nodes.scan { record in
            guard Int(record.type) < schema.nodeTypes.count else { throw corrupt("node \(record.id) has an unknown type \(record.type)") }
            nodes.append(record)
        }
        try layUpdates(over: &nodes)
        guard nodeIDCount <= Int64(GraphLimits.maxNodes) else { throw corrupt("node ids reach \(nodeIDCount)") }

        let edgeCount = edges.index.liveCount
        var columns = EdgeColumns()
        columns.reserveCapacity(edgeCount)
        var sources: [UInt32] = [], targets: [UInt32] = []
        sources.reserveCapacity(edgeCount)
        targets.reserveCapacity(edgeCount)
        let nextEdgeID = try edges.scan { record in
            guard Int(record.type) < schema.edgeTypes.count, Int64(record.source) < nodeIDCount, Int64(record.target) < nodeIDCount else {
                throw corrupt("edge \(record.id) refers to an unknown type or node")
            }
            if !record.attributes.isEmpty { columns.attributes[UInt32(columns.count)] = record.attributes }
            columns.ids.append(record.id)
            columns.types.append(record.type)
            columns.weights.append(record.weight)
            columns.timestamps.append(record.timestampMs)
            sources.append(record.source)
            targets.append(record.target)
        }
        // The scan filled the page cache with rows that now live in memory.
        try? connection.execute("PRAGMA shrink_memory")
        return Loaded(schema: schema, nodes: nodes, nodeIDCount: Int(nodeIDCount), columns: columns,
                      sources: sources, targets: targets, nextEdgeID: nextEdgeID)
    }

    /// Sets the text and features that `node_updates` holds on `nodes` (sorted by id).
    private func layUpdates(over nodes: inout [NodeRecord]) throws {
        let rows = try connection.prepare("SELECT id, text, features FROM node_updates ORDER BY id")
        var position = 0
        while try rows.step() {
            let id = rows.int64(0)
            while position < nodes.count, Int64(nodes[position].id) < id { position += 1 }
            guard position < nodes.count, Int64(nodes[position].id) == id else { throw corrupt("node_updates names node \(id), which is not stored") }
            if let text = rows.string(1) { nodes[position].text = text }
            if let features = rows.blob(2) { nodes[position].features = Self.decodeFeatures(features) }
        }
    }

    private func corrupt(_ message: String) -> GraphError { connection.inconsistency(message) }

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
