import Foundation
import GraphCore
import GraphStore
import GraphdProto
import Replication
import TTRPC
import TextEmbedding

/// Request limits of the graph service.
public struct GraphServiceLimits: Sendable {
    /// Most nodes or edges in one write request.
    public var maxBatchSize = 100_000
    /// Largest page of a listing.
    public var maxPageSize = 10_000
    public var defaultPageSize = 100
    /// Most texts in one Embed request, and the longest text.
    public var maxEmbedTexts = 1024
    public var maxEmbedTextBytes = 65_536

    public init() {}
}

/// How graphd embeds text: the Embed RPC's default provider, and the provider
/// that gives nodes added with text and no vector one (nil: none).
public struct EmbeddingConfiguration: Sendable {
    public var defaultProvider: EmbeddingProvider = .hashed
    public var nodeTextProvider: EmbeddingProvider? = .hashed
    public var registry = EmbedderRegistry()

    public init() {}

    /// Gives nodes that come with text and no vector one from the node-text
    /// provider, when their type's dimension — as stored, or as fixed by a
    /// vector elsewhere in the batch — is not fixed yet or matches it.
    public func fillNodeVectors(_ inputs: inout [NodeInput], schema: GraphSchema) throws {
        guard let provider = nodeTextProvider,
              inputs.contains(where: { $0.features.isEmpty && !($0.text ?? "").isEmpty }) else { return }
        let embedder = try registry.embedder(provider)
        var fixedInBatch: [String: Int] = [:]
        for input in inputs where !input.features.isEmpty { fixedInBatch[input.type] = input.features.count }
        var wanting: [Int] = []
        for (i, input) in inputs.enumerated() where input.features.isEmpty {
            guard let text = input.text, !text.isEmpty, let type = schema.nodeTypeID(input.type) else { continue }
            let fixed = fixedInBatch[input.type] ?? schema.nodeType(type).featureDimension
            if fixed == 0 || fixed == embedder.dimension { wanting.append(i) }
        }
        guard !wanting.isEmpty else { return }
        let vectors = try embedder.embed(wanting.map { inputs[$0].text ?? "" })
        for (position, i) in wanting.enumerated() { inputs[i].features = vectors[position] }
    }
}

/// graphd.v1.Graph: maps protobuf requests to the graph database and back.
public struct GraphService: Sendable {
    public let database: GraphDatabase
    public let limits: GraphServiceLimits
    /// Models whose freshness Stats reports.
    let models: RecommendationModels?
    public let embedding: EmbeddingConfiguration
    /// This graphd's part in replication, which Stats reports (nil: alone).
    let replication: ReplicationController?
    /// Store copies for Snapshot and ReadSnapshot.
    let snapshots: SnapshotFiles
    let startedAt = ContinuousClock.now
    /// Snapshots that open listings page through.
    let listings = ListingPins()

    public init(database: GraphDatabase, limits: GraphServiceLimits = GraphServiceLimits(), models: RecommendationModels? = nil,
                embedding: EmbeddingConfiguration = EmbeddingConfiguration(), replication: ReplicationController? = nil,
                snapshots: SnapshotFiles? = nil) {
        self.database = database
        self.replication = replication
        self.snapshots = snapshots ?? SnapshotFiles(storePath: database.path)
        self.limits = limits
        self.models = models
        self.embedding = embedding
    }

