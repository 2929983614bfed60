import Synchronization

/// Wakes the reads that wait for a log sequence (min-log-sequence) when a
/// replica applies an entry, instead of each polling: a wait returns at the
/// next signal or after its timeout, whichever comes first, and the caller
/// checks the applied sequence again.
final class AppliedSignal: Sendable {
    private struct Waiters {
        var next = 0
        var parked: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waits that ended before their continuation was parked.
        var ended: Set<Int> = []
    }

    private let waiters = Mutex(Waiters())

    /// Wakes every waiter.
    func signal() {
        let woken = waiters.withLock { waiters in
            defer { waiters.parked.removeAll() }
            return Array(waiters.parked.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns at the next `signal`, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        let id = waiters.withLock { waiters in
            waiters.next += 1
            return waiters.next
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await withCheckedContinuation { continuation in
                    let endedAlready = waiters.withLock { waiters in
                        if waiters.ended.remove(id) != nil { return true }
                        waiters.parked[id] = continuation
                        return false
                    }
                    if endedAlready { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Whichever came first, the parked continuation must be resumed (or never park).
            let parked = waiters.withLock { waiters -> CheckedContinuation<Void, Never>? in
                if let continuation = waiters.parked.removeValue(forKey: id) { return continuation }
                waiters.ended.insert(id)
                return nil
            }
            parked?.resume()
            await group.waitForAll()
            waiters.withLock { _ = $0.ended.remove(id) }
        }
    }
}
