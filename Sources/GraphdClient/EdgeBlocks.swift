import GraphdProto

extension Graphd_V1_AddEdgesRequest {
    /// The same edges, in the same order, as columnar blocks (`EdgeBlock`): one
    /// block per run of consecutive edges that share the edge type, both
    /// endpoint types and the set of attribute names. The server plans exactly
    /// the same batch, and the request encodes and decodes several times faster.
    /// Unset weights become 1 and unset timestamps 0 ("now"), their meaning.
    public static func columnar(_ edges: [Graphd_V1_Edge], requireExistingNodes: Bool = false) -> Graphd_V1_AddEdgesRequest {
        var request = Graphd_V1_AddEdgesRequest()
        request.requireExistingNodes = requireExistingNodes
        var block = Graphd_V1_EdgeBlock()
        var attributeNames: [String] = []
        var weighted = false, timed = false
        func close() {
            guard !block.sourceKeys.isEmpty else { return }
            if !weighted { block.weights = [] }
            if !timed { block.timestampsMs = [] }
            request.blocks.append(block)
        }
        for edge in edges {
            let names = edge.attributes.keys.sorted()
            if block.sourceKeys.isEmpty || edge.type != block.type || edge.source.type != block.sourceType
                || edge.target.type != block.targetType || names != attributeNames {
                close()
                block = Graphd_V1_EdgeBlock()
                block.type = edge.type
                block.sourceType = edge.source.type
                block.targetType = edge.target.type
                block.attributes = names.map { var column = Graphd_V1_AttributeColumn(); column.name = $0; return column }
                attributeNames = names
                weighted = false
                timed = false
            }
            block.sourceKeys.append(edge.source.key)
            block.targetKeys.append(edge.target.key)
            // Both columns are kept until the block closes, then dropped if nothing set them.
            block.weights.append(edge.hasWeight ? edge.weight : 1)
            weighted = weighted || edge.hasWeight
            block.timestampsMs.append(edge.timestampMs)
            timed = timed || edge.timestampMs != 0
            for (i, name) in names.enumerated() { block.attributes[i].values.append(edge.attributes[name] ?? 0) }
        }
        close()
        return request
    }
}
