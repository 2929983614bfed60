import ArgumentParser
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto
import SwiftProtobuf

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, edgelist
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the whole graph to a file or stdout.",
        discussion: """
        The export is the graph at one point in time: graphd pins one snapshot for the listing, \
        and writes made meanwhile are not in it. \
        jsonl writes a header with the source's versions (graphd, store schema, graph version), \
        types, nodes (with text and features), registered LLMs and tasks (as AddLLM and SetTask take them) and edges (with attributes), one JSON object per line, in the form 'graphctl import --format jsonl' reads back. edgelist writes \
        'EDGE_TYPE SOURCE_TYPE:KEY TARGET_TYPE:KEY WEIGHT' lines.
        Example: graphctl export --format jsonl --output backup.jsonl
        """)

    @Option(help: "jsonl or edgelist.")
    var format: ExportFormat = .jsonl
    @Option(help: "Output file (default: stdout).")
    var output: String?
    @Option(help: "Items per page requested from graphd.")
    var pageSize: UInt32 = 5000

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (1...10_000).contains(pageSize) else { throw ValidationError("--page-size must be 1…10000") }
    }

    func run() async throws {
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil), let file = FileHandle(forWritingAtPath: output) else {
                throw fail(message: "cannot write \(output)", code: ToolExit.noInput)
            }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        var buffer = ""
        func emit(_ line: String) {
            buffer += line
            buffer += "\n"
            if buffer.utf8.count > 1 << 16 {
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        func emitJSON(_ object: [String: Any]) {
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                emit(String(decoding: data, as: UTF8.self))
            }
        }
        let counts = try await connection.withClient { client in
            var nodes = 0, edges = 0
            // Nodes, then edges, from one snapshot that graphd pins for the
            // listing: the export is the graph at one point in time.
            var snapshotID: UInt64 = 0
            if format == .jsonl {
                var request = Graphd_V1_ListNodesRequest()
                request.limit = pageSize
                var page = try await client.listNodes(request)
                snapshotID = page.snapshot.snapshotID
                // The source's versions first: a replica booting from this file knows what it replays from.
                let stats = try await client.stats()
                emitJSON(["export": ["graphd": stats.version, "schema_version": stats.schemaVersion,
                                     "graph_version": page.snapshot.graphVersion, "edges": page.snapshot.edges,
                                     "nodes": page.snapshot.nodes] as [String: Any]])
                let types = try await client.listTypes()
                for type in types.nodeTypes where !type.builtin || type.featureDimension > 0 {
                    emitJSON(["node_type": ["name": type.name, "feature_dimension": type.featureDimension] as [String: Any]])
                }
                for type in types.edgeTypes where !type.builtin {
                    emitJSON(["edge_type": ["name": type.name, "directed": type.directed, "source_type": type.sourceType,
                                            "target_type": type.targetType] as [String: Any]])
                }
                // The router's metadata beside the graph (prices, context windows,
                // tags, each task's query text), as AddLLM and SetTask take it;
                // before the nodes, whose records then restore the exact texts and
                // features (AddLLM and SetTask embed the description).
                var json = JSONEncodingOptions()
                json.preserveProtoFieldNames = true
                for var llm in try await client.listLLMs().llms {
                    let price = llm.price
                    guard price.perCall != 0 || price.perInputToken != 0 || price.perOutputToken != 0
                        || llm.contextWindow != 0 || !llm.tags.isEmpty else { continue }  // the node says it all
                    llm.observedOutcomes = 0
                    emit(#"{"llm":"# + (try llm.jsonString(options: json)) + "}")
                }
                for var task in try await client.listTasks().tasks {
                    task.queries = 0
                    emit(#"{"task":"# + (try task.jsonString(options: json)) + "}")
                }
                while true {
                    for node in page.nodes where node.hasText || !node.features.isEmpty {
                        emitJSON(["node": jsonObject(node)])
                    }
                    nodes += page.nodes.count
                    guard !page.nextPageToken.isEmpty else { break }
                    request.pageToken = page.nextPageToken
                    page = try await client.listNodes(request)
                }
            }
            var request = Graphd_V1_ListEdgesRequest()
            request.limit = pageSize
            request.snapshotID = snapshotID
            repeat {
                let page = try await client.listEdges(request)
                for edge in page.edges {
                    switch format {
                    case .jsonl: emitJSON(["edge": jsonObject(edge)])
                    case .edgelist: emit("\(edge.type) \(edge.source.display) \(edge.target.display) \(edge.weight)")
                    }
                }
                edges += page.edges.count
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty
            return (nodes, edges)
        }
        handle.write(Data(buffer.utf8))
        if output != nil { try? handle.close() }
        log("exported \(counts.0) nodes, \(counts.1) edges")
    }
}
