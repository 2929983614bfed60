import Foundation
import GraphdClient
import GraphdProto
import Testing

private func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite(.serialized) struct DaemonTests {
    @Test func graphctlAndSwiftClientAgainstARealDaemonThatRestarts() async throws {
        let scratch = Scratch()
        let socket = scratch.path("g.sock"), store = scratch.path("g.sqlite")
        // A LightGCN file: user item item …
        let lines = (0..<50).map { user in ([user] + (0..<(1 + user % 7)).map { (user * 3 + $0) % 40 }).map(String.init).joined(separator: " ") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: scratch.path("train.txt"), atomically: true, encoding: .utf8)
        let expectedEdges = Set(lines.flatMap { line -> [String] in
            let fields = line.split(separator: " ")
            return fields.dropFirst().map { "\(fields[0])-\($0)" }
        }).count

        var daemon = try Daemon(socket: socket, store: store)
        try await daemon.waitUntilServing()
        let attributes = try FileManager.default.attributesOfItem(atPath: socket)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let imported = try run(Products.graphctl, ["import", "--socket", socket, "--format", "lightgcn", scratch.path("train.txt")])
        #expect(imported.status == 0, "\(imported.stderr)")
        let stats = try run(Products.graphctl, ["graph", "stats", "--socket", socket, "--format", "json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let object = try jsonObject(stats.stdout)
        #expect(object["edges"] as? Int == expectedEdges)
        #expect(object["nodes"] as? Int == 50 + Set(lines.flatMap { $0.split(separator: " ").dropFirst() }).count)

        // GRAPHD_SOCKET is the fallback for --socket.
        let viaEnvironment = try run(Products.graphctl, ["health", "--format", "json"], environment: ["GRAPHD_SOCKET": socket])
        #expect(viaEnvironment.status == 0)
        #expect(try jsonObject(viaEnvironment.stdout)["status"] as? String == "SERVING")

        // The Swift client: typed writes and reads.
        let client = try await daemon.client()
        var define = Graphd_V1_DefineTypesRequest()
        var follows = Graphd_V1_EdgeTypeSpec()
        follows.name = "follows"
        follows.directed = true
        follows.sourceType = "user"
        follows.targetType = "user"
        define.edgeTypes = [follows]
        #expect(try await client.defineTypes(define).edgeTypesCreated == 1)
        var addEdges = Graphd_V1_AddEdgesRequest()
        addEdges.edges = [makeEdge("follows", ("user", "0"), ("user", "1")), makeEdge("follows", ("user", "2"), ("user", "0"), weight: 0.25)]
        #expect(try await client.addEdges(addEdges).created == 2)
        var addNodes = Graphd_V1_AddNodesRequest()
        var llm = Graphd_V1_Node()
        llm.type = "llm"
        llm.key = "gpt-4o"
        llm.text = "a general model"
        llm.features = [0.5, -1, 2]
        addNodes.nodes = [llm]
        #expect(try await client.addNodes(addNodes).created == 1)
        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "0")
        neighbors.edgeTypes = ["follows"]
        neighbors.direction = .in
        let incoming = try await client.neighbors(neighbors)
        #expect(incoming.neighbors.map(\.node.key) == ["2"])
        #expect(incoming.neighbors.first?.weight == 0.25)
        // The columnar form: same upsert rules (the last occurrence in a batch wins, an existing edge is replaced).
        var block = Graphd_V1_EdgeBlock()
        block.type = "follows"
        block.sourceType = "user"
        block.targetType = "user"
        block.sourceKeys = ["b10", "b10", "b12", "b12"]
        block.targetKeys = ["b11", "b12", "b11", "b11"]
        block.weights = [0.5, 2, 1, 3]
        var rating = Graphd_V1_AttributeColumn()
        rating.name = "rating"
        rating.values = [5, 4, 3, 2]
        block.attributes = [rating]
        var columnar = Graphd_V1_AddEdgesRequest()
        columnar.blocks = [block]
        let added = try await client.addEdges(columnar)
        #expect(added.created == 3 && added.updated == 0 && added.nodesCreated == 3)
        block.sourceKeys = ["b10"]
        block.targetKeys = ["b11"]
        block.weights = [4]
        block.attributes = []
        columnar.blocks = [block]
        let replaced = try await client.addEdges(columnar)
        #expect(replaced.created == 0 && replaced.updated == 1 && replaced.nodesCreated == 0)
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "b11")
        let intoEleven = try await client.neighbors(neighbors).neighbors
        #expect(Dictionary(uniqueKeysWithValues: intoEleven.map { ($0.node.key, $0.weight) }) == ["b10": 4, "b12": 3])
        #expect(intoEleven.first { $0.node.key == "b12" }?.attributes == ["rating": 2])
        #expect(intoEleven.first { $0.node.key == "b10" }?.attributes == [:])
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "0")
        _ = try await client.compact()
        var get = Graphd_V1_GetNodeRequest()
        get.node = Graphd_V1_NodeRef(type: "llm", key: "gpt-4o")
        #expect(try await client.getNode(get).node.features == [0.5, -1, 2])
        let before = try await client.stats()
        await client.close()

        // Export, then restart: the same graph comes back from the store.
        let exported = try run(Products.graphctl, ["export", "--socket", socket, "--format", "jsonl", "--output", scratch.path("dump.jsonl")])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(await daemon.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
        daemon = try Daemon(socket: socket, store: store)
        try await daemon.waitUntilServing()
        let restarted = try await daemon.client()
        let after = try await restarted.stats()
        #expect(after.nodes == before.nodes && after.edges == before.edges)
        #expect(after.nodesByType == before.nodesByType && after.edgesByType == before.edgesByType)
        #expect(try await restarted.getNode(get).node.text == "a general model")
        #expect(try await restarted.neighbors(neighbors).neighbors.map(\.node.key) == ["2"])
        await restarted.close()
        _ = await daemon.terminate()

        // The export loads into a fresh daemon as the same graph.
        let copy = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
        try await copy.waitUntilServing()
        let reimport = try run(Products.graphctl, ["import", "--socket", copy.socket, "--format", "jsonl", scratch.path("dump.jsonl")])
        #expect(reimport.status == 0, "\(reimport.stderr)")
        let copyClient = try await copy.client()
        let copied = try await copyClient.stats()
        #expect(copied.nodes == before.nodes && copied.edges == before.edges && copied.edgesByType == before.edgesByType)
        await copyClient.close()
        _ = await copy.terminate()
    }

    @Test func tcpListenerServesTheSameAPI() async throws {
        let scratch = Scratch()
        let port = freePort()
        let daemon = try Daemon(socket: scratch.path("t.sock"), store: scratch.path("t.sqlite"), tcpPort: port)
        try await daemon.waitUntilServing()
        let client = try await GraphClient.connect(to: .tcp(host: "127.0.0.1", port: port))
        #expect(try await client.health().status == .serving)
        await client.close()
        let health = try run(Products.graphctl, ["health", "--tcp", "127.0.0.1:\(port)"])
        #expect(health.status == 0)
        _ = await daemon.terminate()
    }

    /// Calls inside `onEventLoop` run on the connection's loop and answer as
    /// calls from the cooperative pool do, errors included.
    @Test func callsOnTheConnectionsEventLoop() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("l.sock"), store: scratch.path("l.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        var add = Graphd_V1_AddEdgesRequest()
        var edge = Graphd_V1_Edge()
        edge.type = "interacted"
        edge.source = Graphd_V1_NodeRef(type: "user", key: "u1")
        edge.target = Graphd_V1_NodeRef(type: "item", key: "i1")
        add.edges = [edge]
        let outside = try await client.stats()
        let (created, inside) = try await client.onEventLoop {
            (try await client.addEdges(add).created, try await client.stats())
        }
        #expect(created == 1)
        #expect(inside.edges == outside.edges + 1)
        await expectCode(.notFound, "a missing node, on the loop") {
            var get = Graphd_V1_GetNodeRequest()
            get.node = Graphd_V1_NodeRef(type: "user", key: "nobody")
            _ = try await client.onEventLoop { try await client.getNode(get) }
        }
        #expect(try await client.health().status == .serving)
        await client.close()
        _ = await daemon.terminate()
    }

    @Test func graphctlExitCodesTellFailuresApart() async throws {
        let scratch = Scratch()
        let unavailable = try run(Products.graphctl, ["graph", "stats", "--socket", scratch.path("none.sock")])
        #expect(unavailable.status == 69)
        let usage = try run(Products.graphctl, ["neighbors", "not-a-ref"])
        #expect(usage.status == 64)
        let daemon = try Daemon(socket: scratch.path("x.sock"), store: scratch.path("x.sqlite"))
        try await daemon.waitUntilServing()
        let rejected = try run(Products.graphctl, ["node", "get", "user:missing", "--socket", daemon.socket])
        #expect(rejected.status == 65)
        #expect(rejected.stderr.contains("NOT_FOUND"))
        let missingFile = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "lightgcn", scratch.path("nope.txt")])
        #expect(missingFile.status == 66)
        _ = await daemon.terminate()
    }

    @Test func goReferenceClientInterop() async throws {
        let scratch = Scratch()
        let source = try #require(Bundle.module.url(forResource: "Interop/ttrpc_client", withExtension: "go"))
        let binary = scratch.path("ttrpc-interop")
        let build = try run("/usr/bin/env", ["go", "build", "-o", binary, source.path],
                            environment: ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": scratch.path("gocache"), "GOFLAGS": "-mod=mod"])
        try #require(build.status == 0, "go build failed (scripts/setup installs golang-go and golang-github-containerd-ttrpc-dev): \(build.stderr)")
        let daemon = try Daemon(socket: scratch.path("i.sock"), store: scratch.path("i.sqlite"))
        try await daemon.waitUntilServing()
        let result = try run(binary, [daemon.socket])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first?.hasPrefix("Health 0 status=1 version=") == true)
        #expect(lines.dropFirst().first == "Stats 0 nodes=0 edges=0")
        #expect(lines.last == "NoSuchMethod 12 method NoSuchMethod")
        _ = await daemon.terminate()
    }
}

