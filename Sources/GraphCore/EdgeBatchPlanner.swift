/// Builds the `WritePlan` of one AddEdges batch against a `GraphState`, edge by
/// edge (`EdgeInput`) or block by block (`EdgeBlockInput`); both forms follow
/// the same rules:
///
/// - endpoints are resolved by (type, key); a missing one is created (type and
///   key only) unless `requireExistingNodes`, which fails the batch with
///   NOT_FOUND;
/// - an undirected edge may name its ends in either declared order and is
///   stored in the declared one (or smaller id first when both ends have the
///   same type);
/// - within the batch the last occurrence of an edge wins; an edge that exists
///   is replaced (counted as updated).
///
/// The writer runs this once per edge, so the block form resolves its edge and
/// node types once per block and each row costs two key lookups.
///
/// A planner may take several requests in a row (`startRequest`), planned as
/// one batch; `counts` then tells what each did as if it had run alone after
/// the ones before it.
struct EdgeBatchPlanner {
    private let state: GraphState
    private var requireExistingNodes: Bool
    private let nowMs: Int64
    private var plan = WritePlan()
    private var schema: GraphSchema
    private var newNodes: [NodeKey: UInt32] = [:]
    private var nextNodeID: UInt32
    /// Node type names seen in this batch (an edge type has at most two).
    private var typeNames: [(name: String, id: NodeTypeID)] = []
    private var batchIndex: EdgeKeyTable
    private var records: [EdgeRecord] = []
    /// For each record: the request that first wrote its edge, and the last one.
    private var firstWriter: [Int32] = []
    private var lastWriter: [Int32] = []
    /// Per request, what it did (filled in by `finish`).
    private(set) var counts = [EdgeWriteCounts()]
    private var request: Int32 = 0
    private var lastType: (name: String, info: EdgeTypeInfo)? = nil

    /// `after`, when given, is a plan of nodes (from `planAddNodes`) that this
    /// batch extends: its new nodes resolve like existing ones, and its counts
    /// give way to the edges'.
    init(state: GraphState, capacity: Int, requireExistingNodes: Bool, nowMs: Int64, after nodePlan: WritePlan? = nil) {
        self.state = state
        self.requireExistingNodes = requireExistingNodes
        self.nowMs = nowMs
        schema = state.snapshot.schema
        nextNodeID = UInt32(state.snapshot.nodes.idCount)
        newNodes.reserveCapacity(min(capacity, 1 << 16))
        batchIndex = EdgeKeyTable(capacity: capacity)
        records.reserveCapacity(capacity)
        firstWriter.reserveCapacity(capacity)
        lastWriter.reserveCapacity(capacity)
        if var nodePlan {
            for node in nodePlan.insertedNodes {
                newNodes[NodeKey(type: node.type, key: node.key)] = node.id
                nextNodeID = max(nextNodeID, node.id + 1)
            }
            for info in nodePlan.changedNodeTypes { schema.insert(info) }
            nodePlan.created = 0
            nodePlan.updated = 0
            plan = nodePlan
        }
    }

    /// Later rows belong to the next request of a group.
    mutating func startRequest(requireExistingNodes: Bool) {
        self.requireExistingNodes = requireExistingNodes
        counts.append(EdgeWriteCounts())
        request += 1
    }

    // MARK: One edge at a time

    mutating func add(_ inputs: [EdgeInput]) throws {
        // For error messages only; captures the array once, not each edge per use.
        let describe = { (position: Int) in
            let input = inputs[position]
            return "edge \(position) (\(input.type) \(input.source.type)/\(input.source.key.prefix(64)) → \(input.target.type)/\(input.target.key.prefix(64)))"
        }
        // Existing endpoints first, looked up in parallel (rows whose types do
        // not resolve are left to the serial pass, which reports them).
        let (schema, state) = (self.schema, self.state)
        let existing = ParallelReads.map(inputs.count) { position -> (source: UInt32?, target: UInt32?) in
            let input = inputs[position]
            guard let sourceType = schema.nodeTypeID(input.source.type), let targetType = schema.nodeTypeID(input.target.type) else {
                return (nil, nil)
            }
            return (state.nodeID(NodeKey(type: sourceType, key: input.source.key)),
                    state.nodeID(NodeKey(type: targetType, key: input.target.key)))
        }
        for position in inputs.indices {
            try add(inputs[position], existing: existing[position], context: describe(position))
        }
    }

