internal import CIgraph
internal import CIgraphSupport
import Synchronization

/// An igraph call failed; `code` is igraph's error code.
public struct IgraphError: Error, Sendable, CustomStringConvertible {
    var code: Int32
    var function: String
    var message: String

    public var description: String { "igraph \(function) failed (code \(code)): \(message)" }
}

/// Process-wide igraph set-up: the abort-on-error handler is replaced by one
/// that records the message, so failures come back as codes.
enum IgraphRuntime {
    private static let installed: Bool = {
        graphd_igraph_install_error_handler()
        return true
    }()

    static func install() { _ = installed }

    /// igraph is built without thread safety: its error state and its stack of
    /// cleanup handlers are process-wide, so two graphs worked on from two
    /// threads at once corrupt them ("Corrupt finally stack"). Every call into
    /// igraph holds this lock. In graphd it is never contended (one database
    /// owns the one topology); tests and tools build several graphs in parallel.
    private static let lock = Mutex(())

    static func serialized<Result: Sendable, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        try lock.withLock { _ throws(Failure) -> Result in try body() }
    }

    @inline(__always)
    static func check(_ result: igraph_error_t, _ function: String) throws(IgraphError) {
        guard result == IGRAPH_SUCCESS else {
            throw IgraphError(code: Int32(result.rawValue), function: function,
                              message: String(cString: graphd_igraph_last_error_message()))
        }
    }
}

/// The canonical topology: one directed igraph graph whose vertex ids are node
/// ids and whose edge ids are the edge slots of the current base snapshot.
///
/// Not thread-safe (igraph is built without thread safety): exactly one owner,
/// the database actor, may touch an instance.
public final class IgraphTopology {
    var graph = igraph_t()

    public init(vertexCount: Int = 0) throws(IgraphError) {
        IgraphRuntime.install()
        try IgraphRuntime.serialized { () throws(IgraphError) in
            try IgraphRuntime.check(igraph_empty(&graph, igraph_integer_t(vertexCount), true), "igraph_empty")
        }
    }

    deinit { IgraphRuntime.serialized { () -> Void in igraph_destroy(&graph) } }

    var vertexCount: Int { Int(igraph_vcount(&graph)) }
    var edgeCount: Int { Int(igraph_ecount(&graph)) }

    public func addVertices(_ count: Int) throws(IgraphError) {
        guard count > 0 else { return }
        try IgraphRuntime.serialized { () throws(IgraphError) in
            try IgraphRuntime.check(igraph_add_vertices(&graph, igraph_integer_t(count), nil), "igraph_add_vertices")
        }
    }

    /// Appends edges in one call (igraph_add_edges is O(V+E) per call: batch).
    public func addEdges(sources: [UInt32], targets: [UInt32]) throws(IgraphError) {
        try IgraphRuntime.serialized { () throws(IgraphError) in try appendEdges(sources: sources, targets: targets) }
    }

    private func appendEdges(sources: [UInt32], targets: [UInt32]) throws(IgraphError) {
        precondition(sources.count == targets.count)
        guard !sources.isEmpty else { return }
        var pairs = igraph_vector_int_t()
        try IgraphRuntime.check(igraph_vector_int_init(&pairs, igraph_integer_t(sources.count * 2)), "igraph_vector_int_init")
        defer { igraph_vector_int_destroy(&pairs) }
        let data = graphd_vector_int_data(&pairs)!
        for i in 0..<sources.count {
            data[2 * i] = igraph_integer_t(sources[i])
            data[2 * i + 1] = igraph_integer_t(targets[i])
        }
        try IgraphRuntime.check(igraph_add_edges(&graph, &pairs, nil), "igraph_add_edges")
    }

    /// Deletes edges by id; the remaining edges keep their relative order.
    func deleteEdges(_ ids: [UInt32]) throws(IgraphError) {
        guard !ids.isEmpty else { return }
        try IgraphRuntime.serialized { () throws(IgraphError) in try removeEdges(ids) }
    }

