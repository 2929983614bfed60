import CSQLite
import Foundation
import GraphCore

/// A consistent copy of a graphd store: one SQLite file holding the graph, its
/// documents and the replication log position it had applied (so a graphd
/// started on it replays the log from there).
public struct StoreSnapshot: Sendable {
    public var path: String
    public var byteCount: Int64
    /// The log sequence the copy had applied (0: none, or it never replicated).
    public var appliedLogSequence: UInt64
}

extension GraphDatabase {
    /// Writes a consistent copy of the committed store to `destination`, a file
    /// that must not exist, while writes go on (SQLite `VACUUM INTO` in one read
    /// transaction on a connection of its own). Blocks for as long as the copy
    /// takes: call it off the cooperative pool.
    public nonisolated func writeSnapshot(to destination: String) throws -> StoreSnapshot {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw GraphError(.alreadyExists, "snapshot destination \(destination) exists")
        }
        do {
            let reader = try SQLiteConnection(path: path)
            let statement = try reader.prepare("VACUUM INTO ?")
            statement.bind(1, destination)
            try statement.run()
        } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw error
        }
        let copy = try SQLiteConnection(path: destination)
        let position = try copy.prepare("SELECT value FROM documents WHERE name = ?")
        position.bind(1, LogPosition.documentName)
        var applied: UInt64 = 0
        if try position.step(), let bytes = position.blob(0) { applied = try LogPosition.sequence(bytes) }
        let size = (try? FileManager.default.attributesOfItem(atPath: destination))?[.size] as? Int64 ?? 0
        return StoreSnapshot(path: destination, byteCount: size, appliedLogSequence: applied)
    }
}
