import Foundation
import GraphdClient
import GraphdProto
import Testing

/// Listings page through one pinned snapshot: writes, removals and a
/// compaction between pages change nothing a listing returns.
@Suite struct ListingTests {
    private func edges(_ users: Range<Int>, item: Int) -> Graphd_V1_AddEdgesRequest {
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = users.map { makeEdge("interacted", ("user", "u\($0)"), ("item", "i\($0 % item)")) }
        return request
    }

    private func key(_ edge: Graphd_V1_Edge) -> String { "\(edge.source.key)>\(edge.target.key)" }

    @Test func aListingIsThePinnedPointInTime() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("l.sock"), store: scratch.path("l.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        _ = try await client.addEdges(edges(0..<300, item: 40))

        var edgeRequest = Graphd_V1_ListEdgesRequest()
        edgeRequest.limit = 70
        var page = try await client.listEdges(edgeRequest)
        let pinned = page.snapshot
        #expect(pinned.snapshotID != 0 && pinned.edges == 300 && pinned.nodes == 340)
        var listed = page.edges.map(key)

        // Between pages: new edges, removals of listed and unlisted edges, a compaction.
        _ = try await client.addEdges(edges(300..<500, item: 40))
        var removal = Graphd_V1_RemoveEdgesRequest()
        removal.edges = (0..<300).filter { $0 % 3 == 0 }.map { user in
            var ref = Graphd_V1_EdgeRef()
            ref.type = "interacted"
            ref.source = Graphd_V1_NodeRef(type: "user", key: "u\(user)")
            ref.target = Graphd_V1_NodeRef(type: "item", key: "i\(user % 40)")
            return ref
        }
        #expect(try await client.removeEdges(removal).removed == 100)
        _ = try await client.compact()

        while !page.nextPageToken.isEmpty {
            edgeRequest.pageToken = page.nextPageToken
            page = try await client.listEdges(edgeRequest)
            #expect(page.snapshot == pinned)
            listed += page.edges.map(key)
        }
        #expect(listed.count == 300)
        #expect(Set(listed) == Set((0..<300).map { "u\($0)>i\($0 % 40)" }))

        // Nodes listed later join the same snapshot by its id.
        var nodeRequest = Graphd_V1_ListNodesRequest()
        nodeRequest.snapshotID = pinned.snapshotID
        nodeRequest.limit = 1000
        let nodes = try await client.listNodes(nodeRequest)
        #expect(nodes.snapshot == pinned && nodes.nodes.count == 340 && nodes.nextPageToken.isEmpty)

        // A new listing sees the graph as it is now.
        let now = try await client.listEdges(Graphd_V1_ListEdgesRequest())
        #expect(now.snapshot.snapshotID != pinned.snapshotID && now.snapshot.edges == 400)
        #expect(now.snapshot.graphVersion > pinned.graphVersion)

        _ = await daemon.terminate()
    }

    @Test func goneAndForeignPinsAreRefusedClearly() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("p.sock"), store: scratch.path("p.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        _ = try await client.addEdges(edges(0..<50, item: 7))
        var first = Graphd_V1_ListNodesRequest()
        first.limit = 10
        let page = try await client.listNodes(first)
        let id = page.snapshot.snapshotID

        var request = Graphd_V1_ListNodesRequest()
        request.snapshotID = id == 12_345 ? 12_346 : 12_345
        await expectCode(.failedPrecondition, "first page of an unknown snapshot") { _ = try await client.listNodes(request) }
        request = Graphd_V1_ListNodesRequest()
        request.pageToken = "n\(request.snapshotID &+ id &+ 1).10"
        await expectCode(.failedPrecondition, "token of an unknown snapshot") { _ = try await client.listNodes(request) }
        request.pageToken = "n\(id).ten"
        await expectCode(.invalidArgument, "bad position") { _ = try await client.listNodes(request) }
        var edges = Graphd_V1_ListEdgesRequest()
        edges.pageToken = "s\(id).3"
        await expectCode(.invalidArgument, "edge position without a skip") { _ = try await client.listEdges(edges) }

        // More open listings than graphd keeps: the least recently used pin goes.
        for _ in 0..<16 { _ = try await client.listEdges(Graphd_V1_ListEdgesRequest()) }
        request.pageToken = page.nextPageToken
        await expectCode(.failedPrecondition, "evicted pin") { _ = try await client.listNodes(request) }
        _ = await daemon.terminate()
    }
}
