import Foundation
import GraphdClient
import GraphdProto
import Testing

/// graphctl import in every format, against a real daemon.
@Suite(.serialized) struct ImportTests {
    @Test func edgeListCSVAndGraphMLImports() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("i.sock"), store: scratch.path("i.sqlite"))
        try await daemon.waitUntilServing()

        try "# follows\na b 2\nb c\nc a 0.5\n".write(toFile: scratch.path("edges.txt"), atomically: true, encoding: .utf8)
        let edgeList = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "edgelist",
                                                   "--edge-type", "follows", "--source-type", "user", "--target-type", "user",
                                                   scratch.path("edges.txt")])
        #expect(edgeList.status == 0, "\(edgeList.stderr)")

        try "user_id,movie_id,stars,when\nu1,\"m,1\",4.5,1000\nu2,m2,3,2000\n".write(toFile: scratch.path("ratings.csv"), atomically: true, encoding: .utf8)
        let csv = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "csv", "--edge-type", "rated",
                                              "--source-type", "user", "--target-type", "item", "--source-column", "user_id",
                                              "--target-column", "movie_id", "--attr-column", "stars", "--timestamp-column", "when",
                                              scratch.path("ratings.csv")])
        #expect(csv.status == 0, "\(csv.stderr)")

        let graphML = """
        <?xml version="1.0" encoding="UTF-8"?>
        <graphml xmlns="http://graphml.graphdrawing.org/xmlns">
          <graph id="G" edgedefault="undirected">
            <node id="e1"/><node id="e2"/><node id="e3"/>
            <edge source="e1" target="e2"/><edge source="e2" target="e3"/>
          </graph>
        </graphml>
        """
        try graphML.write(toFile: scratch.path("kg.graphml"), atomically: true, encoding: .utf8)
        let viaIgraph = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "graphml", "--edge-type", "related",
                                                    "--undirected", "--source-type", "entity", "--target-type", "entity", scratch.path("kg.graphml")])
        #expect(viaIgraph.status == 0, "\(viaIgraph.stderr)")

        let client = try await daemon.client()
        let stats = try await client.stats()
        #expect(stats.edgesByType["follows"] == 3)
        #expect(stats.edgesByType["rated"] == 2)
        #expect(stats.edgesByType["related"] == 2)
        #expect(stats.nodesByType["entity"] == 3)

        var neighbors = Graphd_V1_NeighborsRequest()
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "u1")
        neighbors.edgeTypes = ["rated"]
        let rated = try await client.neighbors(neighbors)
        #expect(rated.neighbors.map(\.node.key) == ["m,1"])
        #expect(rated.neighbors.first?.attributes["stars"] == 4.5)
        #expect(rated.neighbors.first?.timestampMs == 1000)
        neighbors.node = Graphd_V1_NodeRef(type: "user", key: "a")
        neighbors.edgeTypes = ["follows"]
        neighbors.direction = .out
        #expect(try await client.neighbors(neighbors).neighbors.first?.weight == 2)
        neighbors.node = Graphd_V1_NodeRef(type: "entity", key: "e2")
        neighbors.edgeTypes = ["related"]
        neighbors.direction = .both
        #expect(Set(try await client.neighbors(neighbors).neighbors.map(\.node.key)) == ["e1", "e3"])
        await client.close()

        // A malformed line is reported with its position, and exit code 65.
        try "x y notanumber\n".write(toFile: scratch.path("bad.txt"), atomically: true, encoding: .utf8)
        let bad = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "edgelist", "--edge-type", "follows",
                                              "--source-type", "user", "--target-type", "user", scratch.path("bad.txt")])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("bad.txt:1"))
        _ = await daemon.terminate()
    }

    @Test func longNodeTextsImportInBatchesUnderTheFrameLimit() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("d.sock"), store: scratch.path("d.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()

        // Eight nodes of 700 KB text each: batches are cut by size as well as by count,
        // so no request goes over ttrpc's 4 MiB limit.
        let text = String(repeating: "a long dialogue ", count: 700_000 / 16)
        var lines = [#"{"node_type": {"name": "document"}}"#]
        for i in 0..<8 { lines.append(#"{"node": {"type": "document", "key": "d\#(i)", "text": "\#(text)"}}"#) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: scratch.path("large.jsonl"), atomically: true, encoding: .utf8)
        let large = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "jsonl", scratch.path("large.jsonl")])
        #expect(large.status == 0, "\(large.stderr)")
        #expect(try await client.stats().nodesByType["document"] == 8)
        await client.close()
        _ = await daemon.terminate()
    }
}
