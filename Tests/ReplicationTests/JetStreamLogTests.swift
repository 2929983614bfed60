import Foundation
import GraphCore
import GraphdHarness
import Testing

@testable import Replication

/// Runs a blocking libnats call (or a wait for a process) off Swift's cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T { try await OffPool.run(body) }

/// The replication log and the primary lease against a real nats-server.
@Suite struct JetStreamLogTests {
    static func start() async throws -> (NATSServer, NATSClient) {
        try await blocking {
            let server = try NATSServer()
            return (server, try NATSClient(NATSConnectionOptions(servers: [server.url])))
        }
    }

    @Test func appendedEntriesAreReadBackInOrderFromAnySequence() async throws {
        let (server, client) = try await Self.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "graph") }
        #expect(try await blocking { try log.lastSequence() } == 0)
        let payloads: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 100_000)]
        var sequences: [UInt64] = []
        for payload in payloads { sequences.append(try await blocking { try log.append(payload).sequence }) }
        #expect(sequences == [1, 2, 3])
        #expect(try await blocking { try log.lastSequence() } == 3)
        // A second client opens the same stream (no new one) and reads from the middle.
        let again = try await blocking { try JetStreamLog(client: try NATSClient(NATSConnectionOptions(servers: [server.url])), stream: "graph") }
        let reader = try await blocking { try again.read(from: 2) }
        #expect(try await blocking { try reader.next(timeout: .seconds(5)) } == LogEntry(sequence: 2, payload: []))
        #expect(try await blocking { try reader.next(timeout: .seconds(5)) } == LogEntry(sequence: 3, payload: payloads[2]))
        #expect(try await blocking { try reader.next(timeout: .milliseconds(200)) } == nil, "nothing after the last entry")
        // An entry appended now reaches the waiting reader.
        _ = try await blocking { try log.append([9]) }
        #expect(try await blocking { try reader.next(timeout: .seconds(5)) } == LogEntry(sequence: 4, payload: [9]))
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func aWriterThatExpectsAnOlderLastSequenceCannotAppend() async throws {
        let (server, client) = try await Self.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "fenced") }
        let first = try await blocking { try log.append([1]).sequence }
        // The new primary appends after the entry it saw last.
        let second = try await blocking { try log.append([2], expectedLastSequence: first).sequence }
        #expect(second == first + 1)
        // The deposed one still believes `first` is the last entry: refused, nothing stored.
        let stale = try await blocking { () -> NATSError? in
            do {
                _ = try log.append([3], expectedLastSequence: first)
                return nil
            } catch let error as NATSError {
                return error
            }
        }
        #expect(stale?.isWrongLastSequence == true, "\(String(describing: stale))")
        #expect(try await blocking { try log.lastSequence() } == second)
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func aRepeatedMessageIDIsStoredOnce() async throws {
        let (server, client) = try await Self.start()
        let log = try await blocking { try JetStreamLog(client: client, stream: "dedup") }
        let once = try await blocking { try log.append([1], messageID: "batch-1") }
        let twice = try await blocking { try log.append([1], messageID: "batch-1") }
        #expect(!once.duplicate && twice.duplicate && once.sequence == twice.sequence)
        #expect(try await blocking { try log.lastSequence() } == once.sequence)
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func badNamesAndAnUnreachableServerAreClearErrors() async throws {
        let (server, client) = try await Self.start()
        await #expect(throws: NATSError.self) { _ = try await blocking { try JetStreamLog(client: client, stream: "a.b") } }
        await #expect(throws: NATSError.self) { _ = try await blocking { try JetStreamLog(client: client, stream: "") } }
        let nobody = RawSockets.freePort()
        let failure = try await blocking { () -> String? in
            var options = NATSConnectionOptions(servers: ["nats://127.0.0.1:\(nobody)"])
            options.timeout = .milliseconds(500)
            do {
                _ = try NATSClient(options)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(failure?.contains("127.0.0.1:\(nobody)") == true, "\(String(describing: failure))")
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }

    @Test func theLeaseHasOneHolderAndPassesOnOnceItLapses() async throws {
        let (server, client) = try await Self.start()
        // A TTL long enough that each step between two lease calls finishes within
        // it on a loaded 2-core machine: a full parallel run stalled this test's
        // calls past 1 s, later past 4 s, and with LiteLLM's proxy starting beside
        // it past 15 s (the lease lapsed before the next check).
        let lease = try await blocking { try PrimaryLease(client: client, bucket: "graphd-lease", ttl: .seconds(30)) }
        #expect(try await blocking { try lease.holder() } == nil)
        let revision = try #require(try await blocking { try lease.acquire(address: "unix:/a.sock") })
        #expect(try await blocking { try lease.holder() } == PrimaryLease.Holder(address: "unix:/a.sock", revision: revision))
        #expect(try await blocking { try lease.acquire(address: "unix:/b.sock") } == nil, "held by a")
        let renewed = try await blocking { try lease.renew(address: "unix:/a.sock", revision: revision) }
        #expect(renewed > revision)
        await #expect(throws: NATSError.self, "a renewal with a revision that is no longer current") {
            _ = try await blocking { try lease.renew(address: "unix:/b.sock", revision: revision) }
        }
        // a stops renewing: within a few TTLs b can take it, and a's renewal then fails.
        var taken: UInt64?
        let deadline = ContinuousClock.now + .seconds(120)
        while taken == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            taken = try await blocking { try lease.acquire(address: "unix:/b.sock") }
        }
        let bRevision = try #require(taken, "the lease never lapsed")
        #expect(try await blocking { try lease.holder()?.address } == "unix:/b.sock")
        await #expect(throws: NATSError.self, "a, back from a pause, cannot renew") {
            _ = try await blocking { try lease.renew(address: "unix:/a.sock", revision: renewed) }
        }
        try await blocking { try lease.release(revision: bRevision) }
        #expect(try await blocking { try lease.holder() } == nil)
        // A released lease is taken by one graphd only, and a late release by
        // its former holder leaves the new one alone.
        let cRevision = try #require(try await blocking { try lease.acquire(address: "unix:/c.sock") })
        #expect(try await blocking { try lease.acquire(address: "unix:/d.sock") } == nil)
        // c renews just before (as a primary does every TTL/4), so that a loaded
        // machine's delays cannot let c's lease lapse before the check below.
        let cRenewed = try await blocking { try lease.renew(address: "unix:/c.sock", revision: cRevision) }
        try await blocking { try lease.release(revision: bRevision) }
        #expect(try await blocking { try lease.holder() } == PrimaryLease.Holder(address: "unix:/c.sock", revision: cRenewed))
        withExtendedLifetime(server) {}  // the nats-server runs until the test ends
    }
}

