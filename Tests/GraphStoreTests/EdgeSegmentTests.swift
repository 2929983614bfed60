import Foundation
import GraphCore
import Testing
@testable import GraphStore

func temporaryStorePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("graphd-segments-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("graph.sqlite").path
}

private func interacted(_ user: Int, _ item: Int, weight: Double = 1) -> EdgeInput {
    EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(user)"),
              target: NodeRefInput(type: "item", key: "i\(item)"), weight: weight, timestampMs: 5)
}

private func interactedRef(_ user: Int, _ item: Int) -> EdgeRefInput {
    EdgeRefInput(type: "interacted", source: NodeRefInput(type: "user", key: "u\(user)"), target: NodeRefInput(type: "item", key: "i\(item)"))
}

/// (user, item) → weight of every interacted edge in a snapshot.
private func interactions(_ snapshot: GraphSnapshot) -> [String: Float] {
    var result: [String: Float] = [:]
    var next: (node: UInt32, skip: Int)? = (0, 0)
    while let position = next {
        let page = snapshot.edges(fromNode: position.node, skip: position.skip, limit: 1000)
        for edge in page.edges {
            result["\(snapshot.nodes.key(of: edge.record.source))>\(snapshot.nodes.key(of: edge.record.target))"] = edge.record.weight
        }
        next = page.next
    }
    return result
}

/// Counts straight from the store file (a second connection; WAL lets it read).
private func storeCounts(_ path: String) throws -> (segments: Int64, tombstones: Int64, live: Int64) {
    let connection = try SQLiteConnection(path: path)
    return (try connection.scalarInt("SELECT count(*) FROM edge_segments"),
            try connection.scalarInt("SELECT count(*) FROM removed_edges"),
            try connection.scalarInt("SELECT coalesce(sum(live), 0) FROM edge_segments"))
}

@Suite struct EdgeSegmentTests {
    @Test func encodeDecodeRoundTripWithGapsAndAttributes() throws {
        let records = [
            EdgeRecord(id: 100, type: 3, source: 1, target: 2, weight: 0.5, timestampMs: 7),
            EdgeRecord(id: 101, type: 0, source: 9, target: 4_000_000_000, weight: -2, timestampMs: Int64.max,
                       attributes: [EdgeAttribute(id: 1, value: 4.5), EdgeAttribute(id: 7, value: -.infinity)]),
            EdgeRecord(id: 100 + Int64(UInt32.max), type: 65_535, source: 0, target: 0, weight: 1, timestampMs: 0),
        ]
        let blob = EdgeSegment.encode(records, firstID: 100)
        var decoded: [EdgeRecord] = []
        try blob.withUnsafeBytes { try EdgeSegment.decode($0, firstID: 100) { decoded.append($0) } }
        #expect(decoded == records)
        let plain = EdgeSegment.encode(records.prefix(1), firstID: 100)
        #expect(plain.count == EdgeSegment.headerSize + EdgeSegment.fixedBytesPerEdge)
    }

