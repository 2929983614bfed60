import Foundation
import GraphdClient
import GraphdProto
import RoutingSchema

// MARK: import routerbench

public enum RouterBenchImport {
    /// Writes each row's query node, its task edge and one query_llm edge per LLM
    /// with effect, cost and, for a multiple-choice query, the option the LLM's
    /// answer ('<llm>|model_response') names.
    public static func run(files: [String], policy: QueryTextPolicy, client: GraphClient, sink: ImportSink) async throws {
        let parsed = try files.map(RouterBenchFile.init(path:))
        let types = try await client.listTypes()
        var define = Graphd_V1_DefineTypesRequest()
        typealias S = RouterSchema
        for (name, source, target) in [(S.taskQuery, S.taskType, S.queryType), (S.queryLLM, S.queryType, S.llmType)]
        where !types.edgeTypes.contains(where: { $0.name == name }) {
            var spec = Graphd_V1_EdgeTypeSpec()
            spec.name = name
            spec.directed = true
            spec.sourceType = source
            spec.targetType = target
            define.edgeTypes.append(spec)
        }
        if !define.edgeTypes.isEmpty { try await sink.define(define) }
        let existing = Set(try await client.listLLMs().llms.map(\.name))
        for llm in Set(parsed.flatMap(\.llms)).sorted() where !existing.contains(llm) {
            var request = Graphd_V1_AddLLMRequest()
            request.llm.name = llm
            request.llm.description_p = RouterBenchDefaults.llmDescription(llm)
            _ = try await client.addLLM(request)
        }
        // Per row, in file order: the option each LLM's answer names.
        var chosenOptions: [[Int?]] = []
        // Each task with its description and the query text the import used, so that
        // a gateway sending whole prompts later is matched on the same part.
        for task in Set(parsed.flatMap { $0.rows.map(\.task) }).sorted() {
            var request = Graphd_V1_SetTaskRequest()
            request.task.name = task
            request.task.description_p = RouterBenchDefaults.taskDescription(task)
            request.task.queryText = policy.mode(task: task).wire
            _ = try await client.setTask(request)
        }
        for file in parsed {
            for row in file.rows {
                var node = Graphd_V1_Node()
                node.type = S.queryType
                node.key = "\(row.task)/\(row.key)"
                node.text = policy.text(row.prompt, task: row.task)
                try await sink.add(node)
                chosenOptions.append(row.chosenOptions(ChoiceQuestion(parsing: node.text)))
            }
        }
        var rowIndex = 0
        for file in parsed {
            for row in file.rows {
                let query = Graphd_V1_NodeRef(type: S.queryType, key: "\(row.task)/\(row.key)")
                let chosen = chosenOptions[rowIndex]
                rowIndex += 1
                var taskEdge = Graphd_V1_Edge()
                taskEdge.type = S.taskQuery
                taskEdge.source = Graphd_V1_NodeRef(type: S.taskType, key: row.task)
                taskEdge.target = query
                try await sink.add(taskEdge)
                // An empty cell is an LLM not run on the row: no outcome, not a failure.
                for (j, llm) in file.llms.enumerated() {
                    guard let effect = row.effects[j] else { continue }
                    var edge = Graphd_V1_Edge()
                    edge.type = S.queryLLM
                    edge.source = query
                    edge.target = Graphd_V1_NodeRef(type: S.llmType, key: llm)
                    edge.attributes = [S.effectAttribute: Double(effect), S.costAttribute: row.costs[j]]
                    if let option = chosen[j] { edge.attributes[S.answerAttribute] = Double(option) }
                    try await sink.add(edge)
                }
            }
        }
        log("routerbench: \(parsed.reduce(0) { $0 + $1.rows.count }) queries from \(files.count) files")
    }
}
