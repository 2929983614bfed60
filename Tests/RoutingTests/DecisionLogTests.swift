import Foundation
import Synchronization
import Testing

@testable import Routing

/// Route decisions kept for late feedback: ids, lifetime, limits, the archive.
@Suite struct DecisionLogTests {
    /// A clock the test moves.
    final class TestClock: Sendable {
        let ms = Atomic<Int64>(1_760_000_000_000)
        func advance(seconds: Int64) { ms.add(seconds * 1000, ordering: .relaxed) }
        var now: @Sendable () -> Int64 { { self.ms.load(ordering: .relaxed) } }
    }

    /// Decisions kept in a dictionary: the part a NATS bucket plays with replication.
    final class DictionaryArchive: DecisionArchive {
        let kept = Mutex<[String: RecordedDecision]>([:])
        func archive(id: String, decision: RecordedDecision) { kept.withLock { $0[id] = decision } }
        func fetch(id: String) async throws -> RecordedDecision? { kept.withLock { $0[id] } }
    }

    @Test func idsCarryTheDecisionTime() {
        let id = DecisionLog.id(decidedAtMs: 1_760_000_123_456, random: 0xABC)
        #expect(id.count == 29 && id.hasPrefix("d"))
        #expect(DecisionLog.decisionTime(id) == 1_760_000_123_456)
        #expect(DecisionLog.decisionTime("d" + String(repeating: "g", count: 28)) == nil)
        #expect(DecisionLog.decisionTime(String(id.dropLast())) == nil)
        #expect(DecisionLog.decisionTime("") == nil)
    }

    @Test func aDecisionResolvesUntilItExpires() async throws {
        let clock = TestClock()
        var limits = DecisionLog.Limits()
        limits.lifetime = .seconds(60)
        let log = DecisionLog(limits: limits, now: clock.now)
        let id = log.record(query: "Reverse a list in Python.", vector: [0.5, 0.25], task: "mbpp", llm: "big")
        let decision = try await log.resolve(id)
        #expect(decision == RecordedDecision(query: "Reverse a list in Python.", vector: [0.5, 0.25], task: "mbpp", llm: "big",
                                             decidedAtMs: clock.now()))
        clock.advance(seconds: 61)
        let expired = await #expect(throws: RoutingError.self) { try await log.resolve(id) }
        #expect(expired?.kind == .notFound && expired?.description.contains("expired") == true)
        // Recording after the lifetime drops the expired decision from memory.
        _ = log.record(query: "another", vector: [], task: "", llm: "small")
        #expect(log.count == 1)
    }

    @Test func theOldestGoFirstBeyondTheLimits() async throws {
        var limits = DecisionLog.Limits()
        limits.maxDecisions = 3
        let log = DecisionLog(limits: limits)
        let ids = (0..<5).map { log.record(query: "query \($0)", vector: [], task: "", llm: "m\($0)") }
        #expect(log.count == 3)
        for (i, id) in ids.enumerated() {
            if i < 2 {
                let error = await #expect(throws: RoutingError.self) { try await log.resolve(id) }
                #expect(error?.kind == .notFound)
            } else {
                #expect(try await log.resolve(id).llm == "m\(i)")
            }
        }
        // A byte budget pushes out old decisions the same way.
        var small = DecisionLog.Limits()
        small.maxBytes = 4096
        let bounded = DecisionLog(limits: small)
        let first = bounded.record(query: String(repeating: "x", count: 3000), vector: [], task: "", llm: "a")
        let second = bounded.record(query: String(repeating: "y", count: 3000), vector: [], task: "", llm: "b")
        #expect(try await bounded.resolve(second).llm == "b")
        await #expect(throws: RoutingError.self) { try await bounded.resolve(first) }
        // Many more than fit, so that the kept array compacts: the newest still resolve.
        let many = (0..<5000).map { log.record(query: "q\($0)", vector: [], task: "", llm: "n\($0)") }
        #expect(try await log.resolve(many[4999]).llm == "n4999" && log.count == 3)
    }

    @Test func malformedAndUnknownIds() async throws {
        let log = DecisionLog()
        let malformed = await #expect(throws: RoutingError.self) { try await log.resolve("not-a-decision") }
        #expect(malformed?.kind == .invalidArgument)
        let unknown = DecisionLog.id(decidedAtMs: Int64(Date.now.timeIntervalSince1970 * 1000), random: 7)
        let missing = await #expect(throws: RoutingError.self) { try await log.resolve(unknown) }
        #expect(missing?.kind == .notFound)
    }

    @Test func anotherGraphdsDecisionResolvesThroughTheArchive() async throws {
        let archive = DictionaryArchive()
        let deciding = DecisionLog(archive: archive), resolving = DecisionLog(archive: archive)
        let id = deciding.record(query: "Summarise this memo.", vector: [], task: "", llm: "cheap")
        #expect(try await resolving.resolve(id).llm == "cheap")
        #expect(resolving.count == 0, "a fetched decision is not kept twice")
    }
}
