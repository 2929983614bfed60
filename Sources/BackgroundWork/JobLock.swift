import Synchronization

/// One job at a time on a shared resource (a model's weights): a job takes
/// the lock or learns which job holds it, and a caller that would rather wait
/// than be refused waits for the holder to end, without polling.
public final class JobLock<Job: Sendable>: Sendable {
    private struct State: Sendable {
        public var holder: Job?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes the lock for `job`: nil when it got it, else the job that holds it.
    public func tryBegin(_ job: Job) -> Job? {
        state.withLock { state in
            if let holder = state.holder { return holder }
            state.holder = job
            return nil
        }
    }

    /// The holder ended: every waiter resumes (and tries again).
    public func end() {
        let waiters = state.withLock { state in
            state.holder = nil
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The job holding the lock now, if any.
    public var holder: Job? { state.withLock { $0.holder } }

    /// Callers suspended in `waitUntilFree`.
    public var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Returns once no job holds the lock (at once if none does). Another caller
    /// may take it first: try `tryBegin` again.
    public func waitUntilFree() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let free = state.withLock { state in
                guard state.holder != nil else { return true }
                state.waiters.append(waiter)
                return false
            }
            if free { waiter.resume() }
        }
    }
}