    private func removeEdges(_ ids: [UInt32]) throws(IgraphError) {
        var vector = igraph_vector_int_t()
        try IgraphRuntime.check(igraph_vector_int_init(&vector, igraph_integer_t(ids.count)), "igraph_vector_int_init")
        defer { igraph_vector_int_destroy(&vector) }
        let data = graphd_vector_int_data(&vector)!
        for (i, id) in ids.enumerated() { data[i] = igraph_integer_t(id) }
        let selector = igraph_ess_vector(&vector)
        try IgraphRuntime.check(igraph_delete_edges(&graph, selector), "igraph_delete_edges")
    }

    /// Replaces the whole graph (recovery after a failed compaction).
    func reset(vertexCount: Int, edges: (sources: [UInt32], targets: [UInt32])) throws(IgraphError) {
        try IgraphRuntime.serialized { () throws(IgraphError) in
            var fresh = igraph_t()
            try IgraphRuntime.check(igraph_empty(&fresh, igraph_integer_t(vertexCount), true), "igraph_empty")
            igraph_destroy(&graph)
            graph = fresh
            try appendEdges(sources: edges.sources, targets: edges.targets)
        }
    }

    /// Every edge's endpoints, in edge-id order.
    func edgeList() throws(IgraphError) -> (sources: [UInt32], targets: [UInt32]) {
        try IgraphRuntime.serialized { () throws(IgraphError) in try Self.edgeList(of: &graph) }
    }

    static func edgeList(of graph: inout igraph_t) throws(IgraphError) -> (sources: [UInt32], targets: [UInt32]) {
        let count = Int(igraph_ecount(&graph))
        var vector = igraph_vector_int_t()
        try IgraphRuntime.check(igraph_vector_int_init(&vector, 0), "igraph_vector_int_init")
        defer { igraph_vector_int_destroy(&vector) }
        try IgraphRuntime.check(igraph_get_edgelist(&graph, &vector, false), "igraph_get_edgelist")
        let data = graphd_vector_int_data(&vector)!
        var sources = [UInt32](repeating: 0, count: count)
        var targets = [UInt32](repeating: 0, count: count)
        for i in 0..<count {
            sources[i] = UInt32(truncatingIfNeeded: data[2 * i])
            targets[i] = UInt32(truncatingIfNeeded: data[2 * i + 1])
        }
        return (sources, targets)
    }

    /// Exact personalized PageRank by PRPACK: the probability of each vertex
    /// under a walk that restarts by `reset` with probability 1 − `damping`.
    /// `weights` has one entry per edge (checked here: igraph does not always
    /// refuse a vector of the wrong length). `directed: false` walks edges both ways.
    public func personalizedPageRank(reset: [Double], weights: [Double]?, damping: Double, directed: Bool) throws(IgraphError) -> [Double] {
        guard reset.count == vertexCount else {
            throw IgraphError(code: -1, function: "personalizedPageRank", message: "reset has \(reset.count) entries for \(vertexCount) vertices")
        }
        if let weights, weights.count != edgeCount {
            throw IgraphError(code: -1, function: "personalizedPageRank", message: "weights has \(weights.count) entries for \(edgeCount) edges")
        }
        return try IgraphRuntime.serialized { () throws(IgraphError) in
            try exactPersonalizedPageRank(reset: reset, weights: weights, damping: damping, directed: directed)
        }
    }

