import Dispatch
import Synchronization

/// The daemon's background work — model builds, training, online updates,
/// values rebuilt aside — on serial queues, one per kind of job, with one
/// shutdown for all of it.
///
/// Work that takes milliseconds to seconds of OpenBLAS must hold neither an
/// event loop nor a thread of the cooperative pool, and must not run while the
/// process exits: OpenBLAS unmaps its buffers in its exit handler, and a GEMM
/// still running then dies with SIGSEGV. So `shutdown()` refuses new jobs, asks
/// running ones to stop (`JobContext.isCancelled`, which the training loops
/// check every epoch), skips queued ones, and returns once every queue is idle.
public final class BackgroundJobs: Sendable {
    /// One serial queue each: jobs of a kind run one at a time, in order.
    public enum Kind: String, CaseIterable, Sendable {
        case routerTraining = "router-training"
        case routerView = "router-view"
        case reasonerTraining = "reasoner-training"
        case conversationIndex = "conversation-index"
        case reasonerLayout = "reasoner-layout"
        case recommendationModel = "recommendation-model"
        /// `graphd --test-background-gemm`: a job that keeps OpenBLAS busy, so a
        /// test can make the shutdown race certain.
        case diagnostic
    }

    /// What a running job may ask.
    public struct JobContext: Sendable {
        fileprivate let jobs: BackgroundJobs
        fileprivate let requestCancelled: (@Sendable () -> Bool)?

        /// True once the daemon is shutting down or the request that waits for
        /// this job was cancelled: a long job stops at its next check.
        public var isCancelled: Bool { jobs.isStopping || requestCancelled?() == true }
    }

    /// Thrown instead of running a job once shutdown has begun (UNAVAILABLE).
    public struct Stopped: Error, CustomStringConvertible {
        public let kind: Kind
        public var description: String { "graphd is shutting down: \(kind.rawValue) job not run" }
    }

    private struct State {
        var stopping = false
        /// Jobs admitted and not yet finished (queued or running).
        var admitted = 0
        var running: [Kind: Int] = [:]
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let queues: [Kind: DispatchQueue]

    public init(label: String = "graphd") {
        var queues: [Kind: DispatchQueue] = [:]
        for kind in Kind.allCases {
            // Rebuilds aside answer requests that wait for them; the rest is batch work.
            let qos: DispatchQoS = kind == .routerView || kind == .conversationIndex || kind == .reasonerLayout ? .userInitiated : .utility
            queues[kind] = DispatchQueue(label: "\(label).\(kind.rawValue)", qos: qos)
        }
        self.queues = queues
    }

    /// True once `shutdown()` has begun.
    public var isStopping: Bool { state.withLock { $0.stopping } }

    /// Jobs running now, by kind (for tests and diagnostics).
    public var running: [Kind: Int] { state.withLock { $0.running.filter { $0.value > 0 } } }

    /// Runs `body` on `kind`'s queue and returns its result. Throws `Stopped`
    /// without running it once shutdown has begun (also when it was queued
    /// before and its turn comes after). `isCancelled` is the waiting request's
    /// own cancellation, which `JobContext.isCancelled` includes.
    public func perform<T: Sendable>(_ kind: Kind, isCancelled: (@Sendable () -> Bool)? = nil,
                                     _ body: @escaping @Sendable (JobContext) throws -> T) async throws -> T {
        try admit(kind)
        return try await withCheckedThrowingContinuation { continuation in
            queue(kind).async { [self] in
                continuation.resume(with: Result { try execute(kind, isCancelled: isCancelled, body) })
            }
        }
    }

    /// Queues `body` on `kind`'s queue after `delay`, for work nobody waits for
    /// (a rebuild aside). False, and nothing queued, once shutdown has begun.
    @discardableResult
    public func schedule(_ kind: Kind, after delay: Duration = .zero, _ body: @escaping @Sendable (JobContext) -> Void) -> Bool {
        guard (try? admit(kind)) != nil else { return false }
        let work: @Sendable () -> Void = { [self] in _ = try? execute(kind, isCancelled: nil, body) }
        if delay > .zero {
            let (seconds, attoseconds) = delay.components
            let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
            queue(kind).asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: work)
        } else {
            queue(kind).async(execute: work)
        }
        return true
    }

    /// Refuses new jobs, makes `isCancelled` true for running ones, and returns
    /// once every admitted job has ended or been skipped. Idempotent.
    public func shutdown() async {
        await withCheckedContinuation { (idle: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                state.stopping = true
                guard state.admitted > 0 else { return true }
                state.idleWaiters.append(idle)
                return false
            }
            if done { idle.resume() }
        }
    }

    private func queue(_ kind: Kind) -> DispatchQueue {
        // Every kind has a queue (built from Kind.allCases in init).
        queues[kind] ?? DispatchQueue(label: "graphd.\(kind.rawValue)")
    }

    private func admit(_ kind: Kind) throws {
        try state.withLock { state in
            guard !state.stopping else { throw Stopped(kind: kind) }
            state.admitted += 1
        }
    }

    /// On `kind`'s queue: runs `body` unless shutdown began while it was queued.
    private func execute<T>(_ kind: Kind, isCancelled: (@Sendable () -> Bool)?, _ body: (JobContext) throws -> T) throws -> T {
        let skip = state.withLock { state -> Bool in
            if !state.stopping { state.running[kind, default: 0] += 1 }
            return state.stopping
        }
        defer { finished(kind, ran: !skip) }
        if skip { throw Stopped(kind: kind) }
        return try body(JobContext(jobs: self, requestCancelled: isCancelled))
    }

    private func finished(_ kind: Kind, ran: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if ran { state.running[kind, default: 1] -= 1 }
            state.admitted -= 1
            guard state.admitted == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
