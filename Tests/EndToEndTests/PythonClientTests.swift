import Foundation
import Testing

/// clients/python against a live graphd: every check in tests/check_live.py.
@Test func pythonClientAgainstALiveDaemon() async throws {
    let scratch = Scratch()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let script = root.appendingPathComponent("clients/python/tests/check_live.py").path
    let daemon = try Daemon(socket: scratch.path("py.sock"), store: scratch.path("py.sqlite"))
    try await daemon.waitUntilServing()
    let result = try run("/usr/bin/env", ["python3", script, daemon.socket])
    #expect(result.status == 0, "python client (scripts/setup installs protobuf): \(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("all checks passed"))
    _ = await daemon.terminate()
}

/// clients/python's asyncio client against a live graphd: every check in tests/check_aio.py
/// (many calls in flight on one connection, typed errors, deadlines, reconnecting).
@Test func pythonAsyncioClientAgainstALiveDaemon() async throws {
    let scratch = Scratch()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let script = root.appendingPathComponent("clients/python/tests/check_aio.py").path
    let daemon = try Daemon(socket: scratch.path("aio.sock"), store: scratch.path("aio.sqlite"))
    try await daemon.waitUntilServing()
    let result = try run("/usr/bin/env", ["python3", script, daemon.socket])
    #expect(result.status == 0, "python asyncio client: \(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("all checks passed"))
    _ = await daemon.terminate()
}
