/// The router's conventions in the graph and the store: node and edge types,
/// edge attributes, document names and request limits. The server, the
/// importer (graphctl import routerbench) and the benchmarks name them from here.
public enum RouterSchema {
    public static let taskType = "task", llmType = "llm", queryType = "query"
    /// task → query and query → llm edge types.
    public static let taskQuery = "task_query", queryLLM = "query_llm"
    /// Attributes of a query_llm edge: what Feedback and the importer write and the extractor reads.
    public static let effectAttribute = "effect", costAttribute = "cost", latencyAttribute = "latency_ms"
    /// The option the LLM chose (0 = A) on a multiple-choice query, from Outcome.answer.
    public static let answerAttribute = "answer_option"
    public static let modelDocument = "router/model"
    public static let llmDocumentPrefix = "router/llm/"
    /// Per-task settings, under the task's name.
    public static let taskDocumentPrefix = "router/task/"
    public static let maxQueryBytes = 65_536
    public static let maxOutcomes = 1024
    public static let maxAllowed = 1024
    public static let maxEpochs: UInt32 = 10_000
}