/// The log on a three-server JetStream cluster, the shape graphd is deployed in.
@Suite struct ClusteredLogTests {
    /// Retries a JetStream call while the cluster elects leaders (a few seconds after start and after a failure).
    static func eventually<T: Sendable>(within: Duration = .seconds(30), _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + within
        while true {
            do { return try await blocking(body) } catch {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    @Test func killingTheStreamLeaderLosesNoAcknowledgedAppendAndStoresNoneTwice() async throws {
        let cluster = try await blocking { try NATSCluster() }
        let client = try await blocking { try NATSClient(NATSConnectionOptions(servers: cluster.urls)) }
        let log = try await Self.eventually { try JetStreamLog(client: client, stream: "replicated", replicas: 3) }
        var acknowledged: [(sequence: UInt64, payload: [UInt8])] = []
        var killed: String?
        for i in 0..<300 {
            if i == 100 {
                let leader = try #require(try await Self.eventually { try log.leader() })
                try await blocking { cluster.server(named: leader)?.kill9() }
                killed = leader
            }
            let payload = Array("event \(i)".utf8)
            // Each append carries a unique id: a retry after a lost answer is stored once.
            // (A retry of an append that was stored answers `duplicate` with the stored sequence.)
            let ack = try await blocking { try log.append(payload, messageID: "writer-1/\(i)", retryFor: .seconds(30)) }
            acknowledged.append((ack.sequence, payload))
        }
        #expect(killed != nil)
        #expect(acknowledged.map(\.sequence) == Array(1...300), "each append stored once, in order, no gaps")
        // A reader through the surviving servers sees exactly what was acknowledged.
        // (Creating its consumer waits for the cluster to settle after the kill: a
        // full parallel test run on 2 cores once took over 30 s, so allow 90.)
        let reader = try await Self.eventually(within: .seconds(90)) { try log.read(from: 1) }
        var read: [LogEntry] = []
        while read.count < 300, let entry = try await blocking({ try reader.next(timeout: .seconds(10)) }) { read.append(entry) }
        #expect(read.map(\.sequence) == acknowledged.map(\.sequence))
        #expect(read.map(\.payload) == acknowledged.map(\.payload))
        withExtendedLifetime(cluster) {}  // the survivors run until the test ends
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
