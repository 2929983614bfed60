import Foundation
import GraphCore
import Synchronization

/// A Route decision as Feedback needs it later: what was asked and what was chosen.
public struct RecordedDecision: Sendable, Codable, Equatable {
    /// The prompt as sent (Feedback stores and keys the part its task's QueryText names, as it would for the text).
    public var query: String
    /// The query's vector, when the caller sent one.
    public var vector: [Float]
    /// The task the caller named ("" when graphd inferred it: an inferred task is not written as the query's task).
    public var task: String
    /// The LLM Route chose.
    public var llm: String
    /// When Route decided, milliseconds since 1970.
    public var decidedAtMs: Int64

    public init(query: String, vector: [Float], task: String, llm: String, decidedAtMs: Int64) {
        self.query = query
        self.vector = vector
        self.task = task
        self.llm = llm
        self.decidedAtMs = decidedAtMs
    }

    /// What it costs to keep in memory, roughly.
    var bytes: Int { query.utf8.count + vector.count * 4 + task.utf8.count + llm.utf8.count + 96 }
}

/// Where decisions are kept beyond this process: with replication, a NATS
/// key-value bucket, so that the primary resolves decisions a replica made and
/// a new primary those of the old one.
public protocol DecisionArchive: Sendable {
    /// Keeps `decision` under `id`; must not block (Route calls it on its path).
    func archive(id: String, decision: RecordedDecision)
    /// The decision kept under `id`, or nil.
    func fetch(id: String) async throws -> RecordedDecision?
}

/// Route's decisions, by the `decision_id` Route returned, for late feedback:
/// an application reports an answer's quality minutes later by that id instead
/// of the prompt. Kept in memory, oldest first out: a decision stays
/// resolvable for `Limits.lifetime`, unless `maxDecisions` or `maxBytes` newer
/// ones pushed it out first. With an archive, decisions also go there, and an
/// id not held here is looked up in it.
public final class DecisionLog: Sendable {
    public struct Limits: Sendable, Equatable {
        /// How long a decision stays resolvable; zero turns decision ids off.
        public var lifetime: Duration = .seconds(3600)
        public var maxDecisions = 100_000
        /// Memory for the decisions' texts and vectors.
        public var maxBytes = 64 << 20
        public init() {}
    }

    public let limits: Limits
    let archive: (any DecisionArchive)?
    /// Milliseconds since 1970; a parameter so that tests can move time.
    private let now: @Sendable () -> Int64
    private let state = Mutex(State())

    private struct Kept {
        var id: String
        var decision: RecordedDecision
    }

    private struct State {
        /// Oldest first from `head`; `index` holds each id's position counted from
        /// the first decision ever kept (`firstPosition` is that of `order[0]`).
        var order: [Kept?] = []
        var head = 0
        var firstPosition = 0
        var index: [String: Int] = [:]
        var bytes = 0
        var random = SplitMix(seed: UInt64.random(in: .min ... .max))
    }

    public init(limits: Limits = Limits(), archive: (any DecisionArchive)? = nil,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.limits = limits
        self.archive = archive
        self.now = now
    }

    public var isEnabled: Bool { limits.lifetime > .zero }
    private var lifetimeMs: Int64 { limits.lifetime.components.seconds * 1000 + limits.lifetime.components.attoseconds / 1_000_000_000_000_000 }

    /// Keeps a decision and returns its id: "d", the decision time in 12 hex
    /// digits, then 16 random hex digits. The time in the id lets an expired id
    /// be told from an unknown one without a lookup.
    public func record(query: String, vector: [Float], task: String, llm: String) -> String {
        let decidedAt = now()
        let decision = RecordedDecision(query: query, vector: vector, task: task, llm: llm, decidedAtMs: decidedAt)
        let id = state.withLock { state in
            // Random bits from a generator seeded once: no system call per Route.
            let id = Self.id(decidedAtMs: decidedAt, random: state.random.next())
            expire(&state, now: decidedAt)
            state.index[id] = state.firstPosition + state.order.count
            state.order.append(Kept(id: id, decision: decision))
            state.bytes += decision.bytes
            while state.index.count > limits.maxDecisions || state.bytes > limits.maxBytes { dropOldest(&state) }
            return id
        }
        archive?.archive(id: id, decision: decision)
        return id
    }

    /// The decision `id` names. Throws NOT_FOUND for an id that expired or is
    /// unknown here and in the archive, INVALID_ARGUMENT for one Route cannot have made.
    public func resolve(_ id: String) async throws -> RecordedDecision {
        guard let decidedAt = Self.decisionTime(id) else {
            throw RoutingError(.invalidArgument, "decision_id '\(id.prefix(64))' is not an id Route returned (d + 28 hex digits)")
        }
        let age = now() - decidedAt
        guard age <= lifetimeMs else {
            throw RoutingError(.notFound, "decision \(id) has expired: decisions stay resolvable for \(lifetimeMs / 1000) s")
        }
        if let kept = held(id) { return kept }
        if let archive {
            // A decision made elsewhere a moment ago may still be on its way to the archive.
            var attempt = 0
            while true {
                if let decision = try await archive.fetch(id: id) { return decision }
                attempt += 1
                guard attempt < 10, now() - decidedAt < 5000 else { break }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw RoutingError(.notFound, "decision \(id) is unknown: it was not made by this graphd"
            + (archive == nil ? "" : " or its replication group") + ", or was pushed out by \(limits.maxDecisions) newer ones")
    }

    private func held(_ id: String) -> RecordedDecision? {
        state.withLock { state in
            expire(&state, now: now())
            guard let position = state.index[id] else { return nil }
            return state.order[position - state.firstPosition]?.decision
        }
    }

    /// How many decisions are held here now.
    public var count: Int { state.withLock { $0.index.count } }

    private func expire(_ state: inout State, now: Int64) {
        while state.head < state.order.count, let oldest = state.order[state.head], now - oldest.decision.decidedAtMs > lifetimeMs {
            dropOldest(&state)
        }
    }

    private func dropOldest(_ state: inout State) {
        guard state.head < state.order.count, let oldest = state.order[state.head] else { return }
        state.order[state.head] = nil
        state.head += 1
        state.index[oldest.id] = nil
        state.bytes -= oldest.decision.bytes
        // Compact the array once half of it is dropped entries.
        if state.head > 1024, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.firstPosition += state.head
            state.head = 0
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func id(decidedAtMs: Int64, random: UInt64) -> String {
        let time = UInt64(max(0, decidedAtMs)) & 0xFFFF_FFFF_FFFF
        let digits = hexDigits
        return String(unsafeUninitializedCapacity: 29) { buffer in
            buffer[0] = UInt8(ascii: "d")
            for i in 0..<12 { buffer[1 + i] = digits[Int((time >> (4 * (11 - i))) & 0xF)] }
            for i in 0..<16 { buffer[13 + i] = digits[Int((random >> (4 * (15 - i))) & 0xF)] }
            return 29
        }
    }

    /// The decision time an id carries, or nil when it is not an id `record` makes.
    static func decisionTime(_ id: String) -> Int64? {
        let utf8 = Array(id.utf8)
        guard utf8.count == 29, utf8[0] == UInt8(ascii: "d"),
              utf8.dropFirst().allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return Int64(String(decoding: utf8[1..<13], as: UTF8.self), radix: 16)
    }
}
