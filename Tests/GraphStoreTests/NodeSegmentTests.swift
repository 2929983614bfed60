import Foundation
import GraphCore
import Testing
@testable import GraphStore

/// One count straight from the store file (a second connection; WAL lets it read).
private func count(_ path: String, _ table: String) throws -> Int64 {
    try SQLiteConnection(path: path).scalarInt("SELECT count(*) FROM \(table)")
}

/// Every live node of a snapshot, by "type:key".
private func nodesByKey(_ snapshot: GraphSnapshot) -> [String: NodeRecord] {
    var result: [String: NodeRecord] = [:]
    for node in snapshot.nodeRecords(from: 0, limit: 1_000_000).nodes {
        result["\(snapshot.schema.nodeType(node.type).name):\(node.key)"] = node
    }
    return result
}

@Suite struct NodeSegmentTests {
    @Test func encodeDecodeRoundTrip() throws {
        let records = [
            NodeRecord(id: 40, type: 0, key: "alice"),
            NodeRecord(id: 41, type: 3, key: "", text: "", features: []),
            NodeRecord(id: 45, type: 65_534, key: "Zoë 🎬 \u{0}x", text: "a longer text\nwith lines", features: [1.5, -.infinity, 0]),
            NodeRecord(id: 40 + UInt32(1 << 20), type: 1, key: "k", text: nil, features: [2]),
        ]
        let blob = NodeSegment.encode(records, firstID: 40)
        var decoded: [NodeRecord] = []
        try blob.withUnsafeBytes { try NodeSegment.decode($0, firstID: 40) { decoded.append($0) } }
        #expect(decoded == records)
        // Keys only: no text or feature columns at all.
        let plain = NodeSegment.encode([NodeRecord(id: 7, type: 0, key: "abc")], firstID: 7)
        #expect(plain.count == NodeSegment.headerSize + 10 + 3)
        decoded = []
        try plain.withUnsafeBytes { try NodeSegment.decode($0, firstID: 7) { decoded.append($0) } }
        #expect(decoded == [NodeRecord(id: 7, type: 0, key: "abc")])
    }

