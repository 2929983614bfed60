import ArgumentParser
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto

// MARK: graph

struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "Whole-graph commands: statistics and types.",
        subcommands: [GraphStats.self, GraphTypes.self, GraphDefine.self])
}

struct GraphStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Counts by type, delta size, memory, store size, versions.",
        discussion: "Example: graphctl graph stats --socket /tmp/graphd.sock --format json")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Also compute a checksum of the graph's content (equal on graphds that hold the same graph; reads the whole graph).")
    var checksum = false

    func run() async throws {
        let stats = try await connection.withClient { try await $0.stats(contentChecksum: checksum) }
        let checksumText = String(format: "%016llx", stats.contentChecksum)
        switch output.format {
        case .json:
            printJSON([
                "nodes": stats.nodes, "edges": stats.edges,
                "nodes_by_type": stats.nodesByType, "edges_by_type": stats.edgesByType,
                "delta_edges": stats.deltaEdges, "delta_removals": stats.deltaRemovals,
                "memory_bytes": stats.memoryBytes, "store_bytes": stats.storeBytes,
                "version": stats.version, "graph_version": stats.graphVersion,
                "schema_version": stats.schemaVersion, "compactions": stats.compactions,
                "last_compaction_seconds": stats.lastCompactionSeconds, "uptime_seconds": stats.uptimeSeconds,
                "role": stats.role, "applied_log_sequence": stats.appliedLogSequence, "log_last_sequence": stats.logLastSequence,
                "log_lag_entries": stats.logLagEntries, "log_lag_seconds": stats.logLagSeconds, "primary_address": stats.primaryAddress,
                "content_checksum": checksum ? checksumText : NSNull(),
            ] as [String: Any])
        case .text:
            print("nodes: \(stats.nodes)")
            for (type, count) in stats.nodesByType.sorted(by: { $0.key < $1.key }) where count > 0 { print("  \(type): \(count)") }
            print("edges: \(stats.edges)")
            for (type, count) in stats.edgesByType.sorted(by: { $0.key < $1.key }) where count > 0 { print("  \(type): \(count)") }
            print("delta: \(stats.deltaEdges) added, \(stats.deltaRemovals) removed since the last compaction")
            print("compactions: \(stats.compactions) (last took \(String(format: "%.3f", stats.lastCompactionSeconds)) s)")
            print("memory: \(stats.memoryBytes / 1_048_576) MiB resident; store: \(stats.storeBytes / 1024) KiB")
            print("graphd \(stats.version), graph version \(stats.graphVersion), store schema \(stats.schemaVersion), up \(Int(stats.uptimeSeconds)) s")
            if stats.role == "single" {
                print("replication: off (single)")
            } else {
                print("replication: \(stats.role), applied log sequence \(stats.appliedLogSequence) of \(stats.logLastSequence) "
                      + "(\(stats.logLagEntries) behind, \(String(format: "%.3f", stats.logLagSeconds)) s); primary: \(stats.primaryAddress.isEmpty ? "none now" : stats.primaryAddress)")
            }
            if checksum { print("content checksum: \(checksumText)") }
        }
    }
}

struct GraphTypes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "types", abstract: "List node types, edge types and their declarations.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let types = try await connection.withClient { try await $0.listTypes() }
        switch output.format {
        case .json:
            printJSON([
                "node_types": types.nodeTypes.map { ["name": $0.name, "feature_dimension": $0.featureDimension, "builtin": $0.builtin] as [String: Any] },
                "edge_types": types.edgeTypes.map {
                    ["name": $0.name, "directed": $0.directed, "source_type": $0.sourceType, "target_type": $0.targetType, "builtin": $0.builtin] as [String: Any]
                },
            ])
        case .text:
            print("node types:")
            for type in types.nodeTypes {
                print("  \(type.name)\(type.featureDimension > 0 ? " (features: \(type.featureDimension))" : "")\(type.builtin ? " [built-in]" : "")")
            }
            print("edge types:")
            for type in types.edgeTypes {
                let ends = "\(type.sourceType.isEmpty ? "*" : type.sourceType) \(type.directed ? "->" : "--") \(type.targetType.isEmpty ? "*" : type.targetType)"
                print("  \(type.name): \(ends)\(type.builtin ? " [built-in]" : "")")
            }
        }
    }
}

