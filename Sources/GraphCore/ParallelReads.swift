#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Splits read-only work over a batch across the machine's cores. The writer
/// is one thread, and its per-edge cost is dominated by independent random
/// lookups (node keys, existing edges) in a state nobody changes while a batch
/// is planned, so these can run side by side.
enum ParallelReads {
    /// Workers for one call: one per core, at most four.
    static let workers = min(4, max(1, sysconfCores()))

    /// Below this many items per worker a batch is done on the calling thread:
    /// handing work to another thread costs more than it saves.
    static let minimumPerWorker = 1024

    /// `[transform(i) for i in 0..<count]`, computed in contiguous chunks in parallel.
    static func map<T: Sendable>(_ count: Int, _ transform: @Sendable (Int) -> T) -> [T] {
        let chunks = min(workers, count / minimumPerWorker)
        guard chunks > 1 else { return (0..<count).map(transform) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Each chunk initializes its own disjoint range of the buffer.
            guard let start = buffer.baseAddress else { return }
            nonisolated(unsafe) let base = start
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                for i in (chunk * count / chunks)..<((chunk + 1) * count / chunks) {
                    (base + i).initialize(to: transform(i))
                }
            }
            initialized = count
        }
    }

    private static func sysconfCores() -> Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}
