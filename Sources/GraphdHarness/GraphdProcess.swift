import Foundation
import GraphdClient
#if canImport(Glibc)
import Glibc
#endif

/// Why a graphd child process could not be used.
public struct GraphdProcessError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case notExecutable, exitedBeforeServing, notServingInTime }
    public var kind: Kind
    public var description: String
}

/// A real graphd process on a socket and store of the caller's, for the
/// end-to-end tests and the benchmarks: started, awaited until Health answers,
/// stopped with SIGTERM or SIGKILL. Killed if still running when released.
public final class GraphdProcess: @unchecked Sendable {
    public let process = Process()
    public let socket: String
    public let store: String
    /// Where its stdout and stderr go; nil: inherited.
    public let log: String?

    /// - Parameters:
    ///   - arguments: after `--socket`, `--store` and `--log-level`.
    ///   - log: a file its output is appended to (created if missing); nil: this process's own output.
    public init(executable: String, socket: String, store: String, logLevel: String = "warning", arguments: [String] = [],
                log: String? = nil) throws {
        self.socket = socket
        self.store = store
        self.log = log
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw GraphdProcessError(kind: .notExecutable, description: "no graphd at \(executable)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--socket", socket, "--store", store, "--log-level", logLevel] + arguments
        if let log {
            if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardError = handle
            process.standardOutput = handle
        }
        try process.run()
    }

    /// Waits until Health answers SERVING; returns the seconds since `start`.
    /// Throws, with the log's text when there is one, if the process exits first
    /// or `timeout` passes.
    @discardableResult
    public func waitUntilServing(timeout: Duration = .seconds(60), since start: ContinuousClock.Instant = .now) async throws -> Double {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            if let client = try? await GraphClient.connect(to: .unix(path: socket)) {
                let serving = (try? await client.health(timeout: .seconds(5)))?.status == .serving
                await client.close()
                if serving { return (ContinuousClock.now - start).seconds }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let logText = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.map { ": \($0)" } ?? ""
        if process.isRunning {
            throw GraphdProcessError(kind: .notServingInTime, description: "graphd did not serve within \(timeout)\(logText)")
        }
        throw GraphdProcessError(kind: .exitedBeforeServing,
                                 description: "graphd exited with status \(process.terminationStatus) before serving\(logText)")
    }

    /// SIGTERM, then its exit status.
    public func terminate() async -> Int32 {
        process.terminate()
        return await waitForExit()
    }

    /// SIGTERM and a blocking wait, for callers outside async code.
    public func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    /// SIGSTOP: the process stays, frozen (a paused VM, a long GC, a partition).
    public func pause() { kill(process.processIdentifier, SIGSTOP) }

    /// SIGCONT after `pause`.
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    public func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit()
    }

    public func waitForExit() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