    /// `existing` holds the ids of the edge's ends as named (source, target) if they exist.
    private mutating func add(_ input: borrowing EdgeInput, existing: (source: UInt32?, target: UInt32?),
                              context: @autoclosure () -> String) throws {
        let info = try edgeType(input.type)
        let sourceType = try nodeType(input.source.type), targetType = try nodeType(input.target.type)
        let swapped = isSwapped(info, sourceType: sourceType, targetType: targetType)
        let (fromType, fromKey) = swapped ? (targetType, input.target.key) : (sourceType, input.source.key)
        let (toType, toKey) = swapped ? (sourceType, input.source.key) : (targetType, input.target.key)
        try check(fromType, expected: info.sourceType, role: "source", context: context())
        try check(toType, expected: info.targetType, role: "target", context: context())
        let (fromID, toID) = swapped ? (existing.target, existing.source) : (existing.source, existing.target)
        let source = try fromID ?? resolveNew(NodeKey(type: fromType, key: fromKey), role: "source", context: context())
        let target = try toID ?? resolveNew(NodeKey(type: toType, key: toKey), role: "target", context: context())
        guard input.attributes.count <= GraphLimits.maxAttributesPerEdge else {
            throw GraphError.invalid("\(context()): more than \(GraphLimits.maxAttributesPerEdge) attributes")
        }
        var attributes: [EdgeAttribute] = []
        for (name, value) in input.attributes {
            guard value.isFinite else { throw GraphError.invalid("\(context()): attribute '\(name)' is not finite") }
            attributes.append(EdgeAttribute(id: try attributeID(name), value: value))
        }
        attributes.sort { $0.id < $1.id }
        try append(info, source: source, target: target, weight: input.weight, timestampMs: input.timestampMs,
                   attributes: attributes, context: context())
    }

    // MARK: A block of rows

