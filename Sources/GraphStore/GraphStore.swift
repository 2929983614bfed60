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
    static let schemaVersion = 2

    static let migrations: [String] = [
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
        """,
        // v2: named documents (router model, LLM catalogue) committed with the graph writes.
        """
        CREATE TABLE documents(
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL);
        """,
    ]

    let connection: SQLiteConnection
    private var statements: [String: SQLiteStatement] = [:]

    init(path: String, synchronous: StoreSynchronous = .full) throws(SQLiteError) {
        connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try connection.execute("PRAGMA foreign_keys=ON")
        // 16 MiB of page cache: enough for batched inserts; the start-up scan is sequential.
        try connection.execute("PRAGMA cache_size=-16384")
        try migrate()
    }

    var userVersion: Int { Int((try? connection.scalarInt("PRAGMA user_version")) ?? 0) }

    private func migrate() throws(SQLiteError) {
        let version = userVersion
        guard version <= Self.schemaVersion else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "store schema version \(version) is newer than this graphd (\(Self.schemaVersion)); upgrade graphd", context: "open")
        }
        guard version < Self.schemaVersion else { return }
        do {
            try connection.transaction {
                for step in version..<Self.schemaVersion {
                    try connection.execute(Self.migrations[step])
                }
                if version == 0 { try writeSchema(.builtin()) }
                try connection.execute("PRAGMA user_version=\(Self.schemaVersion)")
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
        do {
            try connection.transaction { try write(plan) }
        } catch let error as SQLiteError {
            throw error
        } catch {
            throw SQLiteError(code: SQLITE_ERROR, message: "\(error)", context: "commit")
        }
    }

    private func write(_ plan: WritePlan) throws(SQLiteError) {
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
        if !plan.removedEdges.isEmpty {
            let s = try statement("DELETE FROM edges WHERE id = ?")
            for edge in plan.removedEdges {
                s.bind(1, edge.record.id)
                try s.run()
            }
        }
        if !plan.removedNodes.isEmpty {
            let s = try statement("DELETE FROM nodes WHERE id = ?")
            for id in plan.removedNodes {
                s.bind(1, Int64(id))
                try s.run()
            }
        }
        if !plan.insertedEdges.isEmpty {
            let s = try statement("INSERT INTO edges(id, type, source, target, weight, ts, attrs) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for edge in plan.insertedEdges {
                s.bind(1, edge.id); s.bind(2, Int64(edge.type)); s.bind(3, Int64(edge.source)); s.bind(4, Int64(edge.target))
                s.bind(5, Double(edge.weight)); s.bind(6, edge.timestampMs)
                s.bind(7, blob: edge.attributes.isEmpty ? nil : Self.encode(attributes: edge.attributes))
                try s.run()
            }
        }
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

        let edgeCount = Int(try connection.scalarInt("SELECT count(*) FROM edges"))
        var columns = EdgeColumns()
        columns.reserveCapacity(edgeCount)
        var sources: [UInt32] = [], targets: [UInt32] = []
        sources.reserveCapacity(edgeCount)
        targets.reserveCapacity(edgeCount)
        let edgeRows = try connection.prepare("SELECT id, type, source, target, weight, ts, attrs FROM edges ORDER BY id")
        while try edgeRows.step() {
            let type = edgeRows.int64(1), source = edgeRows.int64(2), target = edgeRows.int64(3)
            guard type >= 0, type < Int64(schema.edgeTypes.count), source >= 0, source < nodeLimit, target >= 0, target < nodeLimit else {
                throw corrupt("edge row \(edgeRows.int64(0)) refers to an unknown type or node")
            }
            if let blob = edgeRows.blob(6) { columns.attributes[UInt32(columns.count)] = Self.decodeAttributes(blob) }
            columns.ids.append(edgeRows.int64(0))
            columns.types.append(EdgeTypeID(type))
            columns.weights.append(Float(edgeRows.double(4)))
            columns.timestamps.append(edgeRows.int64(5))
            sources.append(UInt32(source))
            targets.append(UInt32(target))
        }
        // The scan filled the page cache with rows that now live in memory.
        try? connection.execute("PRAGMA shrink_memory")
        return Loaded(schema: schema, nodes: nodes, columns: columns, sources: sources, targets: targets)
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
