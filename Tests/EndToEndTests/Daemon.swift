import Foundation
import Testing
import GraphdClient
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

/// A real graphd process on a temporary socket and store.
final class Daemon: @unchecked Sendable {
    let socket: String
    let store: String
    let tcpPort: Int?
    let process = Process()
    let log: String

    init(socket: String, store: String, tcpPort: Int? = nil, extraArguments: [String] = []) throws {
        self.socket = socket
        self.store = store
        self.tcpPort = tcpPort
        self.log = store + ".log"
        process.executableURL = URL(fileURLWithPath: Products.graphd)
        var arguments = ["--socket", socket, "--store", store, "--log-level", "debug"]
        if let tcpPort { arguments += ["--tcp", "127.0.0.1:\(tcpPort)"] + (extraArguments.contains("--tcp-token-file") ? [] : ["--tcp-insecure"]) }
        process.arguments = arguments + extraArguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
    }

    /// Waits until Health answers; throws with the daemon's log if it never does.
    func waitUntilServing(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { break }
            if let client = try? await GraphClient.connect(to: .unix(path: socket)) {
                defer { Task { await client.close() } }
                if (try? await client.health(timeout: .seconds(2)))?.status == .serving { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RPCError(.unavailable, "graphd did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func client() async throws -> GraphClient {
        try await GraphClient.connect(to: .unix(path: socket), defaultTimeout: .seconds(30))
    }

    func terminate() async -> Int32 {
        process.terminate()
        return await waitForExit()
    }

    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit()
    }

    func waitForExit() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
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
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A blocking Unix-socket peer that writes raw bytes, for frames the Swift
/// client refuses to send (oversized, malformed).
final class RawSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes + [0])
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw RPCError(.unavailable, "connect \(path): errno \(errno)") }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
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
