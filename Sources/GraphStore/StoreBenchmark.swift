import CSQLite
import GraphCore

/// Baselines for benchmarks: plain SQLite work without the rest of graphd.
public enum StoreBenchmark {
    /// The classic way to store edges: one row per edge, inserted with a
    /// prepared statement, one transaction per `batchSize` rows, in WAL mode with
    /// graphd's durability, into a fresh database at `path` holding a table like
    /// graphd's own row table before schema v3. Returns the seconds spent inserting.
    public static func batchedEdgeInsert(path: String, sources: [UInt32], targets: [UInt32], batchSize: Int,
                                         synchronous: StoreSynchronous = .full) throws -> Double {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
        try connection.execute("PRAGMA cache_size=-16384")
        try connection.execute("""
            CREATE TABLE edges(id INTEGER PRIMARY KEY, type INTEGER NOT NULL, source INTEGER NOT NULL,
                               target INTEGER NOT NULL, weight REAL NOT NULL, ts INTEGER NOT NULL, attrs BLOB)
            """)
        let statement = try connection.prepare(
            "INSERT INTO edges(id, type, source, target, weight, ts, attrs) VALUES (?, ?, ?, ?, ?, ?, ?)")
        let start = ContinuousClock.now
        var next = 0
        while next < sources.count {
            let end = min(next + batchSize, sources.count)
            try connection.transaction {
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
