import Foundation
import GraphCore
import GraphStore
import Replication
import Synchronization
import TTRPC

/// The store copies Snapshot writes, next to the store, until ReadSnapshot
/// has paged each to its end or it has gone unread for `idleLifetime`.
public final class SnapshotFiles: Sendable {
    static let idleLifetime = Duration.seconds(600)
    /// Copies kept at once (each is a whole store).
    static let maxKept = 4
    static let defaultChunk = 1 << 20
    static let maxChunk = 3 << 20

    let directory: String
    /// Names of this store's copies start with this (another store's copies in
    /// the same directory are not this graphd's to remove).
    let prefix: String
    private let kept = Mutex<[String: Kept]>([:])

    private struct Kept {
        /// nil while the copy is being written.
        var snapshot: StoreSnapshot?
        var lastRead: ContinuousClock.Instant
    }

    /// Copies of this store left by a graphd that did not stop cleanly are removed.
    public init(storePath: String) {
        let store = URL(fileURLWithPath: storePath)
        directory = store.deletingLastPathComponent().path
        prefix = ".graphd-snapshot-" + store.lastPathComponent + "-"
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { [prefix] in $0.hasPrefix(prefix) } ?? []
        for name in leftovers { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
    }

    /// Writes a copy of `database`'s store; its id and what it holds.
    func create(from database: GraphDatabase) async throws -> (id: String, snapshot: StoreSnapshot) {
        expireIdle()
        let id = UUID().uuidString.lowercased()
        let reserved = kept.withLock { kept -> Bool in
            guard kept.count < Self.maxKept else { return false }
            kept[id] = Kept(snapshot: nil, lastRead: .now)
            return true
        }
        guard reserved else {
            throw RPCError(.resourceExhausted, "\(Self.maxKept) snapshots are being read already; read one to its end or wait \(Self.idleLifetime) for an unread one to expire")
        }
        let path = directory + "/" + prefix + id + ".sqlite"
        do {
            let snapshot = try await OffPool.run { try database.writeSnapshot(to: path) }
            kept.withLock { $0[id] = Kept(snapshot: snapshot, lastRead: .now) }
            return (id, snapshot)
        } catch {
            kept.withLock { _ = $0.removeValue(forKey: id) }
            throw error
        }
    }

    /// Up to `maxBytes` (0: 1 MiB) of snapshot `id` from `offset`, and whether that reached its end.
    func read(id: String, offset: UInt64, maxBytes: UInt32) throws -> (data: Data, eof: Bool) {
        expireIdle()
        guard maxBytes <= Self.maxChunk else {
            throw RPCError(.invalidArgument, "max_bytes \(maxBytes) is above the limit of \(Self.maxChunk)")
        }
        guard let snapshot = kept.withLock({ kept -> StoreSnapshot? in
            kept[id]?.lastRead = .now
            return kept[id]?.snapshot
        }) else {
            throw RPCError(.notFound, "no snapshot '\(id)': unknown, still being written, read to its end, or expired after \(Self.idleLifetime) unread")
        }
        guard offset <= UInt64(snapshot.byteCount) else {
            throw RPCError(.outOfRange, "offset \(offset) is past the snapshot's \(snapshot.byteCount) bytes")
        }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: snapshot.path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let data = try handle.read(upToCount: maxBytes == 0 ? Self.defaultChunk : Int(maxBytes)) ?? Data()
        let eof = offset + UInt64(data.count) >= UInt64(snapshot.byteCount)
        if eof { remove(id) }
        return (data, eof)
    }

    func removeAll() {
        for id in kept.withLock({ Array($0.keys) }) { remove(id) }
    }

    private func remove(_ id: String) {
        guard let removed = kept.withLock({ $0.removeValue(forKey: id) })?.snapshot else { return }
        try? FileManager.default.removeItem(atPath: removed.path)
    }

    private func expireIdle() {
        let idle = kept.withLock { kept in
            kept.filter { $0.value.snapshot != nil && ContinuousClock.now - $0.value.lastRead > Self.idleLifetime }.map(\.key)
        }
        for id in idle { remove(id) }
    }
}
