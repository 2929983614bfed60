import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real nats-server with JetStream on a free loopback port and a scratch
/// store, started by a test or a benchmark and killed when released; with
/// `cluster`, one member of a JetStream cluster.
public final class NATSServer: @unchecked Sendable {
    public let port: Int
    public let name: String
    public let directory: String
    let cluster: ClusterMember?
    public private(set) var process = Process()
    public var url: String { "nats://127.0.0.1:\(port)" }

    /// A member's cluster settings: its route port and every member's.
    public struct ClusterMember: Sendable {
        public var name: String
        public var routePort: Int
        public var routePorts: [Int]

        public init(name: String, routePort: Int, routePorts: [Int]) {
            self.name = name
            self.routePort = routePort
            self.routePorts = routePorts
        }
    }

    public init(cluster: ClusterMember? = nil) throws {
        port = RawSockets.freePort()
        name = cluster?.name ?? "solo"
        self.cluster = cluster
        directory = "/tmp/gd-nats-\(UUID().uuidString.prefix(8))"
        try start()
    }

    /// Starts the server on its port and store (again, after `kill9`).
    public func start() throws {
        process = Process()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let executable = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else { throw ServerError(description: "nats-server is not installed (scripts/setup installs it)") }
        process.executableURL = URL(fileURLWithPath: executable)
        var arguments = ["-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", directory, "--server_name", name]
        let cluster = self.cluster
        if let cluster {
            arguments += ["--cluster_name", "graphd-test", "--cluster", "nats://127.0.0.1:\(cluster.routePort)",
                          "--routes", cluster.routePorts.filter { $0 != cluster.routePort }.map { "nats://127.0.0.1:\($0)" }.joined(separator: ",")]
        }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Serving once its port accepts connections.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let fd = try? RawSockets.connectTCP(port: port) {
                close(fd)
                return
            }
            usleep(20_000)
        }
        throw ServerError(description: "nats-server did not listen on port \(port)")
    }

    /// SIGKILL, as a crashed host.
    public func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    public struct ServerError: Error, CustomStringConvertible { public var description: String }
}

/// Three nats-servers forming one JetStream cluster on loopback.
public final class NATSCluster: @unchecked Sendable {
    public let servers: [NATSServer]
    public var urls: [String] { servers.map(\.url) }

    public init(size: Int = 3) throws {
        let routePorts = (0..<size).map { _ in RawSockets.freePort() }
        servers = try (0..<size).map { i in
            try NATSServer(cluster: .init(name: "n\(i)", routePort: routePorts[i], routePorts: routePorts))
        }
    }

    public func server(named name: String) -> NATSServer? { servers.first { $0.name == name } }
}
