import Foundation

/// libnats' calls block (a publish waits for its acknowledgement, a read for
/// the next entry). Run from async code, they go to a thread of their own:
/// Swift's cooperative pool has one thread per core, and a few blocked ones
/// stall every task of the process.
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }
}
