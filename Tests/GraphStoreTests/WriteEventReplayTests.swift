import Foundation
import GraphCore
import Replication
import Synchronization
import Testing
@testable import GraphStore

/// A write log that keeps what the writer sent it as the replication log
/// does — the bytes of `LogEntryCodec` — and can refuse a batch.
final class RecordingWriteLog: WriteLog {
    let stored = Mutex<[[UInt8]]>([])
    let refuse = Mutex(false)
    struct Refused: Error {}

    func append(_ event: WriteEvent, marks: WriteMarks) throws -> [(name: String, value: [UInt8]?)] {
        if refuse.withLock({ $0 }) { throw Refused() }
        let bytes = try LogEntryCodec.encode(event, marks: marks)
        let position = stored.withLock { stored in
            stored.append(bytes)
            return stored.count
        }
        return [("graphd/log-position", Array("\(position)".utf8))]
    }

    /// Batches appended and then not committed.
    let failedCommits = Mutex(0)

    func commitFailed(_ error: any Error) { failedCommits.withLock { $0 += 1 } }

    /// The entries as a replica reads them back.
    var entries: [(event: WriteEvent, marks: WriteMarks)] {
        get throws { try stored.withLock { $0 }.map { try LogEntryCodec.decode($0) } }
    }
}

/// Batches replayed from the write log (through the log's encoding) on another
/// store make the same graph, ids included: the basis of replicas.
@Suite struct WriteEventReplayTests {
    @Test func replayingTheWritersBatchesElsewhereGivesTheSameGraphAndIDs() async throws {
        let writer = try GraphDatabase(path: temporaryStorePath())
        let log = RecordingWriteLog()
        await writer.setWriteLog(log)
        _ = try await writer.defineTypes(nodeTypes: [NodeTypeInput(name: "doc", featureDimension: 2)],
                                         edgeTypes: [EdgeTypeInput(name: "cites", directed: true, sourceType: "doc", targetType: "doc")])
        _ = try await writer.addNodes([NodeInput(type: "doc", key: "a", text: "first", features: [1, 0]),
                                       NodeInput(type: "doc", key: "b", features: [0, 1])], documents: [("notes/a", [1, 2])])
        // Timestamps left to the writer's clock: the replica must use the writer's.
        _ = try await writer.addEdges([EdgeInput(type: "cites", source: ref("doc:a"), target: ref("doc:b"), weight: 2)],
                                      blocks: [EdgeBlockInput(type: "interacted", sourceType: "user", targetType: "item",
                                                              sourceKeys: ["u1", "u2", "u1"], targetKeys: ["i1", "i1", "i2"],
                                                              attributes: [("rating", [5, 3, 4])])])
        // Concurrent AddEdges are grouped; one refused alone is not part of the batch.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<12 {
                group.addTask {
                    var edges = (0..<20).map { EdgeInput(type: "interacted", source: ref("user:g\(n)"), target: ref("item:\($0 % 7)")) }
                    if n == 5 { edges.append(EdgeInput(type: "interacted", source: ref("user:x"), target: ref("item:x"), weight: .nan)) }
                    _ = try? await writer.ingestEdges(EdgeWriteRequest(edges: edges))
                }
            }
            try await group.waitForAll()
        }
        // Compaction renumbers nothing a replica sees: replays continue to match after it.
        _ = try await writer.compact()
        _ = try await writer.addNodesAndEdges([NodeInput(type: "user", key: "late")],
                                              edges: [EdgeInput(type: "interacted", source: ref("user:late"), target: ref("item:1"))],
                                              requireExistingNodes: true, documents: [("notes/b", [3])])
        _ = try await writer.removeEdges([EdgeRefInput(type: "interacted", source: ref("user:u1"), target: ref("item:i2"))])
        _ = try await writer.removeNodes([ref("user:g3")], documents: [("notes/a", nil)])
        try await writer.putDocuments([("model", [9, 9, 9])])

        let entries = try log.entries
        // Seven single batches and at least one group (how many depends on arrival).
        #expect(entries.count >= 8)
        #expect(entries.contains { if case .edgeGroup = $0.event.operation { true } else { false } })
        let replica = try GraphDatabase(path: temporaryStorePath())
        for (index, entry) in entries.enumerated() {
            if index == entries.count / 2 { _ = try await replica.compact() }
            _ = try await replica.replay(entry.event, expecting: entry.marks, documents: [("graphd/log-position", Array("\(index + 1)".utf8))])
        }
        #expect(dump(replica.snapshot, ids: true) == dump(writer.snapshot, ids: true))
        for name in ["notes/a", "notes/b", "model", "graphd/log-position"] {
            #expect(replica.document(name) == writer.document(name), "\(name)")
        }
        #expect(writer.document("graphd/log-position") == Array("\(entries.count)".utf8))
    }

    @Test func aReplicaWhoseGraphDiffersRefusesTheBatchAndWritesNothing() async throws {
        let writer = try GraphDatabase(path: temporaryStorePath())
        let log = RecordingWriteLog()
        await writer.setWriteLog(log)
        _ = try await writer.addEdges([EdgeInput(type: "interacted", source: ref("user:a"), target: ref("item:1"))])
        let replica = try GraphDatabase(path: temporaryStorePath())
        // A node the writer never had: the replica's next ids differ from the writer's.
        _ = try await replica.addNodes([NodeInput(type: "user", key: "stray")])
        let before = dump(replica.snapshot, ids: true)
        let entry = try #require(try log.entries.first)
        await #expect(throws: GraphError.self) { _ = try await replica.replay(entry.event, expecting: entry.marks) }
        #expect(dump(replica.snapshot, ids: true) == before)
    }

    @Test func aBatchTheLogRefusesIsNotWritten() async throws {
        let writer = try GraphDatabase(path: temporaryStorePath())
        let log = RecordingWriteLog()
        await writer.setWriteLog(log)
        _ = try await writer.addEdges([EdgeInput(type: "interacted", source: ref("user:a"), target: ref("item:1"))])
        log.refuse.withLock { $0 = true }
        await #expect(throws: RecordingWriteLog.Refused.self) {
            _ = try await writer.addEdges([EdgeInput(type: "interacted", source: ref("user:b"), target: ref("item:2"))])
        }
        #expect(writer.snapshot.edgeCount == 1 && dump(writer.snapshot).filter { $0.hasPrefix("node") }.count == 2)
    }

    /// The log appends while the writer writes the batch's rows (and, for a
    /// large batch, prepares it in memory): a refusal rolls the rows back, so the
    /// same new ids commit cleanly with the next batch, and the log's entries
    /// replay to the same graph with the position in the same transaction.
    @Test func rowsWrittenDuringTheAppendAreRolledBackWhenTheLogRefuses() async throws {
        let writer = try GraphDatabase(path: temporaryStorePath())
        let log = RecordingWriteLog()
        await writer.setWriteLog(log)
        let rows = GraphDatabase.prepareInParallelFrom + 500
        func block(_ prefix: String) -> EdgeBlockInput {
            EdgeBlockInput(type: "interacted", sourceType: "user", targetType: "item",
                           sourceKeys: (0..<rows).map { "\(prefix)\($0 % 97)" }, targetKeys: (0..<rows).map { "\(prefix)\($0)" })
        }
        _ = try await writer.addEdges([], blocks: [block("a")])
        log.refuse.withLock { $0 = true }
        for prefix in ["b", "c"] {
            await #expect(throws: RecordingWriteLog.Refused.self) { _ = try await writer.addEdges([], blocks: [block(prefix)]) }
        }
        #expect(writer.snapshot.edgeCount == rows)
        log.refuse.withLock { $0 = false }
        _ = try await writer.addEdges([], blocks: [block("d")])
        #expect(writer.snapshot.edgeCount == 2 * rows)
        #expect(writer.document("graphd/log-position") == Array("2".utf8))

        let replica = try GraphDatabase(path: temporaryStorePath())
        for (index, entry) in try log.entries.enumerated() {
            _ = try await replica.replay(entry.event, expecting: entry.marks, documents: [("graphd/log-position", Array("\(index + 1)".utf8))])
        }
        #expect(dump(replica.snapshot, ids: true) == dump(writer.snapshot, ids: true))
    }
}