    public func register(into dispatcher: inout TTRPCDispatcher) {
        // Reads that only touch the current snapshot run inline on the connection's event loop.
        dispatcher.registerInline(.health) { (_: Graphd_V1_HealthRequest, _) in
            var response = Graphd_V1_HealthResponse()
            response.status = .serving
            response.version = GraphdVersion.string
            return response
        }
        dispatcher.register(.stats) { (request: Graphd_V1_StatsRequest, _) in await stats(request) }
        dispatcher.register(.defineTypes) { (request: Graphd_V1_DefineTypesRequest, _) in
            try await defineTypes(request)
        }
        dispatcher.registerInline(.listTypes) { (_: Graphd_V1_ListTypesRequest, _) in listTypes() }
        // AddNodes may embed node texts; Embed always does: both compute off the event loop.
        dispatcher.registerCompute(.addNodes) { (request: Graphd_V1_AddNodesRequest, _) in
            try await addNodes(request)
        }
        dispatcher.register(.addEdges) { (request: Graphd_V1_AddEdgesRequest, _) in
            try await addEdges(request)
        }
        dispatcher.register(.removeNodes) { (request: Graphd_V1_RemoveNodesRequest, _) in
            try await removeNodes(request)
        }
        dispatcher.register(.removeEdges) { (request: Graphd_V1_RemoveEdgesRequest, _) in
            try await removeEdges(request)
        }
        dispatcher.registerInline(.getNode) { (request: Graphd_V1_GetNodeRequest, _) in
            try getNode(request)
        }
        dispatcher.registerInline(.neighbors) { (request: Graphd_V1_NeighborsRequest, _) in
            try neighbors(request)
        }
        dispatcher.registerInline(.listNodes) { (request: Graphd_V1_ListNodesRequest, _) in
            try listNodes(request)
        }
        dispatcher.registerInline(.listEdges) { (request: Graphd_V1_ListEdgesRequest, _) in
            try listEdges(request)
        }
        dispatcher.registerCompute(.embed) { (request: Graphd_V1_EmbedRequest, _) in
            try embed(request)
        }
        dispatcher.register(.snapshot) { (_: Graphd_V1_SnapshotRequest, _) in
            let (id, snapshot) = try await snapshots.create(from: database)
            var response = Graphd_V1_SnapshotResponse()
            response.snapshotID = id
            response.bytes = UInt64(snapshot.byteCount)
            response.appliedLogSequence = snapshot.appliedLogSequence
            return response
        }
        dispatcher.registerCompute(.readSnapshot) { (request: Graphd_V1_ReadSnapshotRequest, _) in
            let (data, eof) = try snapshots.read(id: request.snapshotID, offset: request.offset, maxBytes: request.maxBytes)
            var response = Graphd_V1_ReadSnapshotResponse()
            response.data = data
            response.eof = eof
            return response
        }
        dispatcher.register(.compact) { (_: Graphd_V1_CompactRequest, _) in
            let result = try await database.compact()
            var response = Graphd_V1_CompactResponse()
            response.mergedEdges = UInt64(result.mergedEdges)
            response.removedEdges = UInt64(result.removedEdges)
            response.seconds = result.seconds
            return response
        }
    }

    // MARK: Writes

    func defineTypes(_ request: Graphd_V1_DefineTypesRequest) async throws -> Graphd_V1_DefineTypesResponse {
        let nodeTypes = request.nodeTypes.map { NodeTypeInput(name: $0.name, featureDimension: Int($0.featureDimension)) }
        let edgeTypes = request.edgeTypes.map {
            EdgeTypeInput(name: $0.name, directed: $0.directed,
                          sourceType: $0.sourceType.isEmpty ? nil : $0.sourceType,
                          targetType: $0.targetType.isEmpty ? nil : $0.targetType)
        }
        let plan = try await database.defineTypes(nodeTypes: nodeTypes, edgeTypes: edgeTypes)
        var response = Graphd_V1_DefineTypesResponse()
        response.nodeTypesCreated = UInt32(plan.newNodeTypes.count)
        response.edgeTypesCreated = UInt32(plan.newEdgeTypes.count)
        response.logSequence = database.appliedLogSequence
        return response
    }

    func addNodes(_ request: Graphd_V1_AddNodesRequest) async throws -> Graphd_V1_AddNodesResponse {
        try checkBatch(request.nodes.count, "nodes")
        var inputs: [NodeInput] = []
        inputs.reserveCapacity(request.nodes.count)
        for (i, node) in request.nodes.enumerated() {
            try requireRef(type: node.type, key: node.key, field: "nodes[\(i)]")
            inputs.append(NodeInput(type: node.type, key: node.key, text: node.hasText ? node.text : nil, features: node.features))
        }
        try embedding.fillNodeVectors(&inputs, schema: database.snapshot.schema)
        let plan = try await database.addNodes(inputs)
        var response = Graphd_V1_AddNodesResponse()
        response.created = UInt32(plan.created)
        response.updated = UInt32(plan.updated)
        response.logSequence = database.appliedLogSequence
        return response
    }