/// SIGTERM while OpenBLAS computes in a background job: graphd stops listening,
/// cancels the job, waits for it, and only then exits (status 0). Before the
/// job runtime the process could exit with the GEMM still running and die with
/// SIGSEGV in OpenBLAS (its exit handler unmaps the buffers the GEMM uses).
@Suite(.serialized) struct ShutdownTests {
    @Test(arguments: 1...3)
    func sigtermWhileABLASJobRunsDrainsItAndExitsCleanly(round: Int) async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("s.sock"), store: scratch.path("s.sqlite"), extraArguments: ["--test-background-gemm", "120"])
        try await daemon.waitUntilServing()
        func log() -> String { (try? String(contentsOfFile: daemon.log, encoding: .utf8)) ?? "" }
        for _ in 0..<500 where !log().contains("diagnostic GEMM job started") { try await Task.sleep(for: .milliseconds(10)) }
        #expect(log().contains("diagnostic GEMM job started"))
        try await Task.sleep(for: .milliseconds(20 * round))  // land the signal at different points of a GEMM
        kill(daemon.process.processIdentifier, SIGTERM)
        // Bounded: without the drain, OpenBLAS's exit handler can also hang (it joins a
        // worker that waits for the GEMM in flight); then the test fails instead of hanging.
        // 60 s is half the job's 120 s, so an exit inside it means the job stopped at a
        // check; no tighter bound, since a loaded CI machine once took 24 s to exit.
        for _ in 0..<6000 where daemon.process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let hung = daemon.process.isRunning
        if hung { await daemon.kill9() }
        #expect(!hung, "graphd did not exit within 60 s of SIGTERM (the job would have run 120 s)")
        let status = await daemon.waitForExit()
        let text = log()
        #expect(daemon.process.terminationReason == .exit && status == 0, "status \(status), reason \(daemon.process.terminationReason.rawValue):\n\(text)")
        // In this order: the listeners close, the job is cancelled and ends, the jobs drain, the process says it stopped.
        let marks = ["stopped listening", "diagnostic GEMM job ended", "background jobs drained", "[graphd] stopped"].map { text.range(of: $0)?.lowerBound }
        #expect(marks.allSatisfy { $0 != nil }, "\(text)")
        if marks.allSatisfy({ $0 != nil }) { #expect(marks.compactMap { $0 } == marks.compactMap { $0 }.sorted(), "\(text)") }
        #expect(text.contains("cancelled=true") || text.contains("cancelled: true"), "\(text)")
    }
}