struct GraphDefine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "define", abstract: "Declare node types and edge types (idempotent).",
        discussion: """
        Examples:
          graphctl graph define --node-type movie --node-type paper:128
          graphctl graph define --edge-type follows:directed:user:user --edge-type similar:undirected
        """)

    @Option(name: .customLong("node-type"), help: ArgumentHelp("NAME or NAME:FEATURE_DIM.", valueName: "spec"))
    var nodeTypes: [String] = []

    @Option(name: .customLong("edge-type"), help: ArgumentHelp("NAME:directed|undirected[:SOURCE_TYPE:TARGET_TYPE].", valueName: "spec"))
    var edgeTypes: [String] = []

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_DefineTypesRequest()
        for spec in nodeTypes {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            var type = Graphd_V1_NodeTypeSpec()
            type.name = parts[0]
            if parts.count == 2 {
                guard let dimension = UInt32(parts[1]) else { throw ValidationError("--node-type \(spec): the dimension must be a number") }
                type.featureDimension = dimension
            } else if parts.count > 2 {
                throw ValidationError("--node-type \(spec): write NAME or NAME:DIMENSION")
            }
            request.nodeTypes.append(type)
        }
        for spec in edgeTypes {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || parts.count == 4, ["directed", "undirected"].contains(parts[1]) else {
                throw ValidationError("--edge-type \(spec): write NAME:directed|undirected[:SOURCE_TYPE:TARGET_TYPE]")
            }
            var type = Graphd_V1_EdgeTypeSpec()
            type.name = parts[0]
            type.directed = parts[1] == "directed"
            if parts.count == 4 {
                type.sourceType = parts[2]
                type.targetType = parts[3]
            }
            request.edgeTypes.append(type)
        }
        guard !request.nodeTypes.isEmpty || !request.edgeTypes.isEmpty else {
            throw ValidationError("give at least one --node-type or --edge-type")
        }
        let response = try await connection.withClient { try await $0.defineTypes(request) }
        switch output.format {
        case .json: printJSON(["node_types_created": response.nodeTypesCreated, "edge_types_created": response.edgeTypesCreated, "log_sequence": response.logSequence])
        case .text: print("created \(response.nodeTypesCreated) node types, \(response.edgeTypesCreated) edge types")
        }
    }
}

// MARK: node

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Get, add or remove nodes.",
        subcommands: [NodeGet.self, NodeAdd.self, NodeRemove.self])
}

struct NodeGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Show one node with its degrees.",
        discussion: "Example: graphctl node get user:42")

    @Argument(help: ArgumentHelp("The node, as TYPE:KEY.", valueName: "type:key"))
    var node: String

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_GetNodeRequest()
        request.node = try parseNodeRef(node)
        let response = try await connection.withClient { try await $0.getNode(request) }
        switch output.format {
        case .json:
            var object = jsonObject(response.node)
            object["out_degree"] = response.outDegree
            object["in_degree"] = response.inDegree
            printJSON(object)
        case .text:
            print("\(response.node.type):\(response.node.key)  out-degree \(response.outDegree), in-degree \(response.inDegree)")
            if response.node.hasText { print("text: \(response.node.text)") }
            if !response.node.features.isEmpty { print("features (\(response.node.features.count)): \(response.node.features.prefix(8).map { "\($0)" }.joined(separator: ", "))\(response.node.features.count > 8 ? ", …" : "")") }
        }
    }
}

struct NodeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a node, or update its text and features if it exists.",
        discussion: "Example: graphctl node add llm:gpt-4o --text \"OpenAI GPT-4o, strong general model\"")

    @Argument(help: ArgumentHelp("The node, as TYPE:KEY.", valueName: "type:key"))
    var node: String

    @Option(help: "Text to store with the node.")
    var text: String?

    @Option(help: ArgumentHelp("Feature vector, comma-separated.", valueName: "v1,v2,…"))
    var features: String?

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let ref = try parseNodeRef(node)
        var item = Graphd_V1_Node()
        item.type = ref.type
        item.key = ref.key
        if let text { item.text = text }
        if let features {
            item.features = try features.split(separator: ",").map {
                guard let value = Float($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--features: '\($0)' is not a number") }
                return value
            }
        }
        var request = Graphd_V1_AddNodesRequest()
        request.nodes = [item]
        let response = try await connection.withClient { try await $0.addNodes(request) }
        switch output.format {
        case .json: printJSON(["created": response.created, "updated": response.updated, "log_sequence": response.logSequence])
        case .text: print(response.created > 0 ? "created \(ref.display)" : (response.updated > 0 ? "updated \(ref.display)" : "\(ref.display) unchanged"))
        }
    }
}

struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove nodes and every edge touching them.",
        discussion: "Example: graphctl node remove user:42 user:43")

    @Argument(help: ArgumentHelp("Nodes, as TYPE:KEY.", valueName: "type:key"))
    var nodes: [String]

    @Flag(help: "Succeed even if some nodes do not exist.")
    var ignoreMissing = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_RemoveNodesRequest()
        request.nodes = try nodes.map(parseNodeRef)
        request.ignoreMissing = ignoreMissing
        let response = try await connection.withClient { try await $0.removeNodes(request) }
        switch output.format {
        case .json: printJSON(["nodes_removed": response.nodesRemoved, "edges_removed": response.edgesRemoved, "log_sequence": response.logSequence])
        case .text: print("removed \(response.nodesRemoved) nodes and \(response.edgesRemoved) edges")
        }
    }
}

// MARK: edge

struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge", abstract: "Add or remove edges.", subcommands: [EdgeAdd.self, EdgeRemove.self])
}

struct EdgeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add an edge, or replace its weight and attributes if it exists.",
        discussion: """
        Missing endpoints are created unless --require-existing is given.
        Example: graphctl edge add routed query:q1 llm:gpt-4o --attr effect=0.9 --attr cost=0.002
        """)

    @Argument(help: "Edge type (relation) name.")
    var type: String
    @Argument(help: ArgumentHelp("Source node, as TYPE:KEY.", valueName: "type:key"))
    var source: String
    @Argument(help: ArgumentHelp("Target node, as TYPE:KEY.", valueName: "type:key"))
    var target: String

    @Option(help: "Edge weight (default 1).")
    var weight: Double?
    @Option(help: "Timestamp in milliseconds since the epoch (default: now).")
    var timestampMs: Int64 = 0
    @Option(name: .customLong("attr"), help: ArgumentHelp("Named numeric attribute.", valueName: "name=value"))
    var attributes: [String] = []
    @Flag(help: "Fail instead of creating missing endpoints.")
    var requireExisting = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var edge = Graphd_V1_Edge()
        edge.type = type
        edge.source = try parseNodeRef(source)
        edge.target = try parseNodeRef(target)
        if let weight { edge.weight = weight }
        edge.timestampMs = timestampMs
        for attribute in attributes {
            let parts = attribute.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Double(parts[1]) else { throw ValidationError("--attr \(attribute): write NAME=NUMBER") }
            edge.attributes[String(parts[0])] = value
        }
        var request = Graphd_V1_AddEdgesRequest()
        request.edges = [edge]
        request.requireExistingNodes = requireExisting
        let response = try await connection.withClient { try await $0.addEdges(request) }
        switch output.format {
        case .json: printJSON(["created": response.created, "updated": response.updated, "nodes_created": response.nodesCreated, "log_sequence": response.logSequence])
        case .text: print("\(response.created > 0 ? "created" : "updated") \(type) \(source) -> \(target)\(response.nodesCreated > 0 ? " (\(response.nodesCreated) new nodes)" : "")")
        }
    }
}

struct EdgeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove an edge.",
        discussion: "Example: graphctl edge remove interacted user:1 item:7")

    @Argument(help: "Edge type (relation) name.")
    var type: String
    @Argument(help: ArgumentHelp("Source node, as TYPE:KEY.", valueName: "type:key"))
    var source: String
    @Argument(help: ArgumentHelp("Target node, as TYPE:KEY.", valueName: "type:key"))
    var target: String
    @Flag(help: "Succeed even if the edge does not exist.")
    var ignoreMissing = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var ref = Graphd_V1_EdgeRef()
        ref.type = type
        ref.source = try parseNodeRef(source)
        ref.target = try parseNodeRef(target)
        var request = Graphd_V1_RemoveEdgesRequest()
        request.edges = [ref]
        request.ignoreMissing = ignoreMissing
        let response = try await connection.withClient { try await $0.removeEdges(request) }
        switch output.format {
        case .json: printJSON(["removed": response.removed, "log_sequence": response.logSequence])
        case .text: print("removed \(response.removed) edge\(response.removed == 1 ? "" : "s")")
        }
    }
}

// MARK: neighbors

