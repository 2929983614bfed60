import Foundation
import GraphCore
import GraphStore
import Logging
import Synchronization

/// How a graphd takes part in replication.
public struct ReplicationOptions: Sendable {
    public var connection: NATSConnectionOptions
    /// The JetStream stream that holds the log (created when missing).
    public var stream: String
    /// Never take the lease: always a replica (a read-only graphd, a backup).
    public var replicaOnly = false
    /// Where clients reach this graphd, told to them by replicas while it is
    /// the primary (e.g. "unix:/run/graphd.sock", "tcp:graphd-0.graphd:7419").
    public var advertisedAddress: String
    /// How long the lease lasts without a renewal: a dead primary's writes
    /// resume on a replica after about this long.
    public var leaseTTL: Duration = .seconds(5)
    /// How often a replica looks at the lease and the stream's end.
    public var checkInterval: Duration = .milliseconds(250)

    /// Copies of the stream and the lease bucket: the number of servers given, at most 3.
    public var streamReplicas: Int { min(3, max(1, connection.servers.count)) }
    /// The KV bucket of the lease: one per stream.
    public var leaseBucket: String { "graphd-lease-\(stream)" }
    /// The KV bucket of Route's decisions awaiting late feedback: one per stream.
    public var decisionBucket: String { "graphd-decisions-\(stream)" }

    public init(connection: NATSConnectionOptions, stream: String, advertisedAddress: String) {
        self.connection = connection
        self.stream = stream
        self.advertisedAddress = advertisedAddress
    }
}

/// Whether this graphd writes (holds the lease) or follows.
public enum ReplicationRole: String, Sendable {
    case primary, replica
}

/// What Stats, /metrics and /readyz show about replication.
public struct ReplicationStatus: Sendable, Equatable {
    public var role: ReplicationRole
    /// The last log sequence committed to this store.
    public var appliedSequence: UInt64
    /// The stream's last sequence as last seen (on the primary: its own).
    public var lastSequence: UInt64
    /// Seconds since this graphd first saw an entry it has not applied yet (0: caught up).
    public var lagSeconds: Double
    /// The lease holder's address ("" while no one holds it).
    public var primaryAddress: String

    public var lagEntries: UInt64 { lastSequence > appliedSequence ? lastSequence - appliedSequence : 0 }
}

/// graphd's connection to replication: the NATS client, the log's stream and
/// the lease's bucket (each created when missing, with `streamReplicas` copies).
/// Made before the store is opened, so that NATS unreachable at start fails
/// with nothing written.
public final class ReplicationLink: Sendable {
    public let options: ReplicationOptions
    let client: NATSClient
    public let log: JetStreamLog
    let lease: PrimaryLease

    public init(options: ReplicationOptions) async throws {
        self.options = options
        let client = try await OffPool.run { try NATSClient(options.connection) }
        self.client = client
        let replicas = options.streamReplicas
        // A fresh cluster answers "JetStream not enabled" while it elects its meta leader.
        (log, lease) = try await Self.retryingTransient {
            (try JetStreamLog(client: client, stream: options.stream, replicas: replicas),
             try PrimaryLease(client: client, bucket: options.leaseBucket, ttl: options.leaseTTL, replicas: replicas))
        }
    }

    /// The bucket `name` (created when missing, with the stream's copies), whose entries expire after `ttl`.
    public func expiringBucket(_ name: String, ttl: Duration) async throws -> ExpiringBucket {
        let client = self.client, replicas = options.streamReplicas
        return try await Self.retryingTransient { try ExpiringBucket(client: client, bucket: name, ttl: ttl, replicas: replicas) }
    }

    private static func retryingTransient<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do { return try await OffPool.run(body) } catch let error as NATSError where error.isTransient && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}

/// Runs one graphd's part in replication: refuses a store that is ahead of the
/// stream, and then, until cancelled, either follows the log as a replica
/// (applying each entry with its position in one transaction) or, holding the
/// lease, is the primary whose every accepted write is appended to the log
/// before it commits. A replica takes the lease when it lapses, and only once
/// it has applied the whole stream; a primary that loses the lease, or finds
/// another writer appended, steps down.
public final class ReplicationController: Sendable {
    public let options: ReplicationOptions
    public let database: GraphDatabase
    let log: JetStreamLog
    let lease: PrimaryLease
    let applier: LogApplier
    private let logger: Logger
    private let state: Mutex<State>
    /// Signalled after each entry applied: wakes reads waiting for a sequence.
    private let applied = AppliedSignal()
    /// The store's configured durability, which the primary commits with; a
    /// replica commits without fsync (what a power loss takes, it replays).
    private let primarySynchronous: StoreSynchronous

    private struct State {
        var role = ReplicationRole.replica
        var lastSequence: UInt64 = 0
        var behindSince: ContinuousClock.Instant?
        var primaryAddress = ""
        var failure: String?
    }

