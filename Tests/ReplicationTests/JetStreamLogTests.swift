import Foundation
import GraphdHarness
import Testing

@testable import Replication
import GraphCore

/// The replication log and the primary lease against a real nats-server.
@Suite struct JetStreamLogTests {
    static func client(_ server: NATSServer) throws -> NATSClient {
        try NATSClient(NATSConnectionOptions(servers: [server.url]))
    }

    @Test func appendedEntriesAreReadBackInOrderFromAnySequence() throws {
        let server = try NATSServer()
        let log = try JetStreamLog(client: try Self.client(server), stream: "graph")
        #expect(try log.lastSequence() == 0)
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 100_000)]
        var sequences: [UInt64] = []
        for payload in payloads { sequences.append(try log.append(payload).sequence) }
        #expect(sequences == [1, 2, 3])
        #expect(try log.lastSequence() == 3)
        // A second client opens the same stream (no new one) and reads from the middle.
        let again = try JetStreamLog(client: try Self.client(server), stream: "graph")
        let reader = try again.read(from: 2)
        #expect(try reader.next(timeout: .seconds(5)) == LogEntry(sequence: 2, payload: []))
        #expect(try reader.next(timeout: .seconds(5)) == LogEntry(sequence: 3, payload: payloads[2]))
        #expect(try reader.next(timeout: .milliseconds(200)) == nil, "nothing after the last entry")
        // An entry appended now reaches the waiting reader.
        _ = try log.append([9])
        #expect(try reader.next(timeout: .seconds(5)) == LogEntry(sequence: 4, payload: [9]))
    }

    @Test func aWriterThatExpectsAnOlderLastSequenceCannotAppend() throws {
        let server = try NATSServer()
        let log = try JetStreamLog(client: try Self.client(server), stream: "fenced")
        let first = try log.append([1]).sequence
        // The new primary appends after the entry it saw last.
        let second = try log.append([2], expectedLastSequence: first).sequence
        #expect(second == first + 1)
        // The deposed one still believes `first` is the last entry: refused, nothing stored.
        do {
            _ = try log.append([3], expectedLastSequence: first)
            Issue.record("a stale writer appended")
        } catch {
            #expect(error.isWrongLastSequence, "\(error)")
        }
        #expect(try log.lastSequence() == second)
    }

    @Test func aRepeatedMessageIDIsStoredOnce() throws {
        let server = try NATSServer()
        let log = try JetStreamLog(client: try Self.client(server), stream: "dedup")
        let once = try log.append([1], messageID: "batch-1")
        let twice = try log.append([1], messageID: "batch-1")
        #expect(!once.duplicate && twice.duplicate && once.sequence == twice.sequence)
        #expect(try log.lastSequence() == once.sequence)
    }

    @Test func badNamesAndAnUnreachableServerAreClearErrors() throws {
        let server = try NATSServer()
        #expect(throws: NATSError.self) { _ = try JetStreamLog(client: try Self.client(server), stream: "a.b") }
        #expect(throws: NATSError.self) { _ = try JetStreamLog(client: try Self.client(server), stream: "") }
        let nobody = RawSockets.freePort()
        var options = NATSConnectionOptions(servers: ["nats://127.0.0.1:\(nobody)"])
        options.timeout = .milliseconds(500)
        do {
            _ = try NATSClient(options)
            Issue.record("connected to a port where no server listens")
        } catch {
            #expect(error.description.contains("127.0.0.1:\(nobody)"), "\(error)")
        }
    }

    @Test func theLeaseHasOneHolderAndPassesOnOnceItLapses() async throws {
        let server = try NATSServer()
        let client = try Self.client(server)
        let lease = try PrimaryLease(client: client, bucket: "graphd-lease", ttl: .seconds(1))
        #expect(try lease.holder() == nil)
        let revision = try #require(try lease.acquire(address: "unix:/a.sock"))
        #expect(try lease.holder() == PrimaryLease.Holder(address: "unix:/a.sock", revision: revision))
        #expect(try lease.acquire(address: "unix:/b.sock") == nil, "held by a")
        let renewed = try lease.renew(address: "unix:/a.sock", revision: revision)
        #expect(renewed > revision)
        #expect(throws: NATSError.self, "a renewal with a revision that is no longer current") {
            _ = try lease.renew(address: "unix:/b.sock", revision: revision)
        }
        // a stops renewing: within a few TTLs b can take it, and a's renewal then fails.
        var taken: UInt64?
        let deadline = ContinuousClock.now + .seconds(10)
        while taken == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            taken = try lease.acquire(address: "unix:/b.sock")
        }
        let bRevision = try #require(taken, "the lease never lapsed")
        #expect(try lease.holder()?.address == "unix:/b.sock")
        #expect(throws: NATSError.self, "a, back from a pause, cannot renew") {
            _ = try lease.renew(address: "unix:/a.sock", revision: renewed)
        }
        try lease.release(revision: bRevision)
        #expect(try lease.holder() == nil)
    }
}

