import GraphCore

/// Baselines for benchmarks: the store's own SQLite work without the rest of graphd.
public enum StoreBenchmark {
    /// Inserts `sources.count` rows into the edges table of a fresh store at
    /// `path`, one transaction per `batchSize` rows, with the same schema,
    /// statement and durability graphd uses. Returns the seconds spent inserting.
    public static func batchedEdgeInsert(path: String, sources: [UInt32], targets: [UInt32], batchSize: Int,
                                         synchronous: StoreSynchronous = .full) throws -> Double {
        let store = try GraphStore(path: path, synchronous: synchronous)
        let statement = try store.connection.prepare(
            "INSERT INTO edges(id, type, source, target, weight, ts, attrs) VALUES (?, ?, ?, ?, ?, ?, ?)")
        let start = ContinuousClock.now
        var next = 0
        while next < sources.count {
            let end = min(next + batchSize, sources.count)
            try store.connection.transaction {
                for i in next..<end {
                    statement.bind(1, Int64(i + 1)); statement.bind(2, Int64(0))
                    statement.bind(3, Int64(sources[i])); statement.bind(4, Int64(targets[i]))
                    statement.bind(5, 1.0); statement.bind(6, Int64(1_700_000_000_000))
                    statement.bind(7, blob: nil)
                    try statement.run()
                }
            }
            next = end
        }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}
