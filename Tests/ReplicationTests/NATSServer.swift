import Foundation
import GraphdHarness
#if canImport(Glibc)
import Glibc
#endif

/// A real nats-server with JetStream on a free loopback port and a scratch
/// store, started by the test and killed when released.
final class NATSServer: @unchecked Sendable {
    let port: Int
    let directory: String
    let process = Process()
    var url: String { "nats://127.0.0.1:\(port)" }

    init() throws {
        port = RawSockets.freePort()
        directory = "/tmp/gd-nats-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let executable = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let executable else { throw ServerError(description: "nats-server is not installed (scripts/setup installs it)") }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-js", "-a", "127.0.0.1", "-p", "\(port)", "-sd", directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
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

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct ServerError: Error, CustomStringConvertible { var description: String }
}