    @Test(arguments: [
        ("truncated header", [UInt8](repeating: 0, count: 5)),
        ("count beyond the bytes", [255, 255, 255, 255, 0, 0, 0, 0]),
        ("unknown flag", [0, 0, 0, 0, 2, 0, 0, 0]),
        ("trailing bytes", [0, 0, 0, 0, 0, 0, 0, 0, 1]),
    ])
    func malformedSegmentsAreRefused(_ name: String, _ blob: [UInt8]) {
        #expect(throws: MalformedSegment.self, "\(name)") {
            try blob.withUnsafeBytes { try EdgeSegment.decode($0, firstID: 1) { _ in } }
        }
    }

    @Test func offsetsMustIncrease() {
        var blob = EdgeSegment.encode([EdgeRecord(id: 5, type: 0, source: 1, target: 2, weight: 1, timestampMs: 0),
                                       EdgeRecord(id: 6, type: 0, source: 1, target: 3, weight: 1, timestampMs: 0)], firstID: 5)
        blob[EdgeSegment.headerSize + 4] = 0  // the second offset (1) becomes 0
        #expect(throws: MalformedSegment.self) {
            try blob.withUnsafeBytes { try EdgeSegment.decode($0, firstID: 5) { _ in } }
        }
    }

    /// Random batches of upserts and removals against a dictionary model, with
    /// reopenings: the store keeps exactly the model, and removals reclaim
    /// space (tombstones, rewritten and dropped segments).
    @Test func randomWritesAndRemovalsSurviveReopening() async throws {
        let path = temporaryStorePath()
        var model: [String: Float] = [:]
        var generator = SplitMix(seed: 11)
        var database: GraphDatabase? = try GraphDatabase(path: path)
        var sawTombstones = false
        for round in 0..<40 {
            guard let db = database else { break }
            let count = Int(generator.next() % 300) + 1
            if generator.next() % 3 == 0, !model.isEmpty {
                // Remove a random share of what exists (sometimes nearly all of it).
                let share = Double(generator.next() % 100) / 100
                let victims = model.keys.sorted().filter { _ in Double(generator.next() % 1000) / 1000 < share }
                let refs = victims.map { key -> EdgeRefInput in
                    let parts = key.split(separator: ">")
                    return interactedRef(Int(parts[0].dropFirst())!, Int(parts[1].dropFirst())!)
                }
                if !refs.isEmpty { _ = try await db.removeEdges(refs) }
                for victim in victims { model[victim] = nil }
            } else {
                var batch: [EdgeInput] = []
                for _ in 0..<count {
                    let user = Int(generator.next() % 40), item = Int(generator.next() % 60)
                    let weight = Double(generator.next() % 1000) / 10
                    batch.append(interacted(user, item, weight: weight))
                    model["u\(user)>i\(item)"] = Float(weight)
                }
                _ = try await db.addEdges(batch)
            }
            if round % 7 == 6 { try await db.compact() }
            let counts = try storeCounts(path)
            sawTombstones = sawTombstones || counts.tombstones > 0
            #expect(counts.live == Int64(model.count), "round \(round)")
            if round % 5 == 4 {
                database = nil
                database = try GraphDatabase(path: path)
            }
            #expect(interactions(database!.snapshot) == model, "round \(round)")
        }
        #expect(sawTombstones)
        // Everything removed: no segment, no tombstone is left.
        let all = model.keys.map { key -> EdgeRefInput in
            let parts = key.split(separator: ">")
            return interactedRef(Int(parts[0].dropFirst())!, Int(parts[1].dropFirst())!)
        }
        _ = try await database!.removeEdges(all)
        let counts = try storeCounts(path)
        #expect(counts.segments == 0 && counts.tombstones == 0)
    }

    @Test func removingMostOfASegmentRewritesIt() async throws {
        let path = temporaryStorePath()
        let database = try GraphDatabase(path: path)
        _ = try await database.addEdges((0..<200).map { interacted($0, $0) })
        _ = try await database.removeEdges((0..<50).map { interactedRef($0, $0) })
        var counts = try storeCounts(path)
        #expect(counts.segments == 1 && counts.tombstones == 50 && counts.live == 150)
        _ = try await database.removeEdges((50..<120).map { interactedRef($0, $0) })
        counts = try storeCounts(path)
        #expect(counts.segments == 1 && counts.tombstones == 0 && counts.live == 80)
        let reopened = try GraphDatabase(path: path)
        #expect(interactions(reopened.snapshot).count == 80)
        #expect(interactions(reopened.snapshot)["u150>i150"] == 1)
    }

    /// The last edges of a segment removed, then a restart: new edges must not
    /// reuse those ids, or the old tombstones would hide them.
    @Test func removedIDsAreNotReusedAfterARestart() async throws {
        let path = temporaryStorePath()
        do {
            let database = try GraphDatabase(path: path)
            _ = try await database.addEdges((0..<10).map { interacted(0, $0) })
            _ = try await database.removeEdges((7..<10).map { interactedRef(0, $0) })
        }
        do {
            let database = try GraphDatabase(path: path)
            _ = try await database.addEdges((100..<105).map { interacted(1, $0) })
        }
        let reopened = try GraphDatabase(path: path)
        let edges = interactions(reopened.snapshot)
        #expect(edges.count == 12)
        #expect((100..<105).allSatisfy { edges["u1>i\($0)"] == 1 })
    }

    @Test func aVersion2StoreIsMigrated() async throws {
        let path = temporaryStorePath()
        do {
            let old = try GraphStore(path: path, migratingTo: 2)
            try old.connection.execute("""
                INSERT INTO nodes(id, type, key) VALUES (0, 0, 'alice'), (1, 1, 'book'), (2, 1, 'film');
                INSERT INTO attribute_names(id, name) VALUES (0, 'rating');
                INSERT INTO edges(id, type, source, target, weight, ts, attrs) VALUES
                    (3, 0, 0, 1, 2.5, 11, x'0000000000000000f03f'),
                    (9, 0, 0, 2, 1.0, 12, NULL);
                """)
        }
        #expect(try GraphStore(path: path, migratingTo: 2).userVersion == 2)
        let database = try GraphDatabase(path: path)
        #expect(await database.schemaVersion == GraphStore.schemaVersion)
        let snapshot = database.snapshot
        #expect(interactions(snapshot) == ["alice>book": 2.5, "alice>film": 1])
        let edge = try #require(snapshot.findEdge(type: 0, source: 0, target: 1))
        #expect(edge.record.attributes == [EdgeAttribute(id: 0, value: 1)])
        let counts = try storeCounts(path)
        #expect(counts.segments == 1 && counts.live == 2)
        // Ids continue above the migrated ones.
        let plan = try await database.addEdges([EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "alice"),
                                                          target: NodeRefInput(type: "item", key: "book"), weight: 4, timestampMs: 1)])
        #expect(plan.updated == 1 && plan.insertedEdges.first.map { $0.id > 9 } == true)
    }

    @Test func aDamagedSegmentIsReportedAsDataLoss() async throws {
        let path = temporaryStorePath()
        do {
            let database = try GraphDatabase(path: path)
            _ = try await database.addEdges((0..<10).map { interacted(0, $0) })
        }
        try SQLiteConnection(path: path).execute("UPDATE edge_segments SET data = substr(data, 1, 30)")
        do {
            _ = try GraphDatabase(path: path)
            Issue.record("a damaged store opened")
        } catch let error as GraphError {
            #expect(error.kind == .dataLoss)
            #expect(error.message.contains("malformed"))
        }
    }
}
