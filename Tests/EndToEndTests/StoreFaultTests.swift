import Foundation
import GraphdClient
import GraphdProto
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs of our own for the store (needs root, as on CI's machines): a
/// full disk and a read-only remount are real filesystem states, not mocks.
private final class SmallFilesystem {
    let path: String

    static var available: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount") }

    init(_ path: String, megabytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let result = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
        guard result.status == 0 else { throw FilesystemError(message: "mount: \(result.stderr)") }
    }

    func remount(_ options: String) throws {
        let result = try run("/bin/mount", ["-o", "remount,\(options)", path])
        guard result.status == 0 else { throw FilesystemError(message: "remount: \(result.stderr)") }
    }

    deinit { _ = try? run("/bin/umount", ["-l", path]) }
}

private struct FilesystemError: Error { var message: String }

/// The immutable attribute (chattr), where the filesystem has it.
private enum Immutable {
    static var available: Bool {
        guard getuid() == 0 else { return false }
        let probe = "/tmp/gd-immutable-probe-\(getpid())"
        FileManager.default.createFile(atPath: probe, contents: Data("x".utf8))
        defer { _ = try? set(probe, false); unlink(probe) }
        return (try? set(probe, true)) != nil
    }

    static func set(_ path: String, _ on: Bool) throws {
        let result = try run("/usr/bin/chattr", [on ? "+i" : "-i", path])
        guard result.status == 0 else { throw FilesystemError(message: "chattr: \(result.stderr)") }
    }
}

private func batch(_ key: String, size: Int = 200) -> Graphd_V1_AddEdgesRequest {
    var request = Graphd_V1_AddEdgesRequest()
    request.edges = (0..<size).map { i in
        var edge = makeEdge("interacted", ("user", key), ("item", "item-with-a-longish-key-\(i)"))
        edge.attributes = ["rating": Double(i)]
        return edge
    }
    return request
}

private func outDegree(_ client: GraphClient, _ key: String) async throws -> UInt64 {
    var request = Graphd_V1_GetNodeRequest()
    request.node = Graphd_V1_NodeRef(type: "user", key: key)
    do { return try await client.getNode(request).outDegree } catch let error as RPCError where error.code == .notFound { return 0 }
}

@Suite(.serialized, .enabled(if: SmallFilesystem.available, "needs root to mount a tmpfs"))
struct StoreFaultTests {
    @Test func aFullDiskFailsWritesClearlyKeepsReadsAndLosesNothing() async throws {
        let scratch = Scratch()
        let disk = try SmallFilesystem(scratch.path("disk"), megabytes: 3)
        let store = disk.path + "/g.sqlite"
        var daemon = try Daemon(socket: scratch.path("f.sock"), store: store, extraArguments: ["--compact-delta-edges", "100000000"])
        try await daemon.waitUntilServing()
        var client = try await daemon.client()
        var acknowledged: [String] = []
        var failure: RPCError?
        for n in 0..<2000 {
            do {
                _ = try await client.addEdges(batch("b\(n)"))
                acknowledged.append("b\(n)")
            } catch let error as RPCError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "3 MiB never filled up")
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("full"), "\(error.message)")
        #expect(acknowledged.count > 10)
        // Reads keep working, and the failed batch left nothing behind.
        #expect(try await client.health().status == .serving)
        #expect(try await outDegree(client, acknowledged.last!) == 200)
        #expect(try await outDegree(client, "b\(acknowledged.count)") == 0)
        // Writes fail the same way while the disk stays full.
        await expectCode(.resourceExhausted, "second write on a full disk") { _ = try await client.addEdges(batch("again")) }

        // More room, a restart: everything acknowledged is there, nothing else.
        await client.close()
        _ = await daemon.terminate()
        try disk.remount("size=64m")
        daemon = try Daemon(socket: scratch.path("f.sock"), store: store)
        try await daemon.waitUntilServing()
        client = try await daemon.client()
        for key in acknowledged { #expect(try await outDegree(client, key) == 200, "\(key)") }
        #expect(try await outDegree(client, "b\(acknowledged.count)") == 0)
        #expect(try await outDegree(client, "again") == 0)
        _ = try await client.addEdges(batch("after"))
        await client.close()
        _ = await daemon.terminate()
    }

    /// The store's files made immutable underneath a running graphd (chattr +i:
    /// writes on already-open descriptors fail with EPERM, as on a filesystem gone
    /// read-only); made writable again, a restart finds everything acknowledged.
    @Test(.enabled(if: Immutable.available, "needs root and chattr on the scratch filesystem"))
    func aReadOnlyStoreFailsWritesClearlyKeepsReadsAndLosesNothing() async throws {
        let scratch = Scratch()
        let store = scratch.path("g.sqlite")
        var daemon = try Daemon(socket: scratch.path("r.sock"), store: store)
        try await daemon.waitUntilServing()
        var client = try await daemon.client()
        for n in 0..<20 { _ = try await client.addEdges(batch("b\(n)")) }

        let files = [store, store + "-wal"]
        for file in files { try Immutable.set(file, true) }
        do {
            _ = try await client.addEdges(batch("refused"))
            Issue.record("a write to a read-only store succeeded")
        } catch let error as RPCError {
            #expect([.failedPrecondition, .unavailable].contains(error.code), "\(error)")
            #expect(error.message.contains("nothing was written"), "\(error.message)")
        }
        #expect(try await client.health().status == .serving)
        #expect(try await outDegree(client, "b19") == 200)
        #expect(try await outDegree(client, "refused") == 0)
        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "b3")
        neighbors.limit = 500
        #expect(try await client.neighbors(neighbors).neighbors.count == 200)

        for file in files { try Immutable.set(file, false) }
        await client.close()
        _ = await daemon.terminate()
        daemon = try Daemon(socket: scratch.path("r.sock"), store: store)
        try await daemon.waitUntilServing()
        client = try await daemon.client()
        for n in 0..<20 { #expect(try await outDegree(client, "b\(n)") == 200) }
        #expect(try await outDegree(client, "refused") == 0)
        _ = try await client.addEdges(batch("after"))
        await client.close()
        _ = await daemon.terminate()
    }
}