struct NeighborsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neighbors", abstract: "List a node's neighbours, filtered and paged.",
        discussion: """
        Results come in edge-id order (oldest edge first). --all follows page tokens to the end.
        Example: graphctl neighbors user:42 --edge-type interacted --node-type item --limit 50
        """)

    @Argument(help: ArgumentHelp("The node, as TYPE:KEY.", valueName: "type:key"))
    var node: String
    @Option(name: .customLong("edge-type"), help: "Only edges of this type (repeatable).")
    var edgeTypes: [String] = []
    @Option(name: .customLong("node-type"), help: "Only neighbours of this type (repeatable).")
    var nodeTypes: [String] = []
    @Option(help: "out, in or both.")
    var direction: String = "both"
    @Option(help: "Page size (1…10000).")
    var limit: UInt32 = 100
    @Option(help: "Continue from a previous page's token.")
    var pageToken: String = ""
    @Flag(help: "Fetch every page.")
    var all = false

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_NeighborsRequest()
        request.node = try parseNodeRef(node)
        request.edgeTypes = edgeTypes
        request.nodeTypes = nodeTypes
        switch direction {
        case "out": request.direction = .out
        case "in": request.direction = .in
        case "both": request.direction = .both
        default: throw ValidationError("--direction must be out, in or both")
        }
        request.limit = limit
        request.pageToken = pageToken
        let (neighbors, next) = try await connection.withClient { client in
            var collected: [Graphd_V1_Neighbor] = []
            var response = try await client.neighbors(request)
            collected += response.neighbors
            while all, !response.nextPageToken.isEmpty {
                request.pageToken = response.nextPageToken
                response = try await client.neighbors(request)
                collected += response.neighbors
            }
            return (collected, response.nextPageToken)
        }
        switch output.format {
        case .json:
            printJSON([
                "neighbors": neighbors.map {
                    ["node": jsonObject($0.node), "edge_type": $0.edgeType,
                     "direction": $0.direction == .out ? "out" : ($0.direction == .in ? "in" : "both"),
                     "weight": $0.weight, "timestamp_ms": $0.timestampMs, "attributes": $0.attributes] as [String: Any]
                },
                "next_page_token": next,
            ])
        case .text:
            for neighbor in neighbors {
                let arrow = neighbor.direction == .out ? "->" : (neighbor.direction == .in ? "<-" : "--")
                let attributes = neighbor.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print("\(arrow) \(neighbor.node.display)  [\(neighbor.edgeType)] weight \(neighbor.weight)\(attributes.isEmpty ? "" : " " + attributes)")
            }
            if !next.isEmpty { print("(more: --page-token \(next))") }
        }
    }
}

// MARK: compact, snapshot, health

struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact", abstract: "Merge the delta buffer into igraph and rebuild the read snapshot now.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let response = try await connection.withClient { try await $0.compact() }
        switch output.format {
        case .json: printJSON(["merged_edges": response.mergedEdges, "removed_edges": response.removedEdges, "seconds": response.seconds])
        case .text: print("merged \(response.mergedEdges) edges, dropped \(response.removedEdges) removed ones in \(String(format: "%.3f", response.seconds)) s")
        }
    }
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Save a consistent copy of graphd's store (graphd.v1.Graph/Snapshot).",
        discussion: """
        The copy is one SQLite file holding the graph, its documents (models, catalogue) and the \
        replication log sequence it had applied. Start graphd on it (graphd --store COPY), or \
        start a new replica from it with graphd --bootstrap COPY: it replays the log from the \
        next sequence. graphd writes the copy aside while writes go on; it is paged to OUT and \
        renamed into place once complete. Works on replicas too.

        Example: graphctl snapshot --socket /run/graphd.sock /backups/graph-2026-12-07.sqlite
        """)

    @Argument(help: ArgumentHelp("Where to write the copy (must not exist).", valueName: "out"))
    var out: String

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let response = try await connection.withClient { try await $0.saveSnapshot(to: out) }
        switch output.format {
        case .json: printJSON(["path": out, "bytes": response.bytes, "applied_log_sequence": response.appliedLogSequence])
        case .text: print("saved \(response.bytes / 1024) KiB to \(out) (applied log sequence \(response.appliedLogSequence))")
        }
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "Ask graphd whether it is serving (exit 0) or not (exit 69).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let response = try await connection.withClient { try await $0.health() }
        let serving = response.status == .serving
        switch output.format {
        case .json: printJSON(["status": serving ? "SERVING" : "NOT_SERVING", "version": response.version])
        case .text: print("\(serving ? "SERVING" : "NOT_SERVING") (graphd \(response.version))")
        }
        if !serving { throw ExitCode(ToolExit.unavailable) }
    }
}