    private func exactPersonalizedPageRank(reset: [Double], weights: [Double]?, damping: Double, directed: Bool) throws(IgraphError) -> [Double] {
        var resetVector = igraph_vector_t()
        try IgraphRuntime.check(igraph_vector_init(&resetVector, igraph_integer_t(reset.count)), "igraph_vector_init")
        defer { igraph_vector_destroy(&resetVector) }
        let resetData = graphd_vector_data(&resetVector)!
        for (i, value) in reset.enumerated() { resetData[i] = value }
        var weightVector = igraph_vector_t()
        try IgraphRuntime.check(igraph_vector_init(&weightVector, igraph_integer_t(weights?.count ?? 0)), "igraph_vector_init")
        defer { igraph_vector_destroy(&weightVector) }
        if let weights {
            let data = graphd_vector_data(&weightVector)!
            for (i, value) in weights.enumerated() { data[i] = value }
        }
        var result = igraph_vector_t()
        try IgraphRuntime.check(igraph_vector_init(&result, 0), "igraph_vector_init")
        defer { igraph_vector_destroy(&result) }
        var value: igraph_real_t = 0
        // Argument order: the reset vector comes before the weights.
        let status = withUnsafePointer(to: &weightVector) { weightPointer in
            igraph_personalized_pagerank(&graph, IGRAPH_PAGERANK_ALGO_PRPACK, &result, &value, igraph_vss_all(),
                                         directed, damping, &resetVector, weights == nil ? nil : weightPointer, nil)
        }
        try IgraphRuntime.check(status, "igraph_personalized_pagerank")
        let data = graphd_vector_data(&result)!
        return (0..<vertexCount).map { data[$0] }
    }

    /// Approximate heap bytes igraph holds for this graph (from, to, oi, ii: 4
    /// integers per edge; os, is: 2 per vertex).
    var approximateByteCount: Int {
        (4 * edgeCount + 2 * (vertexCount + 1)) * MemoryLayout<igraph_integer_t>.stride
    }
}

/// A graph read from a foreign file through igraph's readers.
public struct ImportedTopology: Sendable {
    /// Vertex names (the GraphML node id or a "name"/"id" attribute when present).
    public var vertexNames: [String]
    public var sources: [UInt32]
    public var targets: [UInt32]
    var directed: Bool
}

extension IgraphTopology {
    /// Reads a GraphML file with igraph. Vertex names come from the `id` attribute
    /// igraph records for GraphML nodes; absent names become the vertex index.
    public static func readGraphML(path: String) throws(GraphError) -> ImportedTopology {
        IgraphRuntime.install()
        guard let file = fopen(path, "r") else { throw .notFound("cannot open \(path)") }
        defer { fclose(file) }
        // The attribute handler igraph reads with is process-wide too.
        return try IgraphRuntime.serialized { () throws(GraphError) in try readGraphML(file: file, path: path) }
    }

    private static func readGraphML(file: UnsafeMutablePointer<FILE>, path: String) throws(GraphError) -> ImportedTopology {
        var graph = igraph_t()
        graphd_igraph_enable_attributes()
        defer { igraph_set_attribute_table(nil) }
        do {
            try IgraphRuntime.check(igraph_read_graph_graphml(&graph, file, 0), "igraph_read_graph_graphml")
        } catch {
            throw .invalid("\(path) is not a GraphML file igraph can read: \(error.message)")
        }
        defer { igraph_destroy(&graph) }
        let vertexCount = Int(igraph_vcount(&graph))
        var names: [String] = []
        names.reserveCapacity(vertexCount)
        let hasID = igraph_cattribute_has_attr(&graph, IGRAPH_ATTRIBUTE_VERTEX, "id")
        for v in 0..<vertexCount {
            if hasID, let cString = igraph_cattribute_VAS(&graph, "id", igraph_integer_t(v)) {
                names.append(String(cString: cString))
            } else {
                names.append(String(v))
            }
        }
        let topology: (sources: [UInt32], targets: [UInt32])
        do {
            topology = try IgraphTopology.edgeList(of: &graph)
        } catch {
            throw GraphError(.internal, error.description)
        }
        return ImportedTopology(vertexNames: names, sources: topology.sources, targets: topology.targets,
                                directed: igraph_is_directed(&graph))
    }
}