    mutating func add(_ block: EdgeBlockInput, index: Int) throws {
        let name = "blocks[\(index)]"
        let rows = block.count
        guard block.targetKeys.count == rows else {
            throw GraphError.invalid("\(name): \(block.targetKeys.count) target_keys for \(rows) source_keys")
        }
        guard block.weights.isEmpty || block.weights.count == rows else {
            throw GraphError.invalid("\(name): \(block.weights.count) weights for \(rows) rows (give none or one per row)")
        }
        guard block.timestampsMs.isEmpty || block.timestampsMs.count == rows else {
            throw GraphError.invalid("\(name): \(block.timestampsMs.count) timestamps_ms for \(rows) rows (give none or one per row)")
        }
        guard block.attributes.count <= GraphLimits.maxAttributesPerEdge else {
            throw GraphError.invalid("\(name): more than \(GraphLimits.maxAttributesPerEdge) attribute columns")
        }
        if block.type.isEmpty { throw GraphError.invalid("\(name).type is empty") }
        if block.sourceType.isEmpty { throw GraphError.invalid("\(name).source_type is empty") }
        if block.targetType.isEmpty { throw GraphError.invalid("\(name).target_type is empty") }
        let info: EdgeTypeInfo, sourceType: NodeTypeID, targetType: NodeTypeID
        do {
            info = try edgeType(block.type)
            (sourceType, targetType) = (try nodeType(block.sourceType), try nodeType(block.targetType))
        } catch let error as GraphError {
            throw GraphError(error.kind, "\(name): \(error.message)")
        }
        let swapped = isSwapped(info, sourceType: sourceType, targetType: targetType)
        let (fromType, fromKeys) = swapped ? (targetType, block.targetKeys) : (sourceType, block.sourceKeys)
        let (toType, toKeys) = swapped ? (sourceType, block.sourceKeys) : (targetType, block.targetKeys)
        try check(fromType, expected: info.sourceType, role: "source", context: name)
        try check(toType, expected: info.targetType, role: "target", context: name)
        guard rows > 0 else { return }  // an empty block is checked like any other, and adds nothing
        // Attribute columns, checked whole and sorted by id once for every row.
        var columns: [(id: AttributeID, values: [Double])] = []
        for column in block.attributes {
            guard column.values.count == rows else {
                throw GraphError.invalid("\(name): attribute '\(column.name)' has \(column.values.count) values for \(rows) rows")
            }
            if let row = column.values.firstIndex(where: { !$0.isFinite }) {
                throw GraphError.invalid("\(name) row \(row): attribute '\(column.name)' is not finite")
            }
            let id = try attributeID(column.name)
            guard !columns.contains(where: { $0.id == id }) else {
                throw GraphError.invalid("\(name): attribute '\(column.name)' appears twice")
            }
            columns.append((id, column.values))
        }
        columns.sort { $0.id < $1.id }
        let weights = block.weights, timestamps = block.timestampsMs
        // For error messages only; captures the block once, not once per row.
        let describe = { (row: Int) in
            "\(name) row \(row) (\(block.type) \(block.sourceType)/\(block.sourceKeys[row].prefix(64)) → \(block.targetType)/\(block.targetKeys[row].prefix(64)))"
        }
        let existingSources = state.existingNodeIDs(type: fromType, keys: fromKeys)
        let existingTargets = state.existingNodeIDs(type: toType, keys: toKeys)
        for row in 0..<rows {
            let source = try existingSources[row] ?? resolveNew(NodeKey(type: fromType, key: fromKeys[row]), role: "source", context: describe(row))
            let target = try existingTargets[row] ?? resolveNew(NodeKey(type: toType, key: toKeys[row]), role: "target", context: describe(row))
            try append(info, source: source, target: target,
                       weight: weights.isEmpty ? nil : weights[row],
                       timestampMs: timestamps.isEmpty ? 0 : timestamps[row],
                       attributes: columns.isEmpty ? [] : columns.map { EdgeAttribute(id: $0.id, value: $0.values[row]) },
                       context: describe(row))
        }
    }

    // MARK: The plan

    /// Numbers the batch's edges and tells new edges from replaced ones.
    mutating func finish() throws -> WritePlan {
        let snapshot = state.snapshot
        guard snapshot.edgeCount + records.count <= GraphLimits.maxEdges else {
            throw GraphError(.resourceExhausted, "the graph would exceed \(GraphLimits.maxEdges) edges")
        }
        var edgeID = state.nextEdgeID
        let firstNewNode = UInt32(snapshot.nodes.idCount)
        // The edges this batch replaces, looked up in parallel (a node created
        // by this batch has no edges yet).
        let (state, records) = (self.state, self.records)
        let distance = GraphState.prefetchDistance
        let replaced = ParallelReads.map(records.count) { i in
            if i + distance < records.count {
                let ahead = records[i + distance]
                state.prefetchEdge(type: ahead.type, source: ahead.source, target: ahead.target)
            }
            let record = records[i]
            return record.source >= firstNewNode || record.target >= firstNewNode
                ? nil : state.existingEdge(type: record.type, source: record.source, target: record.target)
        }
        plan.insertedEdges.reserveCapacity(records.count)
        for (i, var record) in records.enumerated() {
            record.id = edgeID
            edgeID += 1
            if let existing = replaced[i] {
                plan.removedEdges.append(existing)
                plan.updated += 1
                counts[Int(firstWriter[i])].updated += 1
            } else {
                plan.created += 1
                counts[Int(firstWriter[i])].created += 1
            }
            plan.insertedEdges.append(record)
        }
        return plan
    }

    // MARK: Shared steps