    /// Checks the store against the stream (a store that applied more than the
    /// stream holds, or whose position is unreadable, is refused with a clear
    /// error). Writes are refused (the database gets a refusing write log)
    /// until `run` makes this graphd the primary.
    public init(link: ReplicationLink, database: GraphDatabase, logger: Logger) async throws {
        options = link.options
        self.database = database
        self.logger = logger
        log = link.log
        lease = link.lease
        _ = try LogPosition.applied(in: database)
        let log = self.log
        applier = try await OffPool.run { try LogApplier(log: log, database: database) }
        state = Mutex(State())
        primarySynchronous = await database.synchronous
        await database.setWriteLog(ReplicaRefusal(controller: self))
        // Know the primary (and the stream's end) before serving: a replica's
        // first refused write names it. NATS away now only delays that.
        _ = try? await observe()
    }

    public var status: ReplicationStatus {
        let applied = database.appliedLogSequence
        return state.withLock { state in
            ReplicationStatus(role: state.role, appliedSequence: applied,
                              lastSequence: state.role == .primary ? applied : max(state.lastSequence, applied),
                              lagSeconds: state.behindSince.map { (ContinuousClock.now - $0).seconds } ?? 0,
                              primaryAddress: state.primaryAddress)
        }
    }

    public var role: ReplicationRole { state.withLock { $0.role } }

    /// Why a write is refused here: nil on the primary.
    public var writeRefusal: NotPrimaryError? {
        state.withLock { state in
            if let failure = state.failure { return NotPrimaryError(.stopped(failure)) }
            guard state.role != .primary else { return nil }
            return NotPrimaryError(state.primaryAddress.isEmpty ? .noPrimary : .replica(primary: state.primaryAddress))
        }
    }

    /// Waits until this store has applied `sequence` (read-your-writes on a
    /// replica); throws UNAVAILABLE shortly before `deadline` (so that the
    /// caller reads why, not its own timeout), or after 10 s without one.
    public func waitUntilApplied(_ sequence: UInt64, deadline: ContinuousClock.Instant?) async throws {
        let end = deadline.map { $0 - min(($0 - .now) / 10, .milliseconds(100)) } ?? .now + .seconds(10)
        while database.appliedLogSequence < sequence {
            if let failure = state.withLock({ $0.failure }) {
                throw GraphError(.unavailable, "replication stopped here: \(failure)")
            }
            guard ContinuousClock.now < end else {
                throw GraphError(.unavailable, "this graphd has applied log sequence \(database.appliedLogSequence), not yet \(sequence) "
                                 + "(min-log-sequence) by the request's deadline; retry, or read from the primary")
            }
            // Woken by the next applied entry; the timeout bounds a missed wake-up
            // (the primary's own writes, a catch-up) and keeps the deadline.
            await applied.wait(timeout: min(.milliseconds(20), end - .now))
            try Task.checkCancellation()
        }
    }

    /// Replicates until cancelled; then a primary stops writing and gives the
    /// lease up, so that a replica takes over at once. Throws (after logging)
    /// when the log cannot be applied here: a replica stops rather than skip.
    public func run() async throws {
        do {
            while !Task.isCancelled {
                guard let revision = try await follow() else { break }
                try await lead(revision: revision)
            }
        } catch is CancellationError {
        } catch {
            state.withLock { $0.failure = "\(error)" }
            logger.critical("replication stopped", metadata: ["stream": "\(options.stream)", "error": "\(error)"])
            throw error
        }
        await database.setWriteLog(ReplicaRefusal(controller: self))
    }

