import CSQLite
import Dispatch
import Synchronization

/// Copies the write-ahead log back into the database file on a thread and a
/// connection of its own, so that the writer's commits never do it. (SQLite's
/// automatic checkpoint runs inside the commit that takes the log past 1,000
/// pages: that commit then copies ~4 MiB and fsyncs the database file, one
/// write in a hundred or so waiting tens of milliseconds.)
///
/// A passive checkpoint neither waits for nor blocks the writer or readers.
/// Should the log still grow past `inlineFrom` pages (checkpoints failing or
/// falling behind), the writer checkpoints in its commit again, as SQLite does.
final class WALCheckpointer: Sendable {
    /// Log size, in pages, that starts a checkpoint aside (SQLite's own default threshold).
    static let asideFrom: Int32 = 1000
    /// Log size at which the writer's commit checkpoints itself.
    static let inlineFrom: Int32 = 16 * asideFrom

    private let connection: Mutex<SQLiteConnection>
    private let queue = DispatchQueue(label: "graphd.wal-checkpoint")
    private let scheduled = Atomic<Bool>(false)
    /// Checkpoints run aside, and those that failed (SQLite busy, I/O: the next one retries).
    let completed = Atomic<Int>(0)
    let failures = Atomic<Int>(0)

    init(path: String) throws(SQLiteError) {
        connection = Mutex(try SQLiteConnection(path: path))
    }

    /// Takes over checkpoints of `writer`'s log (replacing SQLite's automatic
    /// ones) until `detach`. The writer's connection holds this checkpointer unretained:
    /// the store detaches it before either goes.
    func attach(to writer: SQLiteConnection) {
        sqlite3_wal_hook(writer.handle, { context, db, _, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue()
            if pages >= WALCheckpointer.inlineFrom {
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else if pages >= WALCheckpointer.asideFrom {
                checkpointer.checkpointAside()
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Gives checkpoints back to SQLite's automatic ones and waits for one in progress.
    func detach(from writer: SQLiteConnection) {
        sqlite3_wal_hook(writer.handle, nil, nil)
        sqlite3_wal_autocheckpoint(writer.handle, WALCheckpointer.asideFrom)
        queue.sync {}
    }

    private func checkpointAside() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            defer { scheduled.store(false, ordering: .releasing) }
            let rc = connection.withLock { sqlite3_wal_checkpoint_v2($0.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) }
            if rc == SQLITE_OK { completed.add(1, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
        }
    }
}
