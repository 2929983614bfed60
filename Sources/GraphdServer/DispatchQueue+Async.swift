import Dispatch

extension DispatchQueue {
    /// Runs `body` on this queue and returns its result: for work that takes
    /// seconds (model builds, training), which must hold neither an event loop
    /// nor a thread of the cooperative pool while it runs.
    func perform<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Returns once everything queued here before the call has run.
    func drained() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in async { done.resume() } }
    }
}
