import Foundation
import Testing

/// clients/python's blocking client against a live graphd: every check in tests/check_live.py.
@Test func pythonClientAgainstALiveDaemon() async throws {
    try await runPythonCheck("check_live.py", "python client (scripts/setup installs protobuf)")
}

/// clients/python's asyncio client against a live graphd: every check in tests/check_aio.py
/// (many calls in flight on one connection, typed errors, deadlines, reconnecting).
@Test func pythonAsyncioClientAgainstALiveDaemon() async throws {
    try await runPythonCheck("check_aio.py", "python asyncio client")
}

/// graphd_litellm inside LiteLLM against a live graphd: every check in
/// clients/litellm/tests/check_litellm.py — the routing plugin narrowing a
/// Router's choice to graphd's (retries in graphd's fallback order, cooling-down
/// deployments left out), calls served when graphd is away or slow, the feedback
/// logger's outcomes and bounded queue, and LiteLLM's proxy serving `auto`.
@Test func liteLLMPluginAndLoggerAgainstALiveDaemon() async throws {
    let scratch = Scratch()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let daemon = try Daemon(socket: scratch.path("llm.sock"), store: scratch.path("llm.sqlite"))
    try await daemon.waitUntilServing()
    let result = try run("/usr/bin/env", ["python3", root.appendingPathComponent("clients/litellm/tests/check_litellm.py").path,
                                          daemon.socket, scratch.url.path, "--proxy"])
    #expect(result.status == 0 && result.stdout.contains("all litellm checks passed"),
            "litellm checks (scripts/setup installs clients/litellm/requirements-test.txt): \(result.stdout)\(result.stderr)")
    _ = await daemon.terminate()
}

/// Runs clients/python/tests/`script` against a graphd of its own; the script
/// prints "all checks passed" when every check held.
private func runPythonCheck(_ script: String, _ what: String) async throws {
    let scratch = Scratch()
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent("clients/python/tests/\(script)").path
    let daemon = try Daemon(socket: scratch.path("py.sock"), store: scratch.path("py.sqlite"))
    try await daemon.waitUntilServing()
    let result = try run("/usr/bin/env", ["python3", path, daemon.socket])
    #expect(result.status == 0, "\(what): \(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("all checks passed"))
    _ = await daemon.terminate()
}
