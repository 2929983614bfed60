import Foundation
import GraphCore
import SwiftProtobuf

/// An entry of the log that cannot be read: a replica stops on it rather than skip it.
public struct LogEntryError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// A write batch and the marks of its plan as bytes in the log
/// (`Proto/graphd/log/v1/log.proto`), and back.
public enum LogEntryCodec {
    public static let format: UInt32 = 1

    public static func encode(_ event: WriteEvent, marks: WriteMarks) throws -> [UInt8] {
        var entry = Graphd_Log_V1_Entry()
        entry.format = format
        entry.nowMs = event.nowMs
        entry.documents = event.documents.map { document in
            var message = Graphd_Log_V1_Document()
            message.name = document.name
            if let value = document.value { message.value = Data(value) }
            return message
        }
        entry.marks = message(marks)
        switch event.operation {
        case let .defineTypes(nodeTypes, edgeTypes):
            var define = Graphd_Log_V1_DefineTypes()
            define.nodeTypes = nodeTypes.map { input in
                var type = Graphd_Log_V1_NodeType()
                type.name = input.name
                type.featureDimension = Int64(input.featureDimension)
                return type
            }
            define.edgeTypes = edgeTypes.map { input in
                var type = Graphd_Log_V1_EdgeType()
                type.name = input.name
                type.directed = input.directed
                if let source = input.sourceType { type.sourceType = source }
                if let target = input.targetType { type.targetType = target }
                return type
            }
            entry.defineTypes = define
        case let .addNodes(nodes):
            var message = Graphd_Log_V1_Nodes()
            message.nodes = nodes.map(self.message)
            entry.addNodes = message
        case let .addEdges(edges, blocks, requireExistingNodes):
            entry.addEdges = message(EdgeWriteRequest(edges: edges, blocks: blocks, requireExistingNodes: requireExistingNodes))
        case let .addNodesAndEdges(nodes, edges, requireExistingNodes):
            var message = Graphd_Log_V1_AddNodesAndEdges()
            message.nodes = nodes.map(self.message)
            message.edges = edges.map(self.message)
            message.requireExistingNodes = requireExistingNodes
            entry.addNodesAndEdges = message
        case let .edgeGroup(requests):
            var group = Graphd_Log_V1_EdgeGroup()
            group.requests = requests.map(message)
            entry.edgeGroup = group
        case let .removeNodes(nodes, ignoreMissing):
            var message = Graphd_Log_V1_RemoveNodes()
            message.nodes = nodes.map(self.message)
            message.ignoreMissing = ignoreMissing
            entry.removeNodes = message
        case let .removeEdges(edges, ignoreMissing):
            var message = Graphd_Log_V1_RemoveEdges()
            message.edges = edges.map { input in
                var ref = Graphd_Log_V1_EdgeRef()
                ref.type = input.type
                ref.source = self.message(input.source)
                ref.target = self.message(input.target)
                return ref
            }
            message.ignoreMissing = ignoreMissing
            entry.removeEdges = message
        case .documents:
            entry.documentsOnly = Graphd_Log_V1_DocumentsOnly()
        }
        return try entry.serializedBytes()
    }

    public static func decode(_ bytes: [UInt8]) throws(LogEntryError) -> (event: WriteEvent, marks: WriteMarks) {
        let entry: Graphd_Log_V1_Entry
        do { entry = try Graphd_Log_V1_Entry(serializedBytes: bytes) } catch {
            throw LogEntryError(description: "log entry of \(bytes.count) bytes does not decode: \(error)")
        }
        guard entry.format == format else {
            throw LogEntryError(description: "log entry format \(entry.format); this graphd reads format \(format): upgrade it")
        }
        guard entry.hasMarks else { throw LogEntryError(description: "log entry without marks") }
        let operation: WriteEvent.Operation
        switch entry.operation {
        case .defineTypes(let define):
            operation = .defineTypes(
                nodeTypes: define.nodeTypes.map { NodeTypeInput(name: $0.name, featureDimension: Int(clamping: $0.featureDimension)) },
                edgeTypes: define.edgeTypes.map {
                    EdgeTypeInput(name: $0.name, directed: $0.directed, sourceType: $0.hasSourceType ? $0.sourceType : nil,
                                  targetType: $0.hasTargetType ? $0.targetType : nil)
                })
        case .addNodes(let message):
            operation = .addNodes(message.nodes.map(input))
        case .addEdges(let message):
            let request = input(message)
            operation = .addEdges(edges: request.edges, blocks: request.blocks, requireExistingNodes: request.requireExistingNodes)
        case .addNodesAndEdges(let message):
            operation = .addNodesAndEdges(nodes: message.nodes.map(input), edges: message.edges.map(input),
                                          requireExistingNodes: message.requireExistingNodes)
        case .edgeGroup(let group):
            operation = .edgeGroup(group.requests.map(input))
        case .removeNodes(let message):
            operation = .removeNodes(message.nodes.map(input), ignoreMissing: message.ignoreMissing)
        case .removeEdges(let message):
            operation = .removeEdges(message.edges.map { EdgeRefInput(type: $0.type, source: input($0.source), target: input($0.target)) },
                                     ignoreMissing: message.ignoreMissing)
        case .documentsOnly:
            operation = .documents
        case nil:
            throw LogEntryError(description: "log entry without an operation (written by a newer graphd?)")
        }
        let documents = entry.documents.map { (name: $0.name, value: $0.hasValue ? [UInt8]($0.value) : nil) }
        let m = entry.marks
        let marks = WriteMarks(insertedNodes: Int(m.insertedNodes), updatedNodes: Int(m.updatedNodes), removedNodes: Int(m.removedNodes),
                               insertedEdges: Int(m.insertedEdges), removedEdges: Int(m.removedEdges), documents: Int(m.documents),
                               firstNodeID: m.hasFirstNodeID ? m.firstNodeID : nil, lastNodeID: m.hasLastNodeID ? m.lastNodeID : nil,
                               firstEdgeID: m.hasFirstEdgeID ? m.firstEdgeID : nil, lastEdgeID: m.hasLastEdgeID ? m.lastEdgeID : nil)
        return (WriteEvent(operation, documents: documents, nowMs: entry.nowMs), marks)
    }

