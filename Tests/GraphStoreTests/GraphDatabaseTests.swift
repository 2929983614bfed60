import Foundation
import GraphCore
import Testing
@testable import GraphStore

func ref(_ text: String) -> NodeRefInput {
    let parts = text.split(separator: ":", maxSplits: 1)
    return NodeRefInput(type: String(parts[0]), key: String(parts[1]))
}

/// Everything observable about a snapshot, in a comparable form; with `ids`,
/// node and edge ids too (a replica must assign the writer's).
func dump(_ snapshot: GraphSnapshot, ids: Bool = false) -> [String] {
    var lines: [String] = []
    for node in snapshot.nodeRecords(from: 0, limit: 1_000_000).nodes {
        lines.append("node \(ids ? "#\(node.id) " : "")\(snapshot.schema.nodeType(node.type).name):\(node.key) text=\(node.text ?? "-") features=\(node.features ?? [])")
    }
    var next: (node: UInt32, skip: Int)? = (0, 0)
    while let position = next {
        let page = snapshot.edges(fromNode: position.node, skip: position.skip, limit: 1000)
        for edge in page.edges {
            let r = edge.record
            let attributes = r.attributes.map { "\(snapshot.schema.attributeName($0.id))=\($0.value)" }.joined(separator: ",")
            lines.append("edge \(ids ? "#\(r.id) " : "")\(snapshot.schema.edgeType(r.type).name) \(snapshot.nodes.key(of: r.source))->\(snapshot.nodes.key(of: r.target)) w=\(r.weight) t=\(r.timestampMs) \(attributes)")
        }
        next = page.next
    }
    return lines.sorted()
}

@Suite struct GraphDatabaseTests {
    @Test func roundTripThroughTheStore() async throws {
        let path = temporaryStorePath()
        let before: [String]
        do {
            let database = try GraphDatabase(path: path)
            _ = try await database.defineTypes(nodeTypes: [NodeTypeInput(name: "paper", featureDimension: 3)],
                                               edgeTypes: [EdgeTypeInput(name: "cites", directed: true, sourceType: "paper", targetType: "paper")])
            _ = try await database.addNodes([NodeInput(type: "paper", key: "p1", text: "Graphs", features: [1, 2, 3]),
                                             NodeInput(type: "llm", key: "gpt", text: "a model")])
            _ = try await database.addEdges([
                EdgeInput(type: "cites", source: ref("paper:p1"), target: ref("paper:p2"), weight: 0.5, timestampMs: 7),
                EdgeInput(type: "interacted", source: ref("user:u"), target: ref("item:i"), timestampMs: 9, attributes: [("rating", 4.5)]),
                EdgeInput(type: "interacted", source: ref("user:u"), target: ref("item:j"), timestampMs: 9),
            ])
            try await database.compact()
            _ = try await database.addEdges([EdgeInput(type: "interacted", source: ref("user:v"), target: ref("item:i"), weight: 2, timestampMs: 11)])
            _ = try await database.removeEdges([EdgeRefInput(type: "interacted", source: ref("user:u"), target: ref("item:j"))])
            _ = try await database.removeNodes([ref("llm:gpt")])
            // Upsert after compaction: replaces the compacted edge.
            _ = try await database.addEdges([EdgeInput(type: "cites", source: ref("paper:p1"), target: ref("paper:p2"), weight: 3, timestampMs: 8)])
            before = dump(database.snapshot)
            #expect(database.snapshot.edgeCount == 3)
        }
        let reopened = try GraphDatabase(path: path)
        #expect(dump(reopened.snapshot) == before)
        #expect(reopened.snapshot.schema.nodeType(try reopened.snapshot.schema.requireNodeType("paper")).featureDimension == 3)
        #expect(await reopened.schemaVersion == GraphStore.schemaVersion)
        // New writes continue with fresh ids after the reload.
        let plan = try await reopened.addEdges([EdgeInput(type: "interacted", source: ref("user:w"), target: ref("item:i"), timestampMs: 1)])
        #expect(plan.created == 1)
        #expect(reopened.snapshot.edgeCount == 4)
    }

    @Test func aFailedBatchLeavesNothingBehind() async throws {
        let path = temporaryStorePath()
        let database = try GraphDatabase(path: path)
        _ = try await database.addEdges([EdgeInput(type: "interacted", source: ref("user:a"), target: ref("item:1"), timestampMs: 1)])
        let before = dump(database.snapshot)
        let version = database.snapshot.version
        // Invalid in the middle: the valid edges and new nodes before it must not land.
        await #expect(throws: GraphError.self) {
            try await database.addEdges([
                EdgeInput(type: "interacted", source: ref("user:b"), target: ref("item:2"), timestampMs: 1),
                EdgeInput(type: "interacted", source: ref("user:c"), target: ref("item:3"), weight: .infinity, timestampMs: 1),
            ])
        }
        // Commits that SQLite refuses (another connection holds the write lock),
        // small and large (the large one prepares its apply on another thread).
        let blocker = try SQLiteConnection(path: path)
        try blocker.execute("BEGIN EXCLUSIVE")
        await #expect(throws: SQLiteError.self) {
            try await database.addEdges([EdgeInput(type: "interacted", source: ref("user:d"), target: ref("item:4"), timestampMs: 1)])
        }
        await #expect(throws: SQLiteError.self) {
            try await database.addEdges((0..<5000).map { EdgeInput(type: "interacted", source: ref("user:e\($0 % 70)"), target: ref("item:\($0)"), timestampMs: 1) })
        }
        try blocker.execute("ROLLBACK")
        #expect(dump(database.snapshot) == before)
        #expect(database.snapshot.version == version)
        let reopened = try GraphDatabase(path: path)
        #expect(dump(reopened.snapshot) == before)
        // The database still accepts writes afterwards.
        _ = try await database.addEdges([EdgeInput(type: "interacted", source: ref("user:d"), target: ref("item:4"), timestampMs: 1)])
        #expect(database.snapshot.edgeCount == 2)
    }

    /// Concurrent AddEdges requests are written in groups: each gets its own
    /// counts or its own refusal, and a commit that fails fails its group only.
    @Test func concurrentIngestIsGroupedAndEachRequestAnsweredAlone() async throws {
        let path = temporaryStorePath()
        let database = try GraphDatabase(path: path)
        let results = try await withThrowingTaskGroup(of: (Int, Result<EdgeWriteCounts, any Error>).self) { group in
            for n in 0..<40 {
                group.addTask {
                    // Every fifth request is refused (a NaN weight); the others write 50 edges of their own.
                    var edges = (0..<50).map { EdgeInput(type: "interacted", source: ref("user:r\(n)"), target: ref("item:\($0)"), timestampMs: 1) }
                    if n % 5 == 4 { edges.append(EdgeInput(type: "interacted", source: ref("user:x"), target: ref("item:x"), weight: .nan, timestampMs: 1)) }
                    do {
                        return (n, .success(try await database.ingestEdges(EdgeWriteRequest(edges: edges))))
                    } catch {
                        return (n, .failure(error))
                    }
                }
            }
            var results: [Int: Result<EdgeWriteCounts, any Error>] = [:]
            for try await (n, result) in group { results[n] = result }
            return results
        }
        var nodesCreated = 0
        for (n, result) in results {
            if n % 5 == 4 {
                #expect(throws: GraphError.self, "request \(n)") { try result.get() }
            } else {
                // Its user is its own; the 50 items go to whichever request named them first.
                let counts = try result.get()
                #expect(counts.created == 50 && counts.updated == 0 && counts.nodesCreated >= 1, "request \(n): \(counts)")
                nodesCreated += counts.nodesCreated
            }
        }
        #expect(nodesCreated == 32 + 50)
        #expect(database.snapshot.edgeCount == 32 * 50)
        #expect(database.snapshot.nodeCount == 32 + 50)
        // A group whose commit SQLite refuses: all of it fails, none of it lands, and writing goes on.
        let blocker = try SQLiteConnection(path: path)
        try blocker.execute("BEGIN EXCLUSIVE")
        await #expect(throws: SQLiteError.self) {
            try await database.ingestEdges(EdgeWriteRequest(edges: [EdgeInput(type: "interacted", source: ref("user:late"), target: ref("item:late"), timestampMs: 1)]))
        }
        try blocker.execute("ROLLBACK")
        #expect(database.snapshot.edgeCount == 32 * 50)
        let counts = try await database.ingestEdges(EdgeWriteRequest(edges: [EdgeInput(type: "interacted", source: ref("user:late"), target: ref("item:late"), timestampMs: 1)]))
        #expect(counts == EdgeWriteCounts(created: 1, updated: 0, nodesCreated: 2))
        let reopened = try GraphDatabase(path: path)
        #expect(dump(reopened.snapshot) == dump(database.snapshot))
    }

    @Test func aStoreFromANewerGraphdIsRefused() throws {
        let path = temporaryStorePath()
        do {
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA user_version=99")
        }
        #expect(throws: SQLiteError.self) { try GraphDatabase(path: path) }
    }

    @Test func writesProceedWhileACompactionRuns() async throws {
        let path = temporaryStorePath()
        let database = try GraphDatabase(path: path)
        _ = try await database.addEdges((0..<20_000).map {
            EdgeInput(type: "interacted", source: ref("user:\($0 % 300)"), target: ref("item:\($0)"), timestampMs: 1)
        })
        async let compaction = database.compact()
        for batch in 0..<20 {
            // Some batches large enough to prepare their apply on another thread.
            _ = try await database.addEdges((0..<(batch % 5 == 0 ? 3000 : 100)).map {
                EdgeInput(type: "interacted", source: ref("user:late\(batch)"), target: ref("item:\($0)"), timestampMs: 1)
            })
            _ = try await database.removeEdges([EdgeRefInput(type: "interacted", source: ref("user:\(batch)"), target: ref("item:\(batch)"))])
        }
        let result = try await compaction
        #expect(result.mergedEdges >= 20_000)
        try await database.compact()
        #expect(database.snapshot.edgeCount == 20_000 + 16 * 100 + 4 * 3000 - 20)
        #expect(database.snapshot.deltaEdgeCount == 0)
        let reopened = try GraphDatabase(path: path)
        #expect(dump(reopened.snapshot) == dump(database.snapshot))
    }

    @Test func readersKeepTheirSnapshotWhileWritesContinue() async throws {
        let database = try GraphDatabase(path: temporaryStorePath())
        let snapshot = database.snapshot
        for batch in 0..<5 {
            _ = try await database.addEdges((0..<100).map {
                EdgeInput(type: "interacted", source: ref("user:\(batch)"), target: ref("item:\($0)"), timestampMs: 1)
            })
        }
        try await database.compact()
        #expect(snapshot.edgeCount == 0)
        #expect(database.snapshot.edgeCount == 500)
        #expect(database.compactionStats.count == 1)
    }
}

