import Foundation
import GraphCore

/// The named documents the router keeps beside the graph (LLM metadata, task
/// settings, the trained model): graphd's database in the daemon.
public protocol RouterDocuments: Sendable {
    func document(_ name: String) -> [UInt8]?
    func documentNames(prefix: String) -> [String]
}

/// The LLM metadata that is not the node itself (its description is the node's
/// text), stored as the document `router/llm/<name>`.
public struct LLMMetadata: Codable, Equatable, Sendable {
    public var price: LLMPricing
    public var contextWindow: UInt32
    public var tags: [String]

    public init(price: LLMPricing, contextWindow: UInt32, tags: [String]) {
        self.price = price
        self.contextWindow = contextWindow
        self.tags = tags
    }
}

/// A task's router settings, stored as the document `router/task/<name>`.
public struct TaskSettings: Codable, Equatable, Sendable {
    /// The part of a prompt that identifies the task's queries.
    public var queryText: QueryTextFocus

    public init(queryText: QueryTextFocus) { self.queryText = queryText }
}

/// A registered LLM as ListLLMs shows it.
public struct LLMSummary: Sendable {
    public var name: String
    public var description: String
    /// Nil when the LLM has no metadata document (or it does not decode).
    public var metadata: LLMMetadata?
    /// Outcomes stored for it (query → LLM edges).
    public var observedOutcomes: UInt64
}

/// A task as ListTasks and SetTask show it.
public struct TaskSummary: Sendable {
    public var name: String
    public var description: String
    /// Its own setting, else the router's default.
    public var queryText: QueryTextFocus
    /// Queries filed under it (task → query edges).
    public var queries: UInt64
}

/// The router's part of one snapshot and its documents: what a task or an LLM
/// is called, what is stored about it, and the `RouterGraph` the predictor and
/// the trainer read.
public struct RouterCatalog: Sendable {
    public let snapshot: GraphSnapshot
    public let documents: any RouterDocuments

    public init(snapshot: GraphSnapshot, documents: any RouterDocuments) {
        self.snapshot = snapshot
        self.documents = documents
    }

    /// The router's graph with name → index maps.
    public struct Extracted: Sendable {
        public var graph: RouterGraph
        public var taskIndex: [String: Int] = [:]
        public var llmIndex: [String: Int] = [:]
        public var queryIndex: [String: Int] = [:]
    }

    public func metadata(llm: String) -> LLMMetadata? {
        documents.document(RouterSchema.llmDocumentPrefix + llm).flatMap { try? JSONDecoder().decode(LLMMetadata.self, from: Data($0)) }
    }

    /// A task's stored settings; nil when it has none (or they do not decode).
    public func settings(task: String) -> TaskSettings? {
        documents.document(RouterSchema.taskDocumentPrefix + task).flatMap { try? JSONDecoder().decode(TaskSettings.self, from: Data($0)) }
    }

    /// Every task's query-text setting that has one (SetTask, or pinned when the task was created).
    public func queryTextSettings() -> [String: QueryTextFocus] {
        var settings: [String: QueryTextFocus] = [:]
        for name in documents.documentNames(prefix: RouterSchema.taskDocumentPrefix) {
            let task = String(name.dropFirst(RouterSchema.taskDocumentPrefix.count))
            if let stored = self.settings(task: task) { settings[task] = stored.queryText }
        }
        return settings
    }

    /// The trained model, if one is stored.
    public func model() throws(RoutingError) -> RouterModel? {
        guard let bytes = documents.document(RouterSchema.modelDocument) else { return nil }
        return try RouterModel(serialized: bytes)
    }

    public func node(_ type: String, key: String) -> UInt32? {
        snapshot.schema.nodeTypeID(type).flatMap { snapshot.nodes.id(of: NodeKey(type: $0, key: key)) }
    }

    /// Live nodes of a router node type, in id order.
    private func nodes(of type: String) -> [UInt32] {
        guard let typeID = snapshot.schema.nodeTypeID(type) else { return [] }
        return (0..<UInt32(snapshot.nodes.idCount)).filter { snapshot.nodes.isLive($0) && snapshot.nodes.type(of: $0) == typeID }
    }

    /// Edges of `edgeType` at `node` in `direction`.
    private func count(_ edgeType: String, at node: UInt32, _ direction: EdgeDirection) -> UInt64 {
        guard let type = snapshot.schema.edgeTypeID(edgeType) else { return 0 }
        var count: UInt64 = 0
        snapshot.forEachEdge(of: node, direction: direction) { edge, _ in
            if edge.record.type == type { count += 1 }
            return true
        }
        return count
    }

    public func llms() -> [LLMSummary] {
        nodes(of: RouterSchema.llmType).compactMap { id in
            guard let record = snapshot.nodes.record(id) else { return nil }
            return LLMSummary(name: record.key, description: record.text ?? "", metadata: metadata(llm: record.key),
                              observedOutcomes: count(RouterSchema.queryLLM, at: id, .incoming))
        }
    }