    @Test func malformedSegmentsAreRefused() {
        let good = NodeSegment.encode([NodeRecord(id: 1, type: 0, key: "ab", text: "t"), NodeRecord(id: 2, type: 0, key: "cd")], firstID: 1)
        var longKey = good
        longKey[NodeSegment.headerSize + 2 * 4 + 2 * 2] = 200  // the first key length
        var backwards = good
        backwards[NodeSegment.headerSize + 4] = 0  // the second offset becomes 0
        let cases: [(String, [UInt8])] = [
            ("truncated header", [1, 0, 0]),
            ("count beyond the bytes", [255, 255, 255, 0, 0, 0, 0, 0]),
            ("unknown flag", [0, 0, 0, 0, 4, 0, 0, 0]),
            ("trailing bytes", good + [0]),
            ("cut short", Array(good.dropLast(1))),
            ("key length beyond the bytes", longKey),
            ("ids not increasing", backwards),
        ]
        for (name, blob) in cases {
            #expect(throws: MalformedSegment.self, "\(name)") {
                try blob.withUnsafeBytes { try NodeSegment.decode($0, firstID: 1) { _ in } }
            }
        }
    }

    /// Nodes added (with and without text and vectors), updated, removed and
    /// re-added across reopenings: the store gives back exactly what was written,
    /// ids of removed nodes are not handed out again, and removing every node
    /// leaves no segment, tombstone or update row behind.
    @Test func nodesSurviveUpdatesRemovalsAndReopening() async throws {
        let path = temporaryStorePath()
        var database: GraphDatabase? = try GraphDatabase(path: path)
        _ = try await database!.addNodes((0..<100).map { NodeInput(type: "user", key: "u\($0)") })
        _ = try await database!.addNodes([NodeInput(type: "item", key: "book", text: "A book", features: [1, 2, 3]),
                                          NodeInput(type: "item", key: "film")])
        // Updates of nodes stored in segments: text on one, a vector on another.
        _ = try await database!.addNodes([NodeInput(type: "user", key: "u5", text: "fifth"),
                                          NodeInput(type: "item", key: "film", features: [4, 5, 6]),
                                          NodeInput(type: "item", key: "book", text: "A better book")])
        _ = try await database!.removeNodes((90..<100).map { NodeRefInput(type: "user", key: "u\($0)") }
                                            + [NodeRefInput(type: "user", key: "u3")])
        let before = nodesByKey(database!.snapshot)
        let highestID = before.values.map(\.id).max() ?? 0
        #expect(before.count == 91)
        #expect(try count(path, "node_updates") == 3)
        #expect(try count(path, "removed_nodes") == 11)

        database = nil
        database = try GraphDatabase(path: path)
        let after = nodesByKey(database!.snapshot)
        #expect(after == before)
        #expect(after["user:u5"]?.text == "fifth")
        #expect(after["item:book"]?.text == "A better book" && after["item:book"]?.features == [1, 2, 3])
        #expect(after["item:film"]?.text == nil && after["item:film"]?.features == [4, 5, 6])
        #expect(after["user:u3"] == nil && after["user:u95"] == nil)

        // The removed ids at the top (u90…u99 sit below book and film, u3 lower
        // still) must not come back: a new node gets an id above all of them.
        _ = try await database!.addNodes([NodeInput(type: "user", key: "u3")])
        let readded = try #require(nodesByKey(database!.snapshot)["user:u3"])
        #expect(readded.id > highestID)
        database = nil
        database = try GraphDatabase(path: path)
        #expect(nodesByKey(database!.snapshot)["user:u3"] == readded)

        _ = try await database!.removeNodes(nodesByKey(database!.snapshot).keys.map { key in
            let parts = key.split(separator: ":", maxSplits: 1)
            return NodeRefInput(type: String(parts[0]), key: String(parts[1]))
        })
        #expect(try count(path, "node_segments") == 0)
        #expect(try count(path, "removed_nodes") == 0)
        #expect(try count(path, "node_updates") == 0)
        database = nil
        database = try GraphDatabase(path: path)
        #expect(nodesByKey(database!.snapshot).isEmpty)
        // With every segment gone no tombstone is left to hide a new node.
        _ = try await database!.addNodes([NodeInput(type: "user", key: "last")])
        database = nil
        database = try GraphDatabase(path: path)
        #expect(nodesByKey(database!.snapshot).keys.sorted() == ["user:last"])
    }

    @Test func aVersion3StoreIsMigrated() async throws {
        let path = temporaryStorePath()
        do {
            let old = try GraphStore(path: path, migratingTo: 3)
            try old.connection.execute("""
                INSERT INTO nodes(id, type, key, text, features) VALUES
                    (0, 0, 'alice', 'likes films', NULL),
                    (1, 1, 'book', NULL, x'0000803f00000040'),
                    (4, 1, 'film', NULL, NULL);
                """)
        }
        let database = try GraphDatabase(path: path)
        #expect(await database.schemaVersion == GraphStore.schemaVersion)
        let nodes = nodesByKey(database.snapshot)
        #expect(nodes["user:alice"] == NodeRecord(id: 0, type: 0, key: "alice", text: "likes films"))
        #expect(nodes["item:book"] == NodeRecord(id: 1, type: 1, key: "book", features: [1, 2]))
        #expect(nodes["item:film"]?.id == 4)
        #expect(try count(path, "node_segments") == 1)
        #expect(throws: SQLiteError.self) { try count(path, "nodes") }
        let plan = try await database.addNodes([NodeInput(type: "user", key: "bob")])
        #expect(plan.insertedNodes.first?.id == 5)
    }

    @Test func aDamagedNodeSegmentIsReportedAsDataLoss() async throws {
        let path = temporaryStorePath()
        do {
            let database = try GraphDatabase(path: path)
            _ = try await database.addNodes((0..<10).map { NodeInput(type: "user", key: "u\($0)") })
        }
        try SQLiteConnection(path: path).execute("UPDATE node_segments SET data = substr(data, 1, 30)")
        do {
            _ = try GraphDatabase(path: path)
            Issue.record("a damaged store opened")
        } catch let error as GraphError {
            #expect(error.kind == .dataLoss)
            #expect(error.message.contains("node segment") && error.message.contains("malformed"))
        }
    }
}