/// The write-ahead log is checkpointed aside: commits that take it past
/// 1,000 pages hand the copy to the checkpointer's own connection and thread
/// (the writer would otherwise copy and fsync inside that commit).
@Suite struct WALCheckpointTests {
    @Test func theLogIsCheckpointedAsideNotInTheWritersCommit() async throws {
        let path = temporaryStorePath()
        let database = try GraphDatabase(path: path)
        let checkpointer = try #require(database.checkpointer)
        let key = String(repeating: "x", count: 60)
        // ~12 MB of rows in 20 commits: the log passes 1,000 pages (4 MiB) a few times.
        for batch in 0..<20 {
            _ = try await database.addEdges([], blocks: [EdgeBlockInput(
                type: "interacted", sourceType: "user", targetType: "item",
                sourceKeys: (0..<5000).map { "\(key)-u\(batch)-\($0 % 300)" }, targetKeys: (0..<5000).map { "\(key)-i\(batch)-\($0)" })])
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while checkpointer.completed.load(ordering: .relaxed) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(checkpointer.completed.load(ordering: .relaxed) > 0)
        #expect(checkpointer.failures.load(ordering: .relaxed) == 0)
        // The log was reset after a complete checkpoint rather than growing with every write.
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(wal < 16 << 20, "WAL of \(wal) bytes")
        #expect(database.snapshot.edgeCount == 20 * 5000)
    }
}
