import ConversationContent
import Foundation
import GraphInputs
import GraphdClient
import GraphdProto

/// `graphctl import inspired`: the G-CRS conversation–entity–item graph of an
/// INSPIRED (UniCRS layout) data directory and its training dialogues.
public enum InspiredImport {
    /// Reads the knowledge files in `dataDirectory` and the dialogue `files`
    /// (each dialogue becomes a conversation node keyed FILE-STEM/INDEX) and sends the graph.
    public static func run(dataDirectory: String, files: [String], minAliasCount: Int, sink: ImportSink) async throws {
        let knowledge: InspiredKnowledge
        do { knowledge = try InspiredKnowledge(directory: dataDirectory) } catch {
            throw fail(message: "\(error)", code: ToolExit.noInput)
        }
        for (number, file) in files.enumerated() {
            let dialogues: [[DialogueTurn]]
            do { dialogues = try knowledge.dialogues(path: file) } catch {
                throw fail(message: "\(error)", code: ToolExit.noInput)
            }
            let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            var content = ConversationGraphContent(knowledge: knowledge, training: dialogues, conversationPrefix: stem + "/",
                                                   minAliasCount: minAliasCount)
            if number > 0 { content.dropKnowledge() }  // the KG went with the first file
            log("\(file): \(dialogues.count) dialogues, \(content.nodes.count) nodes, \(content.edges.count) edges to send")
            try await send(content, to: sink)
        }
    }

    /// Sends types, then nodes, then edges, in batches.
    public static func send(_ content: ConversationGraphContent, to sink: ImportSink) async throws {
        var types = Graphd_V1_DefineTypesRequest()
        types.nodeTypes = content.nodeTypes.map { input in
            var spec = Graphd_V1_NodeTypeSpec()
            spec.name = input.name
            spec.featureDimension = UInt32(input.featureDimension)
            return spec
        }
        types.edgeTypes = content.edgeTypes.map { input in
            var spec = Graphd_V1_EdgeTypeSpec()
            spec.name = input.name
            spec.directed = input.directed
            spec.sourceType = input.sourceType ?? ""
            spec.targetType = input.targetType ?? ""
            return spec
        }
        try await sink.define(types)
        for node in content.nodes {
            var message = Graphd_V1_Node()
            message.type = node.type
            message.key = node.key
            if let text = node.text { message.text = text }
            try await sink.add(message)
        }
        for edge in content.edges {
            var message = Graphd_V1_Edge()
            message.type = edge.type
            message.source = Graphd_V1_NodeRef(type: edge.source.type, key: edge.source.key)
            message.target = Graphd_V1_NodeRef(type: edge.target.type, key: edge.target.key)
            if let weight = edge.weight { message.weight = weight }
            try await sink.add(message)
        }
    }
}