    /// Every task, by name; those without a setting of their own show `defaultQueryText`.
    public func tasks(defaultQueryText: QueryTextFocus) -> [TaskSummary] {
        nodes(of: RouterSchema.taskType).compactMap { task($0, defaultQueryText: defaultQueryText) }.sorted { $0.name < $1.name }
    }

    public func task(_ id: UInt32, defaultQueryText: QueryTextFocus) -> TaskSummary? {
        guard let record = snapshot.nodes.record(id) else { return nil }
        return TaskSummary(name: record.key, description: record.text ?? "",
                           queryText: settings(task: record.key)?.queryText ?? defaultQueryText,
                           queries: count(RouterSchema.taskQuery, at: id, .outgoing))
    }

    /// The router's graph. Tasks and LLMs without a vector of `dimension` get
    /// zeros (their outcomes still count); queries without one are left out.
    public func extract(dimension: Int) -> Extracted {
        var out = Extracted(graph: RouterGraph(dimension: dimension))
        let schema = snapshot.schema
        guard let taskType = schema.nodeTypeID(RouterSchema.taskType), let llmType = schema.nodeTypeID(RouterSchema.llmType),
              let queryType = schema.nodeTypeID(RouterSchema.queryType) else { return out }
        let taskQuery = schema.edgeTypeID(RouterSchema.taskQuery), queryLLM = schema.edgeTypeID(RouterSchema.queryLLM)
        let effectID = schema.attributeID(RouterSchema.effectAttribute), costID = schema.attributeID(RouterSchema.costAttribute)
        let latencyID = schema.attributeID(RouterSchema.latencyAttribute), answerID = schema.attributeID(RouterSchema.answerAttribute)
        var nodeToTask: [UInt32: Int] = [:], nodeToLLM: [UInt32: Int] = [:]
        var queryNodes: [UInt32] = []
        let zeros = [Float](repeating: 0, count: dimension)
        func vector(_ record: NodeRecord) -> [Float]? {
            guard let f = record.features, f.count == dimension else { return nil }
            return f
        }
        for id in 0..<UInt32(snapshot.nodes.idCount) where snapshot.nodes.isLive(id) {
            let type = snapshot.nodes.type(of: id)
            guard type == taskType || type == llmType || type == queryType, let record = snapshot.nodes.record(id) else { continue }
            if type == taskType {
                nodeToTask[id] = out.graph.tasks.count
                out.taskIndex[record.key] = out.graph.tasks.count
                out.graph.tasks.append(RouterGraph.Task(name: record.key, features: vector(record) ?? zeros))
            } else if type == llmType {
                nodeToLLM[id] = out.graph.llms.count
                out.llmIndex[record.key] = out.graph.llms.count
                out.graph.llms.append(RouterGraph.LLM(name: record.key, features: vector(record) ?? zeros,
                                                      pricing: metadata(llm: record.key)?.price ?? LLMPricing()))
            } else if let features = vector(record) {
                out.queryIndex[record.key] = out.graph.queries.count
                queryNodes.append(id)
                out.graph.queries.append(RouterGraph.Query(task: nil, features: features,
                                                           promptTokens: Double(record.text?.utf8.count ?? 0) / 4,
                                                           text: record.text))
            }
        }
        for (q, node) in queryNodes.enumerated() {
            // Only a question with an answer fed back is read as one (`VariantAnswerModel`
            // uses labelled questions alone): most gateway queries carry none, and a
            // rebuild passes over every query.
            var parsed = false
            func choices() -> ChoiceQuestion? {
                if !parsed {
                    out.graph.queries[q].choices = out.graph.queries[q].text.flatMap(ChoiceQuestion.init(parsing:))
                    parsed = true
                }
                return out.graph.queries[q].choices
            }
            snapshot.forEachEdge(of: node, direction: .both) { edge, nodeIsSource in
                let record = edge.record
                if record.type == taskQuery, !nodeIsSource, let t = nodeToTask[record.source] {
                    out.graph.queries[q].task = t
                } else if record.type == queryLLM, nodeIsSource, let m = nodeToLLM[record.target] {
                    var effect: Float?, cost: Double?, latency: Double?, answer: Int?
                    for attribute in record.attributes {
                        if attribute.id == effectID { effect = Float(attribute.value) }
                        if attribute.id == costID { cost = attribute.value }
                        if attribute.id == latencyID { latency = attribute.value }
                        // Only an option of the query's own question counts (the attribute is anyone's to write).
                        if attribute.id == answerID, let options = choices()?.options.count,
                           attribute.value >= 0, attribute.value < Double(options), attribute.value == attribute.value.rounded() {
                            answer = Int(attribute.value)
                        }
                    }
                    if let effect, (0...1).contains(effect) {
                        out.graph.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: effect, cost: cost, latencyMs: latency,
                                                                      answer: answer))
                    }
                }
                return true
            }
        }
        return out
    }
}
