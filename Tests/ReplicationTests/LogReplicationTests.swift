import Foundation
import GraphCore
import GraphStore
import Testing

@testable import Replication

private func storePath() -> String { "/tmp/gd-repl-\(UUID().uuidString.prefix(8)).sqlite" }

private func ref(_ type: String, _ key: String) -> NodeRefInput { NodeRefInput(type: type, key: key) }

/// A primary's writes through a real JetStream stream into a replica's store.
@Suite struct LogReplicationTests {
    @Test func aReplicaAppliesThePrimarysBatchesWithTheirPositions() async throws {
        let (server, client) = try await JetStreamLogTests.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "graph") }
        let primary = try GraphDatabase(path: storePath())
        let publisher = LogPublisher(log: log, lastSequence: 0)
        await primary.setWriteLog(publisher)
        _ = try await primary.addEdges([EdgeInput(type: "interacted", source: ref("user", "a"), target: ref("item", "1"))])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<8 {
                group.addTask {
                    let edges = (0..<25).map { EdgeInput(type: "interacted", source: ref("user", "u\(n)"), target: ref("item", "\($0)")) }
                    _ = try await primary.ingestEdges(EdgeWriteRequest(edges: edges))
                }
            }
            try await group.waitForAll()
        }
        _ = try await primary.removeNodes([ref("user", "u2")], documents: [("model", [1, 2, 3])])
        let last = try await blocking { try log.lastSequence() }
        #expect(publisher.lastSequence == last)
        #expect(try LogPosition.applied(in: primary) == last, "the primary stores its position with each batch")

        let replica = try GraphDatabase(path: storePath())
        let applier = try await blocking { try LogApplier(log: log, database: replica) }
        #expect(try await applier.catchUp() == last)
        // Every entry was checked against the primary's marks (ids and counts) as it was applied.
        #expect(replica.snapshot.edgeCount == primary.snapshot.edgeCount && replica.snapshot.edgeCount == 1 + 7 * 25)
        #expect(replica.snapshot.nodes.idCount == primary.snapshot.nodes.idCount)
        #expect(replica.document("model") == [1, 2, 3])
        // More writes later: the replica continues from its stored position.
        _ = try await primary.addNodes([NodeInput(type: "user", key: "late")])
        #expect(try await applier.catchUp() == last + 1)
        #expect(try LogPosition.applied(in: replica) == last + 1)
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    /// The log takes entries up to the servers' max_payload (1 MiB here): AddEdges
    /// requests that together would exceed it are grouped into several entries,
    /// and one write larger alone is refused with RESOURCE_EXHAUSTED, writing nothing.
    @Test func entriesStayWithinTheLogsMaximumMessageSize() async throws {
        let (server, client) = try await JetStreamLogTests.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "sized") }
        let primary = try GraphDatabase(path: storePath())
        let publisher = LogPublisher(log: log, lastSequence: 0)
        await primary.setWriteLog(publisher)
        #expect(publisher.maxEntryBytes > 512 * 1024 && publisher.maxEntryBytes < 1 << 20)
        func request(_ n: Int, rows: Int) -> EdgeWriteRequest {
            let key = String(repeating: "k", count: 40)
            return EdgeWriteRequest(edges: [], blocks: [EdgeBlockInput(type: "interacted", sourceType: "user", targetType: "item",
                                                                       sourceKeys: (0..<rows).map { "\(key)-u\(n)-\($0 % 50)" },
                                                                       targetKeys: (0..<rows).map { "\(key)-i\(n)-\($0)" })])
        }
        // 24 requests of ~2,000 rows (~190 kB each) arriving together: ~4.5 MB in all.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<24 { group.addTask { _ = try await primary.ingestEdges(request(n, rows: 2000)) } }
            try await group.waitForAll()
        }
        let afterGroups = try await blocking { try log.lastSequence() }
        #expect(primary.snapshot.edgeCount == 24 * 2000)
        #expect(afterGroups >= 5, "grouped into entries within the limit: \(afterGroups) entries")
        // One request of ~1.9 MB: refused, nothing written, the log unchanged.
        await #expect {
            _ = try await primary.ingestEdges(request(99, rows: 20_000))
        } throws: { error in
            (error as? GraphError)?.kind == .resourceExhausted && "\(error)".contains("max_payload")
        }
        #expect(primary.snapshot.edgeCount == 24 * 2000)
        #expect(try await blocking { try log.lastSequence() } == afterGroups)
        #expect(publisher.stopReason == nil, "a refused entry deposes nobody")
        // A replica applies the grouped entries to the same graph.
        let replica = try GraphDatabase(path: storePath())
        let applier = try await blocking { try LogApplier(log: log, database: replica) }
        #expect(try await applier.catchUp() == afterGroups)
        #expect(replica.snapshot.edgeCount == primary.snapshot.edgeCount)
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func aDeposedPrimaryCannotAppendAndWritesNothing() async throws {
        let (server, client) = try await JetStreamLogTests.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "fenced") }
        let old = try GraphDatabase(path: storePath())
        let oldPublisher = LogPublisher(log: log, lastSequence: 0)
        await old.setWriteLog(oldPublisher)
        _ = try await old.addNodes([NodeInput(type: "user", key: "a")])
        // A new primary caught up to the log's end and appended.
        let new = try GraphDatabase(path: storePath())
        try await blocking { try LogApplier(log: log, database: new) }.catchUp()
        await new.setWriteLog(LogPublisher(log: log, lastSequence: try await blocking { try log.lastSequence() }))
        _ = try await new.addNodes([NodeInput(type: "user", key: "b")])
        // The old one still believes the log ends at its own last entry: refused, nothing written.
        do {
            _ = try await old.addNodes([NodeInput(type: "user", key: "c")])
            Issue.record("a deposed primary appended")
        } catch let error as GraphError {
            #expect(error.kind == .unavailable && error.message.contains("no longer the primary"), "\(error)")
        }
        #expect(old.snapshot.nodes.idCount == 1)
        #expect(try await blocking { try log.lastSequence() } == 2)
        // It stays stopped (its store must catch up from the log first) without trying the log again.
        #expect(oldPublisher.stopReason?.contains("another graphd appended") == true)
        await #expect(throws: GraphError.self) { _ = try await old.addNodes([NodeInput(type: "user", key: "d")]) }
        #expect(try await blocking { try log.lastSequence() } == 2)
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func aStoreAheadOfTheStreamIsRefusedAtStart() async throws {
        let (server, client) = try await JetStreamLogTests.start()
        let first = try await blocking { try JetStreamLog(client: client, stream: "first") }
        let store = try GraphDatabase(path: storePath())
        await store.setWriteLog(LogPublisher(log: first, lastSequence: 0))
        _ = try await store.addNodes([NodeInput(type: "user", key: "a")])
        _ = try await store.addNodes([NodeInput(type: "user", key: "b")])
        await store.setWriteLog(nil)
        // The same store pointed at another (empty) stream.
        let other = try await blocking { try JetStreamLog(client: client, stream: "other") }
        await #expect { _ = try await blocking { try LogApplier(log: other, database: store) } } throws: { error in
            "\(error)".contains("applied log sequence 2") && "\(error)".contains("ends at 0")
        }
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }
}

