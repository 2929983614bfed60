import Foundation
import GraphdClient
import GraphdProto
#if canImport(Glibc)
import Glibc
#endif

/// Accumulates nodes and edges and sends them in batches, in file order.
public final class ImportSink {
    public struct Totals {
        public var edgesSent = 0, edgesCreated = 0, edgesUpdated = 0, nodesCreated = 0, nodesSent = 0
    }

    public let client: GraphClient
    public let batchSize: Int
    /// A batch is also sent once its estimated size reaches this: half of
    /// ttrpc's 4 MiB message limit, so that long node texts (a conversation's
    /// dialogue) or long keys never make a request too large.
    public static let batchByteBudget = 2 << 20
    private var edges: [Graphd_V1_Edge] = []
    private var edgeBytes = 0
    private var nodes: [Graphd_V1_Node] = []
    private var nodeBytes = 0
    public private(set) var totals = Totals()
    private var lastProgress = ContinuousClock.now
    private let start = ContinuousClock.now

    public init(client: GraphClient, batchSize: Int) {
        self.client = client
        self.batchSize = batchSize
        edges.reserveCapacity(batchSize)
    }

    public func add(_ edge: Graphd_V1_Edge) async throws {
        if !nodes.isEmpty { try await flushNodes() }
        let bytes = 48 + edge.type.utf8.count + edge.source.type.utf8.count + edge.source.key.utf8.count
            + edge.target.type.utf8.count + edge.target.key.utf8.count + edge.attributes.keys.reduce(0) { $0 + $1.utf8.count + 12 }
        if edgeBytes + bytes > Self.batchByteBudget { try await flushEdges() }
        edges.append(edge)
        edgeBytes += bytes
        if edges.count >= batchSize { try await flushEdges() }
    }

    public func add(_ node: Graphd_V1_Node) async throws {
        if !edges.isEmpty { try await flushEdges() }
        let bytes = 16 + node.type.utf8.count + node.key.utf8.count + node.text.utf8.count + 4 * node.features.count
        if nodeBytes + bytes > Self.batchByteBudget { try await flushNodes() }
        nodes.append(node)
        nodeBytes += bytes
        if nodes.count >= batchSize { try await flushNodes() }
    }

    public func define(_ request: Graphd_V1_DefineTypesRequest) async throws {
        try await flush()
        _ = try await client.defineTypes(request)
    }

    /// AddLLM, after what came before it in the file.
    public func addLLM(_ request: Graphd_V1_AddLLMRequest) async throws {
        try await flush()
        _ = try await client.addLLM(request)
    }

    /// SetTask, after what came before it in the file.
    public func setTask(_ request: Graphd_V1_SetTaskRequest) async throws {
        try await flush()
        _ = try await client.setTask(request)
    }

    public func flush() async throws {
        try await flushNodes()
        try await flushEdges()
    }

    private func flushEdges() async throws {
        guard !edges.isEmpty else { return }
        let request = Graphd_V1_AddEdgesRequest.columnar(edges)
        let count = edges.count
        edges.removeAll(keepingCapacity: true)
        edgeBytes = 0
        let response = try await client.addEdges(request)
        totals.edgesSent += count
        totals.edgesCreated += Int(response.created)
        totals.edgesUpdated += Int(response.updated)
        totals.nodesCreated += Int(response.nodesCreated)
        progress()
    }

    private func flushNodes() async throws {
        guard !nodes.isEmpty else { return }
        var request = Graphd_V1_AddNodesRequest()
        request.nodes = nodes
        nodes.removeAll(keepingCapacity: true)
        nodeBytes = 0
        let response = try await client.addNodes(request)
        totals.nodesSent += request.nodes.count
        totals.nodesCreated += Int(response.created)
        progress()
    }

    private func progress() {
        let now = ContinuousClock.now
        guard now - lastProgress >= .seconds(2) else { return }
        lastProgress = now
        let seconds = (now - start) / .seconds(1)
        log("… \(totals.edgesSent) edges, \(totals.nodesSent) nodes sent (\(Int(Double(totals.edgesSent) / max(seconds, 1e-9))) edges/s)")
    }
}

/// Reads a text file line by line without loading it whole.
public enum LineReader {
    public static func forEachLine(_ path: String, _ body: (Substring, Int) async throws -> Void) async throws {
        guard let file = fopen(path, "r") else { throw fail(message: "cannot open \(path)", code: ToolExit.noInput) }
        defer { fclose(file) }
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        var number = 0
        while true {
            let length = getline(&buffer, &capacity, file)
            if length < 0 { break }
            number += 1
            guard let buffer else { break }
            var line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self)[...]
            while let last = line.last, last == "\n" || last == "\r" { line.removeLast() }
            try await body(line, number)
        }
    }
}

/// RFC 4180 field splitting: quoted fields may hold the separator and "" for a quote.
/// RFC 4180 fields: quoted fields may hold separators, doubled quotes and line breaks.
public enum CSV {
    /// The fields of one line (no line breaks inside quotes expected).
    public static func split(_ line: Substring, separator: Character) -> [String] {
        records(line, separator: separator).first ?? [""]
    }

    /// Every record of a whole text; CR LF and LF end records outside quotes.
    public static func records(_ text: Substring, separator: Character) -> [[String]] {
        var records: [[String]] = []
        var fields: [String] = []
        var current = ""
        var quoted = false
        var fieldStarted = false
        var iterator = text.makeIterator()
        var pending = iterator.next()
        while let character = pending {
            pending = iterator.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" {
                        current.append("\"")
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.isEmpty {
                quoted = true
                fieldStarted = true
            } else if character == separator {
                fields.append(current)
                current = ""
                fieldStarted = true
            } else if character == "\n" || character == "\r\n" {
                fields.append(current)
                records.append(fields)
                fields = []
                current = ""
                fieldStarted = false
            } else {
                current.append(character)
                fieldStarted = true
            }
        }
        if fieldStarted || !fields.isEmpty || !current.isEmpty {
            fields.append(current)
            records.append(fields)
        }
        return records
    }
}

