import Foundation
import Testing

/// clients/c built with its Makefile into `scratch`: the folder with the library and the checks.
func buildCClient(in scratch: Scratch) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let clientDirectory = root.appendingPathComponent("clients/c").path
    let build = scratch.path("cbuild")
    let make = try run("/usr/bin/env", ["make", "-C", clientDirectory, "BUILD=\(build)", "all"])
    try #require(make.status == 0, "make (scripts/setup installs libprotobuf-c-dev and libssl-dev): \(make.stdout)\(make.stderr)")
    return build
}

/// clients/c built with its Makefile and run against a live graphd.
@Test func cClientAgainstALiveDaemon() async throws {
    let scratch = Scratch()
    let build = try buildCClient(in: scratch)
    let daemon = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
    try await daemon.waitUntilServing()
    let result = try run(build + "/check_live", [daemon.socket])
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(result.stdout.contains("all checks passed"))
    _ = await daemon.terminate()
}
