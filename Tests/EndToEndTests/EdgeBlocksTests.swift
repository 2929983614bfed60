import GraphdClient
import GraphdProto
import Testing

/// `AddEdgesRequest.columnar`: the blocks hold exactly the edges, in order.
@Suite struct EdgeBlocksTests {
    private func edge(_ type: String, _ source: (String, String), _ target: (String, String), weight: Double? = nil,
                      timestamp: Int64 = 0, attributes: [String: Double] = [:]) -> Graphd_V1_Edge {
        var edge = Graphd_V1_Edge()
        edge.type = type
        edge.source = Graphd_V1_NodeRef(type: source.0, key: source.1)
        edge.target = Graphd_V1_NodeRef(type: target.0, key: target.1)
        if let weight { edge.weight = weight }
        edge.timestampMs = timestamp
        edge.attributes = attributes
        return edge
    }

    /// The edges a request's blocks stand for, with unset weights as 1.
    private func rows(of request: Graphd_V1_AddEdgesRequest) -> [String] {
        request.blocks.flatMap { block in
            block.sourceKeys.indices.map { i in
                let attributes = block.attributes.map { "\($0.name)=\($0.values[i])" }.joined(separator: ",")
                return "\(block.type) \(block.sourceType)/\(block.sourceKeys[i]) \(block.targetType)/\(block.targetKeys[i]) "
                    + "w\(block.weights.isEmpty ? 1 : block.weights[i]) t\(block.timestampsMs.isEmpty ? 0 : block.timestampsMs[i]) [\(attributes)]"
            }
        }
    }

    @Test func blocksHoldTheSameEdgesInOrder() {
        let edges = [
            edge("interacted", ("user", "1"), ("item", "a")),
            edge("interacted", ("user", "1"), ("item", "b"), weight: 3),
            edge("interacted", ("user", "2"), ("item", "a"), timestamp: 77),
            edge("interacted", ("user", "2"), ("item", "c"), attributes: ["rating": 4]),
            edge("interacted", ("user", "3"), ("item", "c"), attributes: ["rating": 5]),
            edge("follows", ("user", "3"), ("user", "1")),
            edge("interacted", ("item", "a"), ("user", "9")),
            edge("interacted", ("user", "4"), ("item", "d"), attributes: ["rating": 1, "effect": 0.5]),
        ]
        let request = Graphd_V1_AddEdgesRequest.columnar(edges, requireExistingNodes: true)
        #expect(request.requireExistingNodes)
        #expect(request.edges.isEmpty)
        // Runs: 3 plain interacted, 2 with rating, follows, reversed interacted, 2 attributes.
        #expect(request.blocks.map(\.sourceKeys.count) == [3, 2, 1, 1, 1])
        #expect(request.blocks[0].weights == [1, 3, 1] && request.blocks[0].timestampsMs == [0, 0, 77])
        #expect(request.blocks[1].weights.isEmpty && request.blocks[1].timestampsMs.isEmpty)
        #expect(request.blocks[4].attributes.map(\.name) == ["effect", "rating"])
        let expected = edges.map { edge in
            let attributes = edge.attributes.keys.sorted().map { "\($0)=\(edge.attributes[$0]!)" }.joined(separator: ",")
            return "\(edge.type) \(edge.source.type)/\(edge.source.key) \(edge.target.type)/\(edge.target.key) "
                + "w\(edge.hasWeight ? edge.weight : 1) t\(edge.timestampMs) [\(attributes)]"
        }
        #expect(rows(of: request) == expected)
        #expect(Graphd_V1_AddEdgesRequest.columnar([]).blocks.isEmpty)
    }
}
