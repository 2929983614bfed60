import Foundation
import Testing
import GraphdClient
import GraphdHarness
import GraphdProto
#if canImport(Glibc)
import Glibc
#endif

/// Locates the executables SwiftPM built next to the test bundle.
enum Products {
    static var directory: URL {
        if let override = ProcessInfo.processInfo.environment["GRAPHD_BIN_DIR"] { return URL(fileURLWithPath: override) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // The runner is .build/<triple>/debug/graphdPackageTests.xctest (a file or a bundle directory).
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("graphd").path) { return url }
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug")
    }

    static var graphd: String { directory.appendingPathComponent("graphd").path }
    static var graphctl: String { directory.appendingPathComponent("graphctl").path }
}

/// A scratch directory removed at deinit.
final class Scratch: @unchecked Sendable {
    let url: URL

    init() {
        // Short path: Unix socket paths are limited to 107 bytes.
        url = URL(fileURLWithPath: "/tmp/gd-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A real graphd process on a temporary socket and store, logging to `store`.log.
final class Daemon: @unchecked Sendable {
    let graphd: GraphdProcess
    let tcpPort: Int?
    var socket: String { graphd.socket }
    var store: String { graphd.store }
    var process: Process { graphd.process }
    var log: String { graphd.store + ".log" }

    init(socket: String, store: String, tcpPort: Int? = nil, extraArguments: [String] = []) throws {
        self.tcpPort = tcpPort
        var arguments: [String] = []
        if let tcpPort { arguments += ["--tcp", "127.0.0.1:\(tcpPort)"] + (extraArguments.contains("--tcp-token-file") ? [] : ["--tcp-insecure"]) }
        graphd = try GraphdProcess(executable: Products.graphd, socket: socket, store: store, logLevel: "debug",
                                   arguments: arguments + extraArguments, log: store + ".log")
    }

    /// Waits until Health answers; throws with the daemon's log if it never does.
    func waitUntilServing(timeout: Duration = .seconds(30)) async throws {
        try await graphd.waitUntilServing(timeout: timeout)
    }

    func client() async throws -> GraphClient {
        try await GraphClient.connect(to: .unix(path: socket), defaultTimeout: .seconds(30))
    }

    func terminate() async -> Int32 { await graphd.terminate() }

    func kill9() async { await graphd.kill9() }

    func waitForExit() async -> Int32 { await graphd.waitForExit() }
}

/// Runs a command to completion and captures its output.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// A free TCP port on loopback (bound once and released).
func freePort() -> Int { RawSockets.freePort() }

/// A blocking Unix-socket peer that writes raw bytes, for frames the Swift
/// client refuses to send (oversized, malformed).
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        fd = try RawSockets.connectUnix(path)
    }

    deinit { close(fd) }

    /// Writes all of `bytes`, stopping quietly if the daemon closed the connection.
    func write(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { RawSockets.writeAll(fd, $0) }
    }

    func read(count: Int) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while result.count < count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count - result.count) }
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return result
    }

    /// Reads one ttrpc frame: (stream id, type, data).
    func readFrame() -> (stream: UInt32, type: UInt8, data: [UInt8])? {
        let header = read(count: 10)
        guard header.count == 10 else { return nil }
        let length = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
        let stream = header[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (stream, header[8], read(count: length))
    }

    static func header(length: Int, stream: UInt32, type: UInt8 = 1) -> [UInt8] {
        withUnsafeBytes(of: UInt32(length).bigEndian, Array.init) + withUnsafeBytes(of: stream.bigEndian, Array.init) + [type, 0]
    }
}

/// An edge message for requests; defaults make a valid `interacted` edge.
func makeEdge(_ type: String = "interacted", _ source: (String, String) = ("user", "u"), _ target: (String, String) = ("item", "i"),
              weight: Double? = nil) -> Graphd_V1_Edge {
    var edge = Graphd_V1_Edge()
    edge.type = type
    edge.source = Graphd_V1_NodeRef(type: source.0, key: source.1)
    edge.target = Graphd_V1_NodeRef(type: target.0, key: target.1)
    if let weight { edge.weight = weight }
    return edge
}

/// Expects `body` to fail with `expected` and a message that says something.
func expectCode(_ expected: RPCStatusCode, _ what: String, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): succeeded, expected \(expected)")
    } catch let error as RPCError {
        #expect(error.code == expected, "\(what): \(error)")
        #expect(!error.message.isEmpty, "\(what): empty message")
    } catch {
        Issue.record("\(what): unexpected error \(error)")
    }
}