    func addEdges(_ request: Graphd_V1_AddEdgesRequest) async throws -> Graphd_V1_AddEdgesResponse {
        try checkBatch(request.edges.count + request.blocks.reduce(0) { $0 + $1.sourceKeys.count }, "edges")
        var inputs: [EdgeInput] = []
        inputs.reserveCapacity(request.edges.count)
        for (i, edge) in request.edges.enumerated() {
            if edge.type.isEmpty { throw RPCError(.invalidArgument, "edges[\(i)].type is empty") }
            let source = try nodeRef(edge.source, present: edge.hasSource, field: "edges[\(i)].source")
            let target = try nodeRef(edge.target, present: edge.hasTarget, field: "edges[\(i)].target")
            inputs.append(EdgeInput(
                type: edge.type, source: source, target: target, weight: edge.hasWeight ? edge.weight : nil,
                timestampMs: edge.timestampMs,
                attributes: edge.attributes.isEmpty ? [] : edge.attributes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
        }
        let blocks = request.blocks.map { block in
            EdgeBlockInput(type: block.type, sourceType: block.sourceType, targetType: block.targetType,
                           sourceKeys: block.sourceKeys, targetKeys: block.targetKeys, weights: block.weights,
                           timestampsMs: block.timestampsMs, attributes: block.attributes.map { ($0.name, $0.values) })
        }
        let counts = try await database.ingestEdges(EdgeWriteRequest(edges: inputs, blocks: blocks, requireExistingNodes: request.requireExistingNodes))
        var response = Graphd_V1_AddEdgesResponse()
        response.created = UInt32(counts.created)
        response.updated = UInt32(counts.updated)
        response.nodesCreated = UInt32(counts.nodesCreated)
        response.logSequence = database.appliedLogSequence
        return response
    }

    func removeNodes(_ request: Graphd_V1_RemoveNodesRequest) async throws -> Graphd_V1_RemoveNodesResponse {
        try checkBatch(request.nodes.count, "nodes")
        let refs = try request.nodes.enumerated().map { i, ref in try nodeRef(ref, present: true, field: "nodes[\(i)]") }
        let plan = try await database.removeNodes(refs, ignoreMissing: request.ignoreMissing)
        var response = Graphd_V1_RemoveNodesResponse()
        response.nodesRemoved = UInt32(plan.removedNodes.count)
        response.edgesRemoved = UInt32(plan.removedEdges.count)
        response.logSequence = database.appliedLogSequence
        return response
    }

    func removeEdges(_ request: Graphd_V1_RemoveEdgesRequest) async throws -> Graphd_V1_RemoveEdgesResponse {
        try checkBatch(request.edges.count, "edges")
        let refs = try request.edges.enumerated().map { i, edge in
            if edge.type.isEmpty { throw RPCError(.invalidArgument, "edges[\(i)].type is empty") }
            return EdgeRefInput(
                type: edge.type,
                source: try nodeRef(edge.source, present: edge.hasSource, field: "edges[\(i)].source"),
                target: try nodeRef(edge.target, present: edge.hasTarget, field: "edges[\(i)].target"))
        }
        let plan = try await database.removeEdges(refs, ignoreMissing: request.ignoreMissing)
        var response = Graphd_V1_RemoveEdgesResponse()
        response.removed = UInt32(plan.removedEdges.count)
        response.logSequence = database.appliedLogSequence
        return response
    }

    // MARK: Reads (snapshot only: never wait on a writer)

    func getNode(_ request: Graphd_V1_GetNodeRequest) throws -> Graphd_V1_GetNodeResponse {
        let snapshot = database.snapshot
        let id = try resolve(request.node, present: request.hasNode, field: "node", in: snapshot)
        guard let record = snapshot.nodes.record(id) else { throw RPCError(.notFound, "node does not exist") }
        var response = Graphd_V1_GetNodeResponse()
        response.node = protoNode(record, schema: snapshot.schema)
        let degree = snapshot.degree(of: id)
        response.outDegree = UInt64(degree.outgoing)
        response.inDegree = UInt64(degree.incoming)
        return response
    }

    func neighbors(_ request: Graphd_V1_NeighborsRequest) throws -> Graphd_V1_NeighborsResponse {
        let snapshot = database.snapshot
        let id = try resolve(request.node, present: request.hasNode, field: "node", in: snapshot)
        let limit = try pageSize(request.limit)
        let direction: EdgeDirection
        switch request.direction {
        case .out: direction = .outgoing
        case .in: direction = .incoming
        case .both, .unspecified: direction = .both
        case .UNRECOGNIZED(let value): throw RPCError(.invalidArgument, "direction \(value) is not a Direction value")
        }
        let edgeTypes = try request.edgeTypes.isEmpty ? nil : Set(request.edgeTypes.map { try snapshot.schema.requireEdgeType($0) })
        let nodeTypes = try request.nodeTypes.isEmpty ? nil : Set(request.nodeTypes.map { try snapshot.schema.requireNodeType($0) })
        var after: Int64? = nil
        if !request.pageToken.isEmpty {
            guard request.pageToken.hasPrefix("e"), let value = Int64(request.pageToken.dropFirst()), value >= 0 else {
                throw RPCError(.invalidArgument, "page_token '\(request.pageToken.prefix(40))' is not a token this server issued")
            }
            after = value
        }
        let page = snapshot.neighbors(of: id, direction: direction, edgeTypes: edgeTypes, nodeTypes: nodeTypes,
                                      afterEdgeID: after, limit: limit)
        var response = Graphd_V1_NeighborsResponse()
        response.neighbors = page.edges.map { edge, nodeIsSource in
            let record = edge.record
            let other = nodeIsSource ? record.target : record.source
            var neighbor = Graphd_V1_Neighbor()
            neighbor.node = protoRef(other, snapshot: snapshot)
            let info = snapshot.schema.edgeType(record.type)
            neighbor.edgeType = info.name
            neighbor.direction = !info.directed ? .both : (nodeIsSource ? .out : .in)
            neighbor.weight = Double(record.weight)
            neighbor.timestampMs = record.timestampMs
            neighbor.attributes = attributes(record.attributes, schema: snapshot.schema)
            return neighbor
        }
        response.nextPageToken = page.nextEdgeID.map { "e\($0)" } ?? ""
        return response
    }

    func listNodes(_ request: Graphd_V1_ListNodesRequest) throws -> Graphd_V1_ListNodesResponse {
        let limit = try pageSize(request.limit)
        let (id, snapshot, position) = try listing(token: request.pageToken, kind: "n", snapshotID: request.snapshotID)
        guard let start = position.isEmpty ? 0 : UInt32(position) else { throw badToken(request.pageToken) }
        let page = snapshot.nodeRecords(from: start, limit: limit)
        var response = Graphd_V1_ListNodesResponse()
        response.nodes = page.nodes.map { protoNode($0, schema: snapshot.schema) }
        response.nextPageToken = page.next.map { "n\(id).\($0)" } ?? ""
        response.snapshot = listingSnapshot(id, snapshot)
        return response
    }

    func listEdges(_ request: Graphd_V1_ListEdgesRequest) throws -> Graphd_V1_ListEdgesResponse {
        let limit = try pageSize(request.limit)
        let (id, snapshot, position) = try listing(token: request.pageToken, kind: "s", snapshotID: request.snapshotID)
        var start: (UInt32, Int) = (0, 0)
        if !position.isEmpty {
            let parts = position.split(separator: ":")
            guard parts.count == 2, let node = UInt32(parts[0]), let skip = Int(parts[1]), skip >= 0 else { throw badToken(request.pageToken) }
            start = (node, skip)
        }
        let page = snapshot.edges(fromNode: start.0, skip: start.1, limit: limit)
        var response = Graphd_V1_ListEdgesResponse()
        response.edges = page.edges.map { edge in
            let record = edge.record
            var out = Graphd_V1_Edge()
            out.type = snapshot.schema.edgeType(record.type).name
            out.source = protoRef(record.source, snapshot: snapshot)
            out.target = protoRef(record.target, snapshot: snapshot)
            out.weight = Double(record.weight)
            out.timestampMs = record.timestampMs
            out.attributes = attributes(record.attributes, schema: snapshot.schema)
            return out
        }
        response.nextPageToken = page.next.map { "s\(id).\($0.node):\($0.skip)" } ?? ""
        response.snapshot = listingSnapshot(id, snapshot)
        return response
    }

    /// The pinned snapshot a listing page reads, and the position in its page
    /// token ("<kind><snapshot id>.<position>"; empty on a first page). A first
    /// page pins the current snapshot unless `snapshotID` names a pinned one.
    private func listing(token: String, kind: Character, snapshotID: UInt64) throws -> (UInt64, GraphSnapshot, Substring) {
        guard !token.isEmpty else {
            if snapshotID != 0 { return (snapshotID, try listings.snapshot(snapshotID), "") }
            let snapshot = database.snapshot
            return (listings.pin(snapshot), snapshot, "")
        }
        guard token.first == kind, let dot = token.firstIndex(of: "."),
              let id = UInt64(token[token.index(after: token.startIndex)..<dot]) else { throw badToken(token) }
        return (id, try listings.snapshot(id), token[token.index(after: dot)...])
    }

    private func badToken(_ token: String) -> RPCError {
        RPCError(.invalidArgument, "page_token '\(token.prefix(40))' is not a token this server issued")
    }

    private func listingSnapshot(_ id: UInt64, _ snapshot: GraphSnapshot) -> Graphd_V1_ListingSnapshot {
        var info = Graphd_V1_ListingSnapshot()
        info.snapshotID = id
        info.graphVersion = snapshot.version
        info.nodes = UInt64(snapshot.nodeCount)
        info.edges = UInt64(snapshot.edgeCount)
        return info
    }

    func listTypes() -> Graphd_V1_ListTypesResponse {
        let schema = database.snapshot.schema
        var response = Graphd_V1_ListTypesResponse()
        response.nodeTypes = schema.nodeTypes.map { info in
            var spec = Graphd_V1_NodeTypeSpec()
            spec.name = info.name
            spec.featureDimension = UInt32(info.featureDimension)
            spec.builtin = info.builtin
            return spec
        }
        response.edgeTypes = schema.edgeTypes.map { info in
            var spec = Graphd_V1_EdgeTypeSpec()
            spec.name = info.name
            spec.directed = info.directed
            spec.sourceType = info.sourceType.map { schema.nodeType($0).name } ?? ""
            spec.targetType = info.targetType.map { schema.nodeType($0).name } ?? ""
            spec.builtin = info.builtin
            return spec
        }
        return response
    }

    func stats(_ request: Graphd_V1_StatsRequest) async -> Graphd_V1_StatsResponse {
        let snapshot = database.snapshot
        var response = Graphd_V1_StatsResponse()
        response.nodes = UInt64(snapshot.nodeCount)
        response.edges = UInt64(snapshot.edgeCount)
        for info in snapshot.schema.nodeTypes {
            response.nodesByType[info.name] = UInt64(snapshot.nodes.countByType[info.id] ?? 0)
        }
        for info in snapshot.schema.edgeTypes {
            response.edgesByType[info.name] = UInt64(snapshot.edgeCountByType[info.id] ?? 0)
        }
        response.deltaEdges = UInt64(snapshot.deltaEdgeCount)
        response.deltaRemovals = UInt64(snapshot.removedSinceCompaction)
        response.memoryBytes = ProcessMemory.residentBytes()
        response.storeBytes = UInt64(max(0, await database.storeByteCount))
        response.version = GraphdVersion.string
        response.graphVersion = snapshot.version
        response.schemaVersion = UInt32(await database.schemaVersion)
        let compactions = database.compactionStats
        response.compactions = UInt64(compactions.count)
        response.lastCompactionSeconds = compactions.lastSeconds
        let uptime = ContinuousClock.now - startedAt
        response.uptimeSeconds = Double(uptime.components.seconds) + Double(uptime.components.attoseconds) * 1e-18
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        for (name, model) in models?.inventory() ?? [] {
            var status = Graphd_V1_ModelStatus()
            status.name = name
            status.graphVersion = model.matrix.version
            status.ageMs = UInt64(max(0, nowMs - model.builtAtMs))
            status.buildSeconds = model.buildSeconds
            response.models.append(status)
        }
        if let status = replication?.status {
            response.role = status.role.rawValue
            response.appliedLogSequence = status.appliedSequence
            response.logLastSequence = status.lastSequence
            response.logLagEntries = status.lagEntries
            response.logLagSeconds = status.lagSeconds
            response.primaryAddress = status.primaryAddress
        } else {
            response.role = "single"
            response.appliedLogSequence = database.appliedLogSequence
        }
        if request.contentChecksum { response.contentChecksum = database.contentChecksum() }
        return response
    }

    // MARK: Embeddings

    func embed(_ request: Graphd_V1_EmbedRequest) throws -> Graphd_V1_EmbedResponse {
        guard request.texts.count <= limits.maxEmbedTexts else {
            throw RPCError(.resourceExhausted, "\(request.texts.count) texts in one Embed request; the limit is \(limits.maxEmbedTexts)")
        }
        for (i, text) in request.texts.enumerated() where text.utf8.count > limits.maxEmbedTextBytes {
            throw RPCError(.invalidArgument, "texts[\(i)] is \(text.utf8.count) bytes; the limit is \(limits.maxEmbedTextBytes)")
        }
        let provider: EmbeddingProvider = switch request.provider {
        case .unspecified: embedding.defaultProvider
        case .hashed: .hashed
        case .minilm: .minilm
        case .UNRECOGNIZED(let value): throw RPCError(.invalidArgument, "unknown embedding provider \(value)")
        }
        let embedder = try embedding.registry.embedder(provider)
        var response = Graphd_V1_EmbedResponse()
        response.dimension = UInt32(embedder.dimension)
        response.provider = embedder.name
        response.vectors = try embedder.embed(request.texts).map { values in
            var vector = Graphd_V1_Vector()
            vector.values = values
            return vector
        }
        return response
    }

    // MARK: Helpers

    private func checkBatch(_ count: Int, _ what: String) throws {
        guard count <= limits.maxBatchSize else {
            throw RPCError(.resourceExhausted, "\(count) \(what) in one request; the limit is \(limits.maxBatchSize): split the batch")
        }
    }

    private func pageSize(_ requested: UInt32) throws -> Int {
        if requested == 0 { return limits.defaultPageSize }
        guard requested <= limits.maxPageSize else {
            throw RPCError(.outOfRange, "limit \(requested) exceeds the maximum page size \(limits.maxPageSize)")
        }
        return Int(requested)
    }

    private func protoNode(_ record: NodeRecord, schema: GraphSchema) -> Graphd_V1_Node {
        var node = Graphd_V1_Node()
        node.type = schema.nodeType(record.type).name
        node.key = record.key
        if let text = record.text { node.text = text }
        if let features = record.features { node.features = features }
        return node
    }

    private func attributes(_ attributes: [EdgeAttribute], schema: GraphSchema) -> [String: Double] {
        var result: [String: Double] = [:]
        for attribute in attributes { result[schema.attributeName(attribute.id)] = attribute.value }
        return result
    }
}

/// Resident memory of this process, from /proc (Linux).
enum ProcessMemory {
    static func residentBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
