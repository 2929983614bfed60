import CNats
#if canImport(Glibc)
import Glibc
#endif

/// How graphd reaches NATS: the servers, and what a real deployment needs to
/// authenticate (a credentials file, or a token) and to trust the servers (TLS).
public struct NATSConnectionOptions: Sendable {
    /// `nats://HOST:PORT` URLs; the client picks one and fails over to the others.
    public var servers: [String]
    /// Shown in the servers' connection lists.
    public var name = "graphd"
    /// A `.creds` file (user JWT and NKey seed).
    public var credentialsFile: String?
    public var token: String?
    /// TLS: the CA that signed the servers' certificates, and this client's certificate and key (mutual TLS).
    public var tlsCAFile: String?
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// How long connecting (and each JetStream request, by default) may take.
    public var timeout: Duration = .seconds(5)

    public init(servers: [String]) { self.servers = servers }
}

/// One connection to NATS and its JetStream context. libnats is thread-safe:
/// the handles may be used from any thread; they are released with the client.
public final class NATSClient: @unchecked Sendable {
    let connection: OpaquePointer
    let jetStream: OpaquePointer
    let requestTimeoutMs: Int64

    /// The largest message the connected servers take (their max_payload; 1 MiB unless configured).
    public var maxPayload: Int { Int(natsConnection_GetMaxPayload(connection)) }

    public init(_ options: NATSConnectionOptions) throws(NATSError) {
        guard !options.servers.isEmpty else { throw NATSError(NATS_INVALID_ARG, "no NATS server given") }
        var opts: OpaquePointer?
        try check(natsOptions_Create(&opts), "cannot create NATS options")
        guard let opts else { throw NATSError(NATS_NO_MEMORY, "cannot create NATS options") }
        defer { natsOptions_Destroy(opts) }
        requestTimeoutMs = options.timeout.waitMilliseconds
        let serversStatus = Self.withCStrings(options.servers) { pointers, count in natsOptions_SetServers(opts, pointers, Int32(count)) }
        try check(serversStatus, "invalid NATS server list \(options.servers)")
        try check(natsOptions_SetName(opts, options.name), "invalid connection name")
        try check(natsOptions_SetTimeout(opts, requestTimeoutMs), "invalid timeout")
        // Keep reconnecting: a NATS server restart or a leader election must not end replication.
        try check(natsOptions_SetMaxReconnect(opts, -1), "invalid reconnect setting")
        try check(natsOptions_SetReconnectWait(opts, 250), "invalid reconnect setting")
        if let file = options.credentialsFile {
            try check(natsOptions_SetUserCredentialsFromFiles(opts, file, nil), "cannot use NATS credentials \(file)")
        }
        if let token = options.token { try check(natsOptions_SetToken(opts, token), "invalid NATS token") }
        if options.tlsCAFile != nil || options.tlsCertificateFile != nil {
            try check(natsOptions_SetSecure(opts, true), "cannot enable TLS")
            if let ca = options.tlsCAFile {
                try check(natsOptions_LoadCATrustedCertificates(opts, ca), "cannot load the NATS CA \(ca)")
            }
            if let certificate = options.tlsCertificateFile {
                guard let key = options.tlsKeyFile else { throw NATSError(NATS_INVALID_ARG, "a TLS certificate needs its key") }
                try check(natsOptions_LoadCertificatesChain(opts, certificate, key), "cannot load the NATS client certificate \(certificate)")
            }
        }
        var connection: OpaquePointer?
        try check(natsConnection_Connect(&connection, opts), "cannot connect to NATS at \(options.servers.joined(separator: ","))")
        guard let connection else { throw NATSError(NATS_ERR, "cannot connect to NATS") }
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        jsOptions.Wait = requestTimeoutMs
        var jetStream: OpaquePointer?
        let status = natsConnection_JetStream(&jetStream, connection, &jsOptions)
        guard status == NATS_OK, let jetStream else {
            natsConnection_Destroy(connection)
            throw NATSError(status, "cannot open a JetStream context")
        }
        self.connection = connection
        self.jetStream = jetStream
    }

    deinit {
        jsCtx_Destroy(jetStream)
        natsConnection_Destroy(connection)
    }

    /// Whether the connection is up now (it reconnects by itself).
    public var isConnected: Bool { natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED }

    /// `body` with a C array of copies of the strings and its length, valid for its duration.
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, Int) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        pointers.append(nil)
        return pointers.withUnsafeMutableBufferPointer { buffer in body(buffer.baseAddress!, strings.count) }
    }
}
