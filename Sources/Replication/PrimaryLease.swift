import CNats
#if canImport(Glibc)
import Glibc
#endif

/// Who may append to the log: a key in a JetStream key-value bucket whose
/// entries expire after `ttl`. The holder renews it well within the TTL with
/// a compare-and-set on its revision; when it stops (paused, partitioned,
/// dead) the entry expires and another graphd can create it.
public final class PrimaryLease: @unchecked Sendable {
    private let store: OpaquePointer
    public let bucket: String
    public let key: String
    public let ttl: Duration

    /// The lease's current holder: its address (what replicas tell clients) and the entry's revision.
    public struct Holder: Sendable, Equatable {
        public var address: String
        public var revision: UInt64
    }

    public init(client: NATSClient, bucket: String, key: String = "primary", ttl: Duration = .seconds(5), replicas: Int = 1) throws(NATSError) {
        self.bucket = bucket
        self.key = key
        self.ttl = ttl
        store = try openKeyValueBucket(client: client, bucket: bucket, ttl: ttl, replicas: replicas)
    }

    deinit { kvStore_Destroy(store) }

    /// The holder now, or nil when the lease is free (never taken, released or expired).
    public func holder() throws(NATSError) -> Holder? {
        guard let entry = try entry(), !entry.address.isEmpty else { return nil }
        return entry
    }

    /// The key's entry as stored: an empty address is a released lease.
    private func entry() throws(NATSError) -> Holder? {
        guard let entry = try readKeyValueEntry(store, key: key, what: "the lease \(bucket)/\(key)") else { return nil }
        return Holder(address: String(decoding: entry.value, as: UTF8.self), revision: entry.revision)
    }

    /// Takes the lease for `address` if it is free: its revision, or nil when another holds it.
    public func acquire(address: String) throws(NATSError) -> UInt64? {
        precondition(!address.isEmpty, "an empty address marks a released lease")
        // A released lease is an entry with an empty address: taken with a
        // compare-and-set on its revision, so that two graphds cannot both take it.
        if let released = try entry(), released.address.isEmpty {
            var revision: UInt64 = 0
            let status = address.withCString { kvStore_Update(&revision, store, key, $0, Int32(strlen($0)), released.revision) }
            return status == NATS_OK ? revision : nil
        }
        var revision: UInt64 = 0
        let status = address.withCString { kvStore_Create(&revision, store, key, $0, Int32(strlen($0))) }
        if status == NATS_OK { return revision }
        // Create fails when the key holds a live value: another graphd has the lease.
        if try entry() != nil { return nil }
        try check(status, "cannot take the lease \(bucket)/\(key)")
        return nil
    }

    /// Renews a lease held at `revision`: the new revision. Throws when it was
    /// lost meanwhile (expired and taken, or changed): the holder must step down.
    public func renew(address: String, revision: UInt64) throws(NATSError) -> UInt64 {
        var next: UInt64 = 0
        let status = address.withCString { kvStore_Update(&next, store, key, $0, Int32(strlen($0)), revision) }
        try check(status, "the lease \(bucket)/\(key) was lost (revision \(revision) is no longer current)")
        return next
    }

    /// Gives the lease up at once (a graceful shutdown), if still held at
    /// `revision`: a compare-and-set to an empty address, so a lease another
    /// graphd took meanwhile is left alone.
    public func release(revision: UInt64) throws(NATSError) {
        var next: UInt64 = 0
        let status = kvStore_Update(&next, store, key, "", 0, revision)
        guard status != NATS_OK else { return }
        // Refused when the revision is no longer current: the lease is not ours to give up.
        guard try entry()?.revision == revision else { return }
        try check(status, "cannot release the lease \(bucket)/\(key)")
    }
}
