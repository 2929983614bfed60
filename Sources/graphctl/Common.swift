import ArgumentParser
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto
import NIOSSL

/// How a command prints its result.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output: text for people, json (one object on stdout) for programs.")
    var format: OutputFormat = .text
}

/// Options every subcommand that talks to graphd takes.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("graphd's Unix socket (default: $GRAPHD_SOCKET, then /tmp/graphd.sock).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Connect over TCP to HOST:PORT instead of the Unix socket.", valueName: "host:port"))
    var tcp: String?

    @Option(help: ArgumentHelp("Per-call deadline in seconds.", valueName: "seconds"))
    var timeout: Double = 30

    @Option(help: ArgumentHelp("File holding the bearer token a TCP listener requires (default: $GRAPHD_TOKEN_FILE).", valueName: "file"))
    var tokenFile: String?

    @Flag(help: "Speak TLS to the TCP listener (graphd --tls-cert), checking its certificate.")
    var tls = false

    @Option(help: ArgumentHelp("PEM file of the CA certificates to trust for --tls (default: the system's).", valueName: "file"))
    var tlsCA: String?

    @Flag(help: "Replication: when a replica refuses a write, send it once to the primary the replica names (default: fail with exit 65 and the primary's address).")
    var followPrimary = false

    @Option(help: ArgumentHelp("Replication: read only once the graphd has applied this log sequence (a write's log_sequence); a replica waits up to --timeout.", valueName: "sequence"))
    var minLogSequence: UInt64?

    func validate() throws {
        if let tcp, TTRPCEndpoint.parseTCP(tcp) == nil { throw ValidationError("--tcp must be HOST:PORT, got '\(tcp)'") }
        if (tls || tlsCA != nil) && tcp == nil { throw ValidationError("--tls applies to --tcp connections") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    var endpoint: TTRPCEndpoint {
        if let tcp, let endpoint = TTRPCEndpoint.parseTCP(tcp) { return endpoint }
        let path = socket ?? ProcessInfo.processInfo.environment["GRAPHD_SOCKET"] ?? "/tmp/graphd.sock"
        return .unix(path: path)
    }

    func connect() async throws -> GraphClient {
        var token: String? = nil
        if let path = tokenFile ?? ProcessInfo.processInfo.environment["GRAPHD_TOKEN_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw fail(message: "cannot read the token file \(path)", code: ToolExit.noInput)
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var tlsConfiguration: TLSConfiguration?
        if tls || tlsCA != nil {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let tlsCA {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tlsCA))
                } catch {
                    throw fail(message: "cannot read CA certificates from \(tlsCA): \(error)", code: ToolExit.noInput)
                }
            }
            tlsConfiguration = configuration
        }
        var client = try await GraphClient.connect(to: endpoint, defaultTimeout: .milliseconds(Int64(timeout * 1000)), bearerToken: token,
                                                   tls: tlsConfiguration)
        client.followsPrimary = followPrimary
        if let minLogSequence { client.metadata.append((GraphdReplicationWire.minLogSequenceKey, "\(minLogSequence)")) }
        return client
    }

    /// Connects, runs `body`, closes; RPC errors become messages and exit codes.
    func withClient<T>(_ body: (GraphClient) async throws -> T) async throws -> T {
        let client: GraphClient
        do {
            client = try await connect()
        } catch {
            throw fail(error)
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw fail(error)
        }
    }
}

/// Parses "TYPE:KEY" (the key may contain ':').
func parseNodeRef(_ text: String) throws -> Graphd_V1_NodeRef {
    guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex else {
        throw ValidationError("node '\(text)' must be written TYPE:KEY, e.g. user:42")
    }
    return Graphd_V1_NodeRef(type: String(text[..<colon]), key: String(text[text.index(after: colon)...]))
}

extension Graphd_V1_NodeRef {
    var display: String { "\(type):\(key)" }
}

func jsonObject(_ ref: Graphd_V1_NodeRef) -> [String: Any] { ["type": ref.type, "key": ref.key] }

func jsonObject(_ linked: Graphd_V1_LinkedEntity) -> [String: Any] {
    ["node": jsonObject(linked.node), "surface": linked.surface, "turn": linked.turn]
}

func jsonObject(_ node: Graphd_V1_Node) -> [String: Any] {
    var object: [String: Any] = ["type": node.type, "key": node.key]
    if node.hasText { object["text"] = node.text }
    if !node.features.isEmpty { object["features"] = node.features.map { Double($0) } }
    return object
}

func jsonObject(_ edge: Graphd_V1_Edge) -> [String: Any] {
    var object: [String: Any] = [
        "type": edge.type,
        "source": jsonObject(edge.source),
        "target": jsonObject(edge.target),
        "weight": edge.weight,
        "timestamp_ms": edge.timestampMs,
    ]
    if !edge.attributes.isEmpty { object["attributes"] = edge.attributes }
    return object
}

/// Runs `train` and, when `show`, beside it on the same connection prints its
/// job's progress from `poll` to standard error about once a second (a line when the
/// epoch moved) until `train` returns. A failed poll only ends the watching.
func watchingProgress<Result>(show: Bool, poll: @escaping @Sendable () async throws -> Graphd_V1_TrainingProgress,
                              _ train: () async throws -> Result) async throws -> Result {
    guard show else { return try await train() }
    let watcher = Task {
        var shown: UInt32 = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard !Task.isCancelled, let progress = try? await poll() else { return }
            guard progress.running, progress.epoch != shown else { continue }
            shown = progress.epoch
            log(progress.summary)
        }
    }
    defer { watcher.cancel() }
    return try await train()
}

extension Graphd_V1_TrainingProgress {
    /// "epoch 31/400: training loss …, validation loss … (best … at epoch …), 1.0 s".
    var summary: String {
        String(format: "epoch %u/%u: training loss %.4f, validation loss %.4f (best %.4f at epoch %u), %.1f s",
               epoch, maxEpochs, trainingLoss, validationLoss, bestValidationLoss, bestEpoch, seconds)
    }
}
