import Foundation
import GraphdHarness
import Testing

@testable import Replication

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