    /// The replica's loop: applies the log as it comes and watches the lease;
    /// returns the lease's revision once this graphd took it, nil when cancelled.
    /// NATS away (a server down, a leader election) only pauses it.
    private func follow() async throws -> UInt64? {
        state.withLock { $0.role = .replica }
        try await database.setSynchronous(.normal)
        logger.info("following the log", metadata: ["stream": "\(options.stream)", "applied": "\(database.appliedLogSequence)"])
        while !Task.isCancelled {
            do {
                if let revision = try await followUntilLeaseIsTaken() { return revision }
            } catch let error as NATSError {
                logger.warning("replication waits for NATS", metadata: ["stream": "\(options.stream)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        return nil
    }

    /// Applies the log until the lease is free, then takes it once caught up:
    /// the lease's revision, or nil (cancelled, or another graphd took it first).
    private func followUntilLeaseIsTaken() async throws -> UInt64? {
        let applier = self.applier
        let stopped = Mutex(false)
        let following = Task {
            defer { stopped.withLock { $0 = true } }
            try await applier.follow(poll: .milliseconds(100)) { [weak self] applied in self?.noteApplied(applied) }
        }
        let watched: Result<Bool, any Error>
        do {
            watched = .success(try await watchLease(until: { stopped.withLock { $0 } }))
        } catch {
            watched = .failure(error)
        }
        // The follower stops before anything else applies to the store.
        following.cancel()
        if case .failure(let error) = await following.result, !(error is CancellationError) { throw error }
        guard try watched.get(), !Task.isCancelled else { return nil }
        // The lease is free: apply everything the stream holds, then try to take it.
        try await applier.catchUp()
        let lease = self.lease, address = options.advertisedAddress
        guard let revision = try await OffPool.run({ try lease.acquire(address: address) }) else { return nil }
        // A deposed primary may have appended until its lease lapsed: apply that too.
        do {
            try await applier.catchUp()
        } catch {
            // Not caught up: give the lease back rather than sit on it unrenewed.
            try? await OffPool.run { try lease.release(revision: revision) }
            throw error
        }
        return revision
    }

    /// Looks at the lease every `checkInterval`: true once it is free (and this
    /// graphd may take it), false when `stop` says so or the task is cancelled.
    private func watchLease(until stop: () -> Bool) async throws -> Bool {
        while !Task.isCancelled, !stop() {
            if try await observe() == nil, !options.replicaOnly { return true }
            try await Task.sleep(for: options.checkInterval)
        }
        return false
    }

    private func noteApplied(_ sequence: UInt64) {
        state.withLock { state in
            if sequence >= state.lastSequence { state.behindSince = nil }
        }
        applied.signal()
    }

    /// Reads the lease holder and the stream's end; updates the lag.
    private func observe() async throws -> PrimaryLease.Holder? {
        let lease = self.lease, log = self.log
        let (holder, last) = try await OffPool.run { (try lease.holder(), try log.lastSequence()) }
        let applied = database.appliedLogSequence
        state.withLock { state in
            state.primaryAddress = holder?.address ?? ""
            state.lastSequence = last
            if last <= applied {
                state.behindSince = nil
            } else if state.behindSince == nil {
                state.behindSince = .now
            }
        }
        return holder
    }

    /// The primary's loop: appends every accepted write, renews the lease; returns
    /// when the lease is lost or the publisher was fenced off (then a replica again).
    private func lead(revision first: UInt64) async throws {
        let publisher = LogPublisher(log: log, lastSequence: database.appliedLogSequence)
        try await database.setSynchronous(primarySynchronous)
        await database.setWriteLog(publisher)
        state.withLock { state in
            state.role = .primary
            state.primaryAddress = options.advertisedAddress
            state.behindSince = nil
        }
        logger.notice("primary", metadata: ["stream": "\(options.stream)", "applied": "\(publisher.lastSequence)"])
        var revision = first
        var renewed = ContinuousClock.now
        let lease = self.lease, address = options.advertisedAddress, ttl = options.leaseTTL
        var stepDown: String?
        while !Task.isCancelled, stepDown == nil {
            do {
                try await Task.sleep(for: ttl / 4)
            } catch {
                break
            }
            if let reason = publisher.stopReason {
                stepDown = reason
                break
            }
            do {
                revision = try await OffPool.run { [revision] in try lease.renew(address: address, revision: revision) }
                renewed = .now
            } catch let error as NATSError where !error.isWrongLastSequence && ContinuousClock.now - renewed < ttl * 3 / 4 {
                // NATS away for a moment (a leader election): the lease still holds; retry.
                logger.warning("cannot renew the primary lease; retrying", metadata: ["error": "\(error)"])
            } catch {
                stepDown = "the lease was lost: \(error)"
            }
        }
        // Writes stop before anything else: the next one is refused.
        await database.setWriteLog(ReplicaRefusal(controller: self))
        if let stepDown {
            logger.warning("stepping down to replica", metadata: ["stream": "\(options.stream)", "reason": "\(stepDown)"])
        }
        // Give the lease up so that a caught-up graphd (perhaps this one) takes it
        // at once, and learn who holds it before refusals name a primary.
        try? await OffPool.run { [revision] in try lease.release(revision: revision) }
        if (try? await observe()) == nil { state.withLock { $0.primaryAddress = "" } }
        state.withLock { $0.role = .replica }
    }
}

/// A write this graphd does not take, and why.
public struct NotPrimaryError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// A replica: writes go to the primary at this address (as it advertises itself).
        case replica(primary: String)
        /// No graphd holds the lease now (an election is under way).
        case noPrimary
        /// This graphd just took the lease and is not writing yet.
        case takingOver
        /// Replication stopped here (an entry that cannot be applied).
        case stopped(String)
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .replica(let primary): "this graphd is a replica and takes no writes (the primary is \(primary))"
        case .noPrimary: "this graphd is a replica and no graphd holds the primary lease now (an election is under way); retry shortly"
        case .takingOver: "this graphd is becoming the primary; retry"
        case .stopped(let failure): "replication stopped here: \(failure)"
        }
    }
}

/// The write log of a graphd that is not the primary: refuses every batch
/// with the primary's address (nothing is written).
struct ReplicaRefusal: WriteLog {
    /// Weak: the database holds this write log, and the controller holds the database.
    weak let controller: ReplicationController?

    func append(_ event: WriteEvent, marks: WriteMarks) throws -> [(name: String, value: [UInt8]?)] {
        guard let controller else { throw NotPrimaryError(.stopped("graphd is shutting down")) }
        throw controller.writeRefusal ?? NotPrimaryError(.takingOver)
    }

    func commitFailed(_ error: any Error) {}
}
