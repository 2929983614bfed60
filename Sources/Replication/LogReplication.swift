import CNats
import Foundation
import GraphCore
import GraphStore
import Synchronization

/// The primary's side of replication: every batch the database accepts is
/// appended to the log before its commit, expecting the log to end where this
/// primary last saw it (a deposed primary cannot append), with a message id
/// unique to this process and batch (a retried append is stored once).
public final class LogPublisher: WriteLog {
    public let log: JetStreamLog
    private let writer = UUID().uuidString
    private let state: Mutex<State>

    private struct State {
        var last: UInt64
        var count: UInt64 = 0
        /// Why this publisher appends no more, once it must not.
        var stopped: String?
    }

    /// - Parameter lastSequence: the log's last sequence as this primary applied it.
    public init(log: JetStreamLog, lastSequence: UInt64) {
        self.log = log
        state = Mutex(State(last: lastSequence))
    }

    /// The last sequence this primary appended or started from.
    public var lastSequence: UInt64 { state.withLock { $0.last } }

    /// Why this publisher refuses every append now, or nil while it appends:
    /// another writer appended first (this primary is deposed), or a batch
    /// went to the log but not into this store. Either way the store must
    /// catch up from the log before anyone appends from it again.
    public var stopReason: String? { state.withLock { $0.stopped } }

    /// The servers' max_payload less room for the headers an append sends
    /// (message id, expected last sequence).
    public var maxEntryBytes: Int { max(0, log.client.maxPayload - 1024) }

    public func append(_ event: WriteEvent, marks: WriteMarks) throws -> [(name: String, value: [UInt8]?)] {
        let bytes = try LogEntryCodec.encode(event, marks: marks)
        guard bytes.count <= maxEntryBytes else {
            throw GraphError(.resourceExhausted, "this write is \(bytes.count) bytes as a replication log entry, over the \(maxEntryBytes) "
                             + "the NATS servers take (their max_payload): send smaller batches, or raise max_payload (deploy/SCALING.md)")
        }
        let (expected, number, stopped) = state.withLock { state in
            state.count += 1
            return (state.last, state.count, state.stopped)
        }
        if let stopped { throw GraphError(.unavailable, "this graphd is stepping down as primary (\(stopped)); retry") }
        do {
            // JetStream reads an expected sequence of 0 as "no expectation": the very
            // first entry of a new stream is fenced by the lease alone.
            let (sequence, _) = try log.append(bytes, expectedLastSequence: expected == 0 ? nil : expected,
                                               messageID: "\(writer)/\(number)")
            state.withLock { $0.last = sequence }
            return [LogPosition.document(sequence)]
        } catch where error.isWrongLastSequence {
            let reason = "stream \(log.stream) moved past sequence \(expected): another graphd appended"
            state.withLock { $0.stopped = $0.stopped ?? reason }
            throw GraphError(.unavailable, "this graphd is no longer the primary (\(reason)); retry")
        } catch {
            throw GraphError(.unavailable, "the replication log did not acknowledge the write (it may hold it all the same; nothing was written here): \(error)")
        }
    }

    public func commitFailed(_ error: any Error) {
        let last = lastSequence
        state.withLock { $0.stopped = $0.stopped ?? "log entry \(last) was appended but not committed here: \(error)" }
    }
}

/// The replica's side: applies the log's entries in order from the store's
/// applied sequence + 1, each with its position in one transaction. An entry
/// it cannot read or that plans differently here stops it (throws) rather than
/// being skipped.
public final class LogApplier: Sendable {
    public let log: JetStreamLog
    public let database: GraphDatabase

    /// Refuses a store that has applied more of the log than the log holds (a
    /// wrong or reset stream).
    public init(log: JetStreamLog, database: GraphDatabase) throws {
        self.log = log
        self.database = database
        let applied = try LogPosition.applied(in: database)
        let last = try log.lastSequence()
        guard applied <= last else {
            throw LogEntryError(description: "the store has applied log sequence \(applied), but stream \(log.stream) ends at \(last): "
                                + "a wrong or reset stream; start from a snapshot of this stream")
        }
    }

    /// Applies every entry up to the log's last sequence at the time of the
    /// call; returns the applied sequence.
    @discardableResult
    public func catchUp(timeout: Duration = .seconds(30)) async throws -> UInt64 {
        let log = self.log
        let target = try await OffPool.run { try log.lastSequence() }
        var applied = try LogPosition.applied(in: database)
        guard applied < target else { return applied }
        let reader = try await OffPool.run { [applied] in try log.read(from: applied + 1) }
        let deadline = ContinuousClock.now + timeout
        while applied < target {
            let wait = deadline - ContinuousClock.now
            guard let entry = try await OffPool.run({ try reader.next(timeout: wait) }) else {
                throw NATSError(NATS_TIMEOUT, "stream \(log.stream) gave nothing after sequence \(applied) of \(target) within \(timeout)")
            }
            guard try await apply(entry, after: applied) else { continue }
            applied = entry.sequence
        }
        return applied
    }

    /// Follows the log: applies entries as they arrive, from the store's applied
    /// sequence + 1, until the calling task is cancelled (then returns the
    /// applied sequence) or an entry cannot be applied (then throws: a replica
    /// stops rather than skip). `applied` is told after each entry.
    @discardableResult
    public func follow(poll: Duration = .milliseconds(200), applied report: @Sendable (UInt64) -> Void = { _ in }) async throws -> UInt64 {
        var applied = try LogPosition.applied(in: database)
        let log = self.log
        let reader = try await OffPool.run { [applied] in try log.read(from: applied + 1) }
        while !Task.isCancelled {
            // A short wait, so that cancellation is seen within `poll`.
            guard let entry = try await OffPool.run({ try reader.next(timeout: poll) }) else { continue }
            guard try await apply(entry, after: applied) else { continue }
            applied = entry.sequence
            report(applied)
        }
        return applied
    }

    /// Applies `entry` if it is the next one: true; false for an entry already
    /// applied (an ordered consumer that is recreated after a server failure may
    /// start over from an earlier sequence: the stream's entries never change,
    /// so those are skipped). A gap stops replication.
    private func apply(_ entry: LogEntry, after applied: UInt64) async throws -> Bool {
        if entry.sequence <= applied { return false }
        guard entry.sequence == applied + 1 else {
            throw LogEntryError(description: "stream \(log.stream) continues at sequence \(entry.sequence) after \(applied): "
                                + "entries are missing (retention?); start from a snapshot")
        }
        let event: WriteEvent, marks: WriteMarks
        do {
            (event, marks) = try LogEntryCodec.decode(entry.payload)
        } catch {
            throw LogEntryError(description: "log entry \(entry.sequence) cannot be read here, replication stops: \(error)")
        }
        do {
            _ = try await database.replay(event, expecting: marks, documents: [LogPosition.document(entry.sequence)])
        } catch {
            throw LogEntryError(description: "log entry \(entry.sequence) cannot be applied here, replication stops: \(error)")
        }
        return true
    }
}