    // MARK: Inputs ⇄ messages

    private static func message(_ marks: WriteMarks) -> Graphd_Log_V1_Marks {
        var m = Graphd_Log_V1_Marks()
        m.insertedNodes = Int64(marks.insertedNodes)
        m.updatedNodes = Int64(marks.updatedNodes)
        m.removedNodes = Int64(marks.removedNodes)
        m.insertedEdges = Int64(marks.insertedEdges)
        m.removedEdges = Int64(marks.removedEdges)
        m.documents = Int64(marks.documents)
        if let id = marks.firstNodeID { m.firstNodeID = id }
        if let id = marks.lastNodeID { m.lastNodeID = id }
        if let id = marks.firstEdgeID { m.firstEdgeID = id }
        if let id = marks.lastEdgeID { m.lastEdgeID = id }
        return m
    }

    private static func message(_ ref: NodeRefInput) -> Graphd_Log_V1_NodeRef {
        var message = Graphd_Log_V1_NodeRef()
        message.type = ref.type
        message.key = ref.key
        return message
    }

    private static func input(_ ref: Graphd_Log_V1_NodeRef) -> NodeRefInput { NodeRefInput(type: ref.type, key: ref.key) }

    private static func message(_ node: NodeInput) -> Graphd_Log_V1_Node {
        var message = Graphd_Log_V1_Node()
        message.type = node.type
        message.key = node.key
        if let text = node.text { message.text = text }
        message.features = node.features
        return message
    }

    private static func input(_ node: Graphd_Log_V1_Node) -> NodeInput {
        NodeInput(type: node.type, key: node.key, text: node.hasText ? node.text : nil, features: node.features)
    }

    private static func message(_ edge: EdgeInput) -> Graphd_Log_V1_Edge {
        var message = Graphd_Log_V1_Edge()
        message.type = edge.type
        message.source = self.message(edge.source)
        message.target = self.message(edge.target)
        if let weight = edge.weight { message.weight = weight }
        message.timestampMs = edge.timestampMs
        message.attributes = edge.attributes.map { attribute in
            var a = Graphd_Log_V1_Attribute()
            a.name = attribute.name
            a.value = attribute.value
            return a
        }
        return message
    }

    private static func input(_ edge: Graphd_Log_V1_Edge) -> EdgeInput {
        EdgeInput(type: edge.type, source: input(edge.source), target: input(edge.target), weight: edge.hasWeight ? edge.weight : nil,
                  timestampMs: edge.timestampMs, attributes: edge.attributes.map { (name: $0.name, value: $0.value) })
    }

    private static func message(_ request: EdgeWriteRequest) -> Graphd_Log_V1_AddEdges {
        var message = Graphd_Log_V1_AddEdges()
        message.edges = request.edges.map(self.message)
        message.blocks = request.blocks.map { block in
            var b = Graphd_Log_V1_EdgeBlock()
            b.type = block.type
            b.sourceType = block.sourceType
            b.targetType = block.targetType
            b.sourceKeys = block.sourceKeys
            b.targetKeys = block.targetKeys
            b.weights = block.weights
            b.timestampsMs = block.timestampsMs
            b.attributes = block.attributes.map { column in
                var c = Graphd_Log_V1_AttributeColumn()
                c.name = column.name
                c.values = column.values
                return c
            }
            return b
        }
        message.requireExistingNodes = request.requireExistingNodes
        return message
    }

    private static func input(_ message: Graphd_Log_V1_AddEdges) -> EdgeWriteRequest {
        EdgeWriteRequest(
            edges: message.edges.map(input),
            blocks: message.blocks.map { b in
                EdgeBlockInput(type: b.type, sourceType: b.sourceType, targetType: b.targetType, sourceKeys: b.sourceKeys,
                               targetKeys: b.targetKeys, weights: b.weights, timestampsMs: b.timestampsMs,
                               attributes: b.attributes.map { (name: $0.name, values: $0.values) })
            },
            requireExistingNodes: message.requireExistingNodes)
    }
}