/// The log on a three-server JetStream cluster, the shape graphd is deployed in.
@Suite struct ClusteredLogTests {
    /// Retries a JetStream call while the cluster elects leaders (a few seconds after start and after a failure).
    static func eventually<T>(_ what: String, within: Duration = .seconds(30), _ body: () throws -> T) throws -> T {
        let deadline = ContinuousClock.now + within
        while true {
            do { return try body() } catch {
                if ContinuousClock.now >= deadline { throw error }
                usleep(200_000)
            }
        }
    }

    @Test func killingTheStreamLeaderLosesNoAcknowledgedAppendAndStoresNoneTwice() throws {
        let cluster = try NATSCluster()
        let client = try NATSClient(NATSConnectionOptions(servers: cluster.urls))
        let log = try Self.eventually("stream") { try JetStreamLog(client: client, stream: "replicated", replicas: 3) }
        var acknowledged: [(sequence: UInt64, payload: [UInt8])] = []
        var killed: String?
        for i in 0..<300 {
            if i == 100 {
                let leader = try #require(try Self.eventually("leader") { try log.leader() })
                cluster.server(named: leader)?.kill9()
                killed = leader
            }
            let payload = Array("event \(i)".utf8)
            // Each append carries a unique id: a retry after a lost answer is stored once.
            // (A retry of an append that was stored answers `duplicate` with the stored sequence.)
            let ack = try log.append(payload, messageID: "writer-1/\(i)", retryFor: .seconds(30))
            acknowledged.append((ack.sequence, payload))
        }
        #expect(killed != nil)
        #expect(acknowledged.map(\.sequence) == Array(1...300), "each append stored once, in order, no gaps")
        // A reader through the surviving servers sees exactly what was acknowledged.
        let reader = try Self.eventually("reader") { try log.read(from: 1) }
        var read: [LogEntry] = []
        while read.count < 300, let entry = try reader.next(timeout: .seconds(10)) { read.append(entry) }
        #expect(read.map(\.sequence) == acknowledged.map(\.sequence))
        #expect(read.map(\.payload) == acknowledged.map(\.payload))
    }
}

/// Entries a replica cannot read stop it with a clear error, never a crash.
@Suite struct LogEntryCodecTests {
    @Test func malformedEntriesAreRefusedWithAReason() throws {
        let valid = try LogEntryCodec.encode(WriteEvent(.documents, documents: [("a", [1]), ("b", nil)], nowMs: 42),
                                             marks: WriteMarks(WritePlan()))
        let decoded = try LogEntryCodec.decode(valid)
        #expect(decoded.event.nowMs == 42 && decoded.event.documents.map(\.name) == ["a", "b"])
        #expect(decoded.event.documents[1].value == nil && decoded.event.documents[0].value == [1])
        // Truncations and random bytes: each either decodes or throws LogEntryError.
        var generator = SystemRandomNumberGenerator()
        for length in 0..<valid.count {
            _ = try? LogEntryCodec.decode(Array(valid.prefix(length)))
        }
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do { _ = try LogEntryCodec.decode(bytes) } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(throws: LogEntryError.self, "no operation") { _ = try LogEntryCodec.decode([0x08, 0x01, 0x22, 0x00]) }
        #expect(throws: LogEntryError.self, "a newer format") { _ = try LogEntryCodec.decode([0x08, 0x02]) }
    }
}
