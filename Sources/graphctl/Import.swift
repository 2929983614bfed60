import ArgumentParser
import Foundation
import GraphdTools
import GraphCore
import GraphdClient
import GraphdProto
import RoutingSchema
import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#endif

enum ImportFormat: String, ExpressibleByArgument, CaseIterable {
    case lightgcn, edgelist, csv, graphml, jsonl, routerbench, inspired
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Load a file into graphd in batches (one transaction per batch).",
        discussion: """
        Formats:
          lightgcn  'user item item …' per line: user and item nodes (keys as written) joined
                    by the built-in undirected 'interacted' edge type.
          edgelist  'SOURCE TARGET [WEIGHT]' per line (whitespace-separated, '#' comments);
                    needs --edge-type, --source-type, --target-type.
          csv       a header row, then one edge per row; map columns with --source-column,
                    --target-column and optionally --weight-column, --timestamp-column, --attr-column.
          graphml   read with igraph; vertex ids become keys of --source-type/--target-type nodes.
          jsonl     graphd's own format, as written by 'graphctl export' (types, nodes with text
                    and features, edges with attributes, and router records: {"llm": {…}} as
                    AddLLM takes it, with prices, and {"task": {…}} as SetTask takes it).
          routerbench  RouterBench CSVs (RouterDC layout; also 'graphctl import routerbench FILE…'):
                    a task node per eval_name, an llm node per LLM column (registered as with
                    'graphctl llm add'), a query node per row keyed TASK/ROW whose text is the
                    part of the prompt --text selects, and edges task_query and query_llm with
                    attributes effect and cost. Query, task and LLM texts are embedded by graphd's
                    node-text embedder (graphd --node-text-embedder).
          inspired  INSPIRED dialogues in the UniCRS layout (also 'graphctl import inspired FILE…'),
                    with --data-dir holding entity2id.json, item_ids.json, relation2id.json and
                    dbpedia_subkg.json: item and entity nodes (keys: entity ids, text: DBpedia
                    names), kg_<relation> edges, a conversation node per dialogue (key
                    FILE-STEM/INDEX, text: the turns) with mentions and recommended edges, and
                    alias nodes for surface forms seen --min-alias-count times (alias_of edges).
                    The graph graphd.v1.Conversation/Retrieve reads. Import training dialogues only.
        A missing --edge-type is declared first (directed unless --undirected).
        Progress goes to stderr; a summary to stdout.

        Examples:
          graphctl import --format lightgcn ../data/gowalla/train.txt
          graphctl import --format edgelist --edge-type follows --source-type user --target-type user follows.txt
          graphctl import --format csv --edge-type rated --source-type user --target-type item \\
                          --source-column user_id --target-column movie_id --attr-column rating ratings.csv
          graphctl import --format jsonl Graphs/demo.jsonl
          graphctl import routerbench ../data/routerbench/*_train.csv
          graphctl import inspired --data-dir ../data/inspired ../data/inspired/train_data_dbpedia.jsonl
        """)

    @Option(help: "Input format: lightgcn, edgelist, csv, graphml, jsonl, routerbench or inspired.")
    var format: ImportFormat?
    @Argument(help: "Files to import, in order ('routerbench FILE…' is short for --format routerbench FILE…).")
    var files: [String]
    @Option(help: "routerbench: query text, full prompt or last block after the last blank line.")
    var text: QueryTextMode = .last
    @Option(name: .customLong("task-text"), help: "routerbench: per-task override, TASK=full|last (repeatable).")
    var taskText: [String] = []

    @Option(help: "inspired: directory with entity2id.json, item_ids.json, relation2id.json, dbpedia_subkg.json.")
    var dataDir: String?
    @Option(help: "inspired: times a surface form must name an entity in the dialogues to become an alias.")
    var minAliasCount: Int = 2

    @Option(help: "Edges per AddEdges request (1…100000).")
    var batchSize: Int = 10_000
    @Option(help: "Edge type for edgelist, csv and graphml (lightgcn: default interacted).")
    var edgeType: String?
    @Flag(help: "Declare a missing --edge-type as undirected.")
    var undirected = false
    @Option(help: "Node type of sources (edgelist, csv, graphml; lightgcn: user).")
    var sourceType: String?
    @Option(help: "Node type of targets (edgelist, csv, graphml; lightgcn: item).")
    var targetType: String?
    @Option(help: "CSV column holding the source key.")
    var sourceColumn: String?
    @Option(help: "CSV column holding the target key.")
    var targetColumn: String?
    @Option(help: "CSV column holding the weight.")
    var weightColumn: String?
    @Option(help: "CSV column holding the timestamp (milliseconds since the epoch).")
    var timestampColumn: String?
    @Option(name: .customLong("attr-column"), help: "CSV column stored as a numeric edge attribute of the same name (repeatable).")
    var attributeColumns: [String] = []
    @Option(help: "CSV field delimiter.")
    var delimiter: String = ","
    @Option(name: .customLong("output-format"), help: "Summary format: text or json.")
    var outputFormat: OutputFormat = .text
    @OptionGroup var connection: ConnectionOptions

    /// The format and files, with 'routerbench FILE…' read as --format routerbench.
    private var resolved: (format: ImportFormat, files: [String])? {
        if let format { return (format, files) }
        for shorthand in [ImportFormat.routerbench, .inspired] where files.first == shorthand.rawValue {
            return (shorthand, Array(files.dropFirst()))
        }
        return nil
    }

    func validate() throws {
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1…100000") }
        guard let (format, files) = resolved else { throw ValidationError("--format is required (or 'routerbench FILE…', 'inspired FILE…')") }
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
        switch format {
        case .edgelist, .csv, .graphml:
            guard edgeType != nil, sourceType != nil, targetType != nil else {
                throw ValidationError("--format \(format.rawValue) needs --edge-type, --source-type and --target-type")
            }
            if format == .csv, sourceColumn == nil || targetColumn == nil {
                throw ValidationError("--format csv needs --source-column and --target-column")
            }
        case .inspired:
            guard dataDir != nil else { throw ValidationError("--format inspired needs --data-dir") }
            guard minAliasCount >= 1 else { throw ValidationError("--min-alias-count must be at least 1") }
        case .lightgcn, .jsonl, .routerbench: break
        }
        guard delimiter.utf8.count == 1 else { throw ValidationError("--delimiter must be one byte") }
    }

    func run() async throws {
        guard let (format, files) = resolved else { throw ValidationError("--format is required") }
        let start = ContinuousClock.now
        let policy = try QueryTextPolicy(defaultMode: text, overrides: taskText)
        let (totals, logSequence) = try await connection.withClient { client in
            let sink = ImportSink(client: client, batchSize: batchSize)
            if format == .routerbench {
                try await RouterBenchImport.run(files: files, policy: policy, client: client, sink: sink)
                try await sink.flush()
                return (sink.totals, client.highestLogSequence)
            }
            if format == .inspired, let dataDir {
                try await InspiredImport.run(dataDirectory: dataDir, files: files, minAliasCount: minAliasCount, sink: sink)
                try await sink.flush()
                return (sink.totals, client.highestLogSequence)
            }
            try await declareEdgeType(client, format: format)
            for file in files {
                guard FileManager.default.isReadableFile(atPath: file) else {
                    throw fail(message: "cannot read \(file)", code: ToolExit.noInput)
                }
                switch format {
                case .lightgcn: try await importLightGCN(file, sink)
                case .edgelist: try await importEdgeList(file, sink)
                case .csv: try await importCSV(file, sink)
                case .graphml: try await importGraphML(file, sink)
                case .jsonl: try await importJSONL(file, sink)
                case .routerbench, .inspired: break
                }
            }
            try await sink.flush()
            return (sink.totals, client.highestLogSequence)
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        switch outputFormat {
        case .json:
            printJSON(["edges_sent": totals.edgesSent, "edges_created": totals.edgesCreated, "edges_updated": totals.edgesUpdated,
                       "nodes_created": totals.nodesCreated, "nodes_sent": totals.nodesSent, "seconds": seconds,
                       "log_sequence": logSequence] as [String: Any])
        case .text:
            print("imported \(totals.edgesSent) edges (\(totals.edgesCreated) new, \(totals.edgesUpdated) updated), \(totals.nodesCreated) new nodes in \(String(format: "%.2f", seconds)) s (\(Int(Double(totals.edgesSent) / max(seconds, 1e-9))) edges/s)")
        }
    }

    private func declareEdgeType(_ client: GraphClient, format: ImportFormat) async throws {
        guard let edgeType, format != .jsonl else { return }
        let types = try await client.listTypes()
        guard !types.edgeTypes.contains(where: { $0.name == edgeType }) else { return }
        var request = Graphd_V1_DefineTypesRequest()
        for name in [sourceType, targetType].compactMap({ $0 }) where !types.nodeTypes.contains(where: { $0.name == name }) {
            var spec = Graphd_V1_NodeTypeSpec()
            spec.name = name
            if !request.nodeTypes.contains(where: { $0.name == name }) { request.nodeTypes.append(spec) }
        }
        var spec = Graphd_V1_EdgeTypeSpec()
        spec.name = edgeType
        spec.directed = !undirected
        request.edgeTypes = [spec]
        _ = try await client.defineTypes(request)
        log("declared \(undirected ? "undirected" : "directed") edge type '\(edgeType)'")
    }

    private func edge(_ type: String, _ sourceType: String, _ source: Substring, _ targetType: String, _ target: Substring,
                      weight: Double? = nil) -> Graphd_V1_Edge {
        var edge = Graphd_V1_Edge()
        edge.type = type
        edge.source.type = sourceType
        edge.source.key = String(source)
        edge.target.type = targetType
        edge.target.key = String(target)
        if let weight { edge.weight = weight }
        return edge
    }

    private func importLightGCN(_ file: String, _ sink: ImportSink) async throws {
        let type = edgeType ?? "interacted", users = sourceType ?? "user", items = targetType ?? "item"
        try await LineReader.forEachLine(file) { line, number in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let user = fields.first else { return }
            for item in fields.dropFirst() {
                try await sink.add(edge(type, users, user, items, item))
            }
            _ = number
        }
    }

    private func importEdgeList(_ file: String, _ sink: ImportSink) async throws {
        let type = edgeType!, sources = sourceType!, targets = targetType!
        try await LineReader.forEachLine(file) { line, number in
            if line.hasPrefix("#") || line.isEmpty { return }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
            guard fields.count >= 2 else { throw fail(message: "\(file):\(number): expected 'SOURCE TARGET [WEIGHT]'", code: ToolExit.rejected) }
            var weight: Double? = nil
            if fields.count >= 3 {
                guard let value = Double(fields[2]) else { throw fail(message: "\(file):\(number): weight '\(fields[2])' is not a number", code: ToolExit.rejected) }
                weight = value
            }
            try await sink.add(edge(type, sources, fields[0], targets, fields[1], weight: weight))
        }
    }

    private func importCSV(_ file: String, _ sink: ImportSink) async throws {
        let type = edgeType!, sources = sourceType!, targets = targetType!
        let separator = Character(delimiter)
        var columns: [String: Int]? = nil
        try await LineReader.forEachLine(file) { line, number in
            if line.isEmpty { return }
            let fields = CSV.split(line, separator: separator)
            guard let map = columns else {
                var header: [String: Int] = [:]
                for (i, name) in fields.enumerated() { header[name.trimmingCharacters(in: .whitespaces)] = i }
                for name in [sourceColumn, targetColumn, weightColumn, timestampColumn].compactMap({ $0 }) + attributeColumns where header[name] == nil {
                    throw fail(message: "\(file): no column '\(name)' in the header (\(fields.joined(separator: ", ")))", code: ToolExit.rejected)
                }
                columns = header
                return
            }
            func field(_ name: String) throws -> String {
                let index = map[name]!
                guard index < fields.count else { throw fail(message: "\(file):\(number): row has no '\(name)' field", code: ToolExit.rejected) }
                return fields[index]
            }
            func numeric(_ name: String) throws -> Double {
                let text = try field(name)
                guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                    throw fail(message: "\(file):\(number): \(name) '\(text)' is not a number", code: ToolExit.rejected)
                }
                return value
            }
            var edge = edge(type, sources, Substring(try field(sourceColumn!)), targets, Substring(try field(targetColumn!)))
            if let weightColumn { edge.weight = try numeric(weightColumn) }
            if let timestampColumn { edge.timestampMs = Int64(try numeric(timestampColumn)) }
            for name in attributeColumns { edge.attributes[name] = try numeric(name) }
            try await sink.add(edge)
        }
    }

    private func importGraphML(_ file: String, _ sink: ImportSink) async throws {
        let topology: ImportedTopology
        do {
            topology = try IgraphTopology.readGraphML(path: file)
        } catch {
            throw fail(message: error.message, code: ToolExit.rejected)
        }
        log("\(file): \(topology.vertexNames.count) vertices, \(topology.sources.count) edges (igraph)")
        for i in 0..<topology.sources.count {
            try await sink.add(edge(edgeType!, sourceType!, Substring(topology.vertexNames[Int(topology.sources[i])]),
                                    targetType!, Substring(topology.vertexNames[Int(topology.targets[i])])))
        }
    }

    private func importJSONL(_ file: String, _ sink: ImportSink) async throws {
        try await LineReader.forEachLine(file) { line, number in
            if line.isEmpty || line.hasPrefix("#") { return }
            func bad(_ why: String) -> ExitCode { fail(message: "\(file):\(number): \(why)", code: ToolExit.rejected) }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw bad("not a JSON object")
            }
            if let spec = object["node_type"] as? [String: Any] {
                var type = Graphd_V1_NodeTypeSpec()
                guard let name = spec["name"] as? String else { throw bad("node_type needs a name") }
                type.name = name
                type.featureDimension = UInt32((spec["feature_dimension"] as? Int) ?? 0)
                var request = Graphd_V1_DefineTypesRequest()
                request.nodeTypes = [type]
                try await sink.define(request)
            } else if let spec = object["edge_type"] as? [String: Any] {
                var type = Graphd_V1_EdgeTypeSpec()
                guard let name = spec["name"] as? String else { throw bad("edge_type needs a name") }
                type.name = name
                type.directed = (spec["directed"] as? Bool) ?? true
                type.sourceType = (spec["source_type"] as? String) ?? ""
                type.targetType = (spec["target_type"] as? String) ?? ""
                var request = Graphd_V1_DefineTypesRequest()
                request.edgeTypes = [type]
                try await sink.define(request)
            } else if let spec = object["node"] as? [String: Any] {
                var node = Graphd_V1_Node()
                guard let type = spec["type"] as? String, let key = spec["key"] as? String else { throw bad("node needs type and key") }
                node.type = type
                node.key = key
                if let text = spec["text"] as? String { node.text = text }
                if let features = spec["features"] as? [Double] { node.features = features.map { Float($0) } }
                try await sink.add(node)
            } else if let spec = object["edge"] as? [String: Any] {
                var edge = Graphd_V1_Edge()
                guard let type = spec["type"] as? String,
                      let source = spec["source"] as? [String: Any], let sourceType = source["type"] as? String, let sourceKey = source["key"] as? String,
                      let target = spec["target"] as? [String: Any], let targetType = target["type"] as? String, let targetKey = target["key"] as? String
                else { throw bad("edge needs type, source {type, key} and target {type, key}") }
                edge.type = type
                edge.source = Graphd_V1_NodeRef(type: sourceType, key: sourceKey)
                edge.target = Graphd_V1_NodeRef(type: targetType, key: targetKey)
                if let weight = spec["weight"] as? Double { edge.weight = weight }
                if let timestamp = spec["timestamp_ms"] as? Int64 { edge.timestampMs = timestamp }
                if let attributes = spec["attributes"] as? [String: Double] { edge.attributes = attributes }
                try await sink.add(edge)
            } else if let spec = object["llm"] as? [String: Any] {
                // Router metadata that lives beside the graph (prices, context window, tags).
                var request = Graphd_V1_AddLLMRequest()
                request.llm = try protobufMessage(spec, as: Graphd_V1_LLMInfo.self, bad)
                try await sink.addLLM(request)
            } else if let spec = object["task"] as? [String: Any] {
                var request = Graphd_V1_SetTaskRequest()
                request.task = try protobufMessage(spec, as: Graphd_V1_TaskInfo.self, bad)
                try await sink.setTask(request)
            } else if let header = object["export"] as? [String: Any] {
                // Written by 'graphctl export': where the data came from (informational).
                log("importing an export of graph version \(header["graph_version"] ?? "?") (store schema \(header["schema_version"] ?? "?"), graphd \(header["graphd"] ?? "?"))")
            } else {
                throw bad("expected one of export, node_type, edge_type, node, edge, llm, task")
            }
        }
    }
}

/// A JSON object read from an import line as a protobuf message (proto3 JSON:
/// field names as in the .proto or in lowerCamelCase; unknown fields refused).
private func protobufMessage<Message: SwiftProtobuf.Message>(
    _ object: [String: Any], as: Message.Type, _ bad: (String) -> ExitCode
) throws -> Message {
    do {
        return try Message(jsonUTF8Data: try JSONSerialization.data(withJSONObject: object))
    } catch {
        throw bad("not a valid \(Message.protoMessageName): \(error)")
    }
}
