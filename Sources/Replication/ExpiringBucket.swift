import CNats
#if canImport(Glibc)
import Glibc
#endif

/// A JetStream key-value bucket whose entries expire after `ttl`, for what
/// every graphd of a stream must find for a while and no longer (Route
/// decisions awaiting late feedback). Writes do not wait: they are published
/// to the bucket's subject and stored by JetStream a moment later.
public final class ExpiringBucket: @unchecked Sendable {
    private let client: NATSClient
    private let store: OpaquePointer
    public let bucket: String
    public let ttl: Duration

    init(client: NATSClient, bucket: String, ttl: Duration, replicas: Int) throws(NATSError) {
        self.client = client
        self.bucket = bucket
        self.ttl = ttl
        store = try openKeyValueBucket(client: client, bucket: bucket, ttl: ttl, replicas: replicas)
    }

    deinit { kvStore_Destroy(store) }

    /// Stores `value` under `key` without waiting for JetStream's acknowledgement
    /// (lost if NATS is away now). Keys are the bucket's: letters, digits, `-_=./`.
    public func put(_ key: String, _ value: [UInt8]) throws(NATSError) {
        let subject = "$KV.\(bucket).\(key)"
        let status = value.withUnsafeBytes { natsConnection_Publish(client.connection, subject, $0.baseAddress, Int32($0.count)) }
        try check(status, "cannot store \(key) in \(bucket)")
    }

    /// The value under `key`, or nil when there is none (never stored, or expired). Blocks: call off the pool.
    public func get(_ key: String) throws(NATSError) -> [UInt8]? {
        try readKeyValueEntry(store, key: key, what: "\(key) from \(bucket)")?.value
    }
}

/// The entry under `key` (its value and revision), or nil when there is none. Blocks.
func readKeyValueEntry(_ store: OpaquePointer, key: String, what: @autoclosure () -> String) throws(NATSError)
    -> (value: [UInt8], revision: UInt64)? {
    var entry: OpaquePointer?
    let status = kvStore_Get(&entry, store, key)
    if status == NATS_NOT_FOUND { return nil }
    try check(status, "cannot read \(what())")
    guard let entry else { return nil }
    defer { kvEntry_Destroy(entry) }
    let length = Int(kvEntry_ValueLen(entry))
    let value = length > 0 ? kvEntry_Value(entry).map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? [] : []
    return (value, kvEntry_Revision(entry))
}

/// Opens a key-value bucket, creating it when missing: one value per key,
/// kept in files with `replicas` copies, each expiring `ttl` after its write.
func openKeyValueBucket(client: NATSClient, bucket: String, ttl: Duration, replicas: Int) throws(NATSError) -> OpaquePointer {
    var store: OpaquePointer?
    if js_KeyValue(&store, client.jetStream, bucket) != NATS_OK {
        var config = kvConfig()
        kvConfig_Init(&config)
        let status = bucket.withCString { name in
            config.Bucket = name
            config.History = 1
            config.TTL = ttl.nanoseconds
            config.StorageType = js_FileStorage
            config.Replicas = Int32(replicas)
            return js_CreateKeyValue(&store, client.jetStream, &config)
        }
        try check(status, "cannot create the key-value bucket \(bucket)")
    }
    guard let store else { throw NATSError(NATS_ERR, "cannot open the key-value bucket \(bucket)") }
    return store
}