/// A replica following the log while the primary writes.
@Suite struct LogFollowerTests {
    @Test func aFollowingReplicaKeepsUpWithConcurrentWritesAndStopsWhenCancelled() async throws {
        let (server, client) = try await JetStreamLogTests.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "live") }
        let primary = try GraphDatabase(path: storePath())
        await primary.setWriteLog(LogPublisher(log: log, lastSequence: 0))
        let replica = try GraphDatabase(path: storePath())
        let applier = try await blocking { try LogApplier(log: log, database: replica) }
        let follower = Task { try await applier.follow() }
        for n in 0..<40 {
            let edges = (0..<10).map { EdgeInput(type: "interacted", source: ref("user", "u\(n)"), target: ref("item", "\($0 % 13)")) }
            _ = try await primary.ingestEdges(EdgeWriteRequest(edges: edges))
            if n % 10 == 9 { _ = try await primary.removeEdges([EdgeRefInput(type: "interacted", source: ref("user", "u\(n)"), target: ref("item", "0"))]) }
        }
        let last = try await blocking { try log.lastSequence() }
        // The replica reaches the primary's position within a few seconds of the last write.
        let deadline = ContinuousClock.now + .seconds(20)
        while try LogPosition.applied(in: replica) < last, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try LogPosition.applied(in: replica) == last)
        #expect(replica.snapshot.edgeCount == primary.snapshot.edgeCount && replica.snapshot.edgeCount == 40 * 10 - 4)
        follower.cancel()
        #expect(try await follower.value == last, "cancelled: returns the applied sequence")
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }
}