    private mutating func edgeType(_ name: String) throws -> EdgeTypeInfo {
        if let lastType, lastType.name == name { return lastType.info }
        let info = schema.edgeType(try schema.requireEdgeType(name))
        lastType = (name, info)
        return info
    }

    private mutating func nodeType(_ name: String) throws -> NodeTypeID {
        if let known = typeNames.first(where: { $0.name == name }) { return known.id }
        let id = try schema.requireNodeType(name)
        if typeNames.count < 4 { typeNames.append((name, id)) }
        return id
    }

    /// An undirected edge named target end first (by declared types).
    private func isSwapped(_ info: EdgeTypeInfo, sourceType: NodeTypeID, targetType: NodeTypeID) -> Bool {
        !info.directed && !info.ordersEndpointsByID && sourceType == info.targetType && targetType == info.sourceType
    }

    private func check(_ type: NodeTypeID, expected: NodeTypeID?, role: String, context: @autoclosure () -> String) throws {
        if let expected, expected != type {
            throw GraphError.invalid("\(context()): \(role) must be a '\(schema.nodeType(expected).name)' node, not '\(schema.nodeType(type).name)'")
        }
    }

    /// A key with no existing node (the caller looked in the state): one created earlier in this batch, or a new one.
    private mutating func resolveNew(_ key: NodeKey, role: String, context: @autoclosure () -> String) throws -> UInt32 {
        if let id = newNodes[key] { return id }
        do { try GraphLimits.validateKey(key.key) } catch { throw GraphError.invalid("\(context()): \(role) \(error.message)") }
        if requireExistingNodes {
            throw GraphError.notFound("\(context()): \(role) node \(schema.nodeType(key.type).name)/\(key.key) does not exist (require_existing_nodes is set)")
        }
        guard Int(nextNodeID) < GraphLimits.maxNodes else { throw GraphError(.resourceExhausted, "the graph holds the maximum number of nodes") }
        let id = nextNodeID
        nextNodeID += 1
        newNodes[key] = id
        plan.insertedNodes.append(NodeRecord(id: id, type: key.type, key: key.key))
        counts[Int(request)].nodesCreated += 1
        return id
    }

    private mutating func attributeID(_ name: String) throws -> AttributeID {
        if let existing = schema.attributeID(name) { return existing }
        try GraphLimits.validateName(name, what: "attribute")
        guard schema.attributeNames.count < GraphLimits.maxTypes else {
            throw GraphError(.resourceExhausted, "at most \(GraphLimits.maxTypes) attribute names")
        }
        let id = schema.insertAttribute(name)
        plan.newAttributes.append((id, name))
        return id
    }

    private mutating func append(_ info: EdgeTypeInfo, source: UInt32, target: UInt32, weight: Double?, timestampMs: Int64,
                                 attributes: [EdgeAttribute], context: @autoclosure () -> String) throws {
        let value = Float(weight ?? 1)
        guard value.isFinite else { throw GraphError.invalid("\(context()): weight \(weight ?? 1) is not a finite 32-bit float") }
        guard timestampMs >= 0 else { throw GraphError.invalid("\(context()): timestamp_ms must not be negative") }
        let (from, to) = (info.ordersEndpointsByID && target < source) ? (target, source) : (source, target)
        let record = EdgeRecord(id: 0, type: info.id, source: from, target: to, weight: value,
                                timestampMs: timestampMs == 0 ? nowMs : timestampMs, attributes: attributes)
        if let index = batchIndex[info.id, from, to] {
            records[Int(index)] = record  // the last occurrence in a batch wins
            // A later request of a group finds the edge an earlier one wrote: it updates it.
            if lastWriter[Int(index)] != request {
                lastWriter[Int(index)] = request
                counts[Int(request)].updated += 1
            }
        } else {
            batchIndex.set(type: info.id, source: from, target: to, value: UInt32(records.count))
            records.append(record)
            firstWriter.append(request)
            lastWriter.append(request)
        }
    }
}
