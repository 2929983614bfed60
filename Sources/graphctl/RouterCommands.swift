import ArgumentParser
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto
import RoutingSchema

// MARK: route

struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Ask graphd which LLM should answer a query (graphd.v1.Router/Route).",
        discussion: """
        The objective is --performance-weight · effect − --cost-weight · normalised cost \
        (default 1, 0), or effect − cost / --willingness-to-pay when that is given (US dollars \
        per unit of effect). Without --task, graphd picks the task whose queries are closest. \
        Send the whole prompt: for a task set to '--query-text last' (graphctl task set; \
        import routerbench does it) graphd embeds and matches only its last block.

        Examples:
          graphctl route "Write a function to reverse a list." --task mbpp
          graphctl route "Which gas do plants absorb?" --performance-weight 0.5 --cost-weight 0.5
          graphctl route "…" --allow gpt-3.5-turbo-1106 --allow claude-instant-v1 --max-cost 0.001 --format json
          graphctl route "…" --max-latency-ms 2000   # latencies come from 'graphctl feedback --latency-ms'
        """)

    @Argument(help: "The query text.")
    var query: String
    @Option(help: "Task name.")
    var task: String?
    @Option(help: "Weight on predicted effect.")
    var performanceWeight: Double = 1
    @Option(help: "Weight on normalised cost.")
    var costWeight: Double = 0
    @Option(help: "US dollars per unit of effect (replaces the weights).")
    var willingnessToPay: Double?
    @Option(name: .customLong("allow"), help: "Candidate LLM (repeatable; default all).")
    var allowed: [String] = []
    @Option(help: "Leave out LLMs whose predicted cost exceeds this (US dollars).")
    var maxCost: Double?
    @Option(help: "Leave out LLMs whose predicted latency exceeds this (milliseconds; LLMs never timed stay in).")
    var maxLatencyMs: Double?
    @Option(help: "Explore among the LLMs that may plausibly score within this much of the best (objective units; 0: off; default: graphd's --explore-max-regret).")
    var exploreMaxRegret: Double?
    @Option(help: "Seed of the exploration draw (0: random).")
    var exploreSeed: UInt64 = 0
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_RouteRequest()
        if let exploreMaxRegret { request.exploreMaxRegret = exploreMaxRegret }
        request.exploreSeed = exploreSeed
        request.query = query
        request.task = task ?? ""
        request.performanceWeight = performanceWeight
        request.costWeight = costWeight
        request.willingnessToPay = willingnessToPay ?? 0
        request.allowedLlms = allowed
        request.maxCost = maxCost ?? 0
        request.maxLatencyMs = maxLatencyMs ?? 0
        let response = try await connection.withClient { try await $0.route(request) }
        switch output.format {
        case .json:
            printJSON([
                "llm": response.llm, "task": response.task, "task_inferred": response.taskInferred, "model": response.model,
                "decision_micros": response.decisionMicros, "fallback": response.fallback,
                "effects_from_variant": response.effectsFromVariant, "llms_observed_on_text": response.llmsObservedOnText,
                "query_text": TaskList.name(response.queryText), "decision_id": response.decisionID, "exploratory": response.exploratory,
                "ranked": response.ranked.map { c in
                    var candidate: [String: Any] = ["llm": c.llm, "effect": c.effect, "cost": c.cost, "normalized_cost": c.normalizedCost, "score": c.score]
                    if c.hasLatencyMs { candidate["latency_ms"] = c.latencyMs }
                    return candidate
                },
            ] as [String: Any])
        case .text:
            print("\(response.llm)  (task \(response.task)\(response.taskInferred ? ", inferred" : ""), model \(response.model)"
                  + (response.queryText == .lastBlock ? ", matched on the prompt's last block" : "")
                  + (response.effectsFromVariant ? ", effects from a labelled variant of the question" : "")
                  + (response.llmsObservedOnText > 0 ? ", \(response.llmsObservedOnText) LLMs' outcomes on this very text" : "")
                  + (response.exploratory ? ", exploring" : "") + ")")
            for c in response.ranked.prefix(5) {
                print(String(format: "  %-40@ effect %.3f  cost $%.6f  score %+.4f", c.llm as NSString, c.effect, c.cost, c.score)
                      + (c.hasLatencyMs ? String(format: "  latency %.0f ms", c.latencyMs) : ""))
            }
            if response.ranked.count > 5 { print("  … \(response.ranked.count - 5) more (--format json lists all)") }
            print("fallback: \(response.fallback.prefix(5).joined(separator: ", "))\(response.fallback.count > 5 ? ", …" : "")")
            if !response.decisionID.isEmpty { print("decision: \(response.decisionID)  (graphctl feedback --decision-id … --effect …)") }
        }
    }
}

// MARK: feedback

struct FeedbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback", abstract: "Record what an LLM did with a query (graphd.v1.Router/Feedback).",
        discussion: """
        Adds the query (when new), its task edge and a query_llm edge with the observed effect, \
        cost and latency, then updates the router model with a few online steps. A later Route \
        with the same text weighs this outcome directly (the same LLM's newer outcome on the \
        same query replaces it). For a task set to '--query-text last', "the same text" is the \
        same last block: that is what graphd stores.

        Late feedback: instead of the text, name the decision Route returned \
        (--decision-id, kept for graphd's --decision-ttl, 1 h by default); --llm then defaults \
        to the LLM Route chose.

        Examples:
          graphctl feedback "Write a function to reverse a list." --task mbpp --llm gpt-4-1106-preview --effect 1 --cost 0.009
          graphctl feedback --decision-id d0193a1f2c4e8b7a6f5d4c3b2a1908 --effect 0
        """)

    @Argument(help: "The query text (or --decision-id).")
    var query: String?
    @Option(help: "A decision_id Route returned, instead of the query text.")
    var decisionId: String?
    @Option(help: "Key of the query node (default: derived from the text).")
    var queryKey: String?
    @Option(help: "Task name.")
    var task: String?
    @Option(help: "The LLM that answered (with --decision-id: default the LLM Route chose).")
    var llm: String?
    @Option(help: "Observed quality in [0, 1].")
    var effect: Double
    @Option(help: "Observed cost, US dollars.")
    var cost: Double?
    @Option(help: "Observed latency, milliseconds.")
    var latencyMs: Double?
    @Option(help: "The LLM's answer to a multiple-choice query (e.g. 'B'): graphd keeps the option it names, for routing variants of the query.")
    var answer: String?
    @Option(help: "Online update steps (0…100), run in the background after the reply (0: none).")
    var updateSteps: UInt32 = 5
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        switch (query, decisionId) {
        case (nil, nil): throw ValidationError("give the query text or --decision-id")
        case (.some, .some): throw ValidationError("give the query text or --decision-id, not both")
        case (.some, nil) where llm == nil: throw ValidationError("--llm is required with the query text")
        default: break
        }
    }

    func run() async throws {
        var request = Graphd_V1_FeedbackRequest()
        request.query = query ?? ""
        request.decisionID = decisionId ?? ""
        request.queryKey = queryKey ?? ""
        request.task = task ?? ""
        var outcome = Graphd_V1_Outcome()
        outcome.llm = llm ?? ""
        outcome.effect = effect
        if let cost { outcome.cost = cost }
        if let latencyMs { outcome.latencyMs = latencyMs }
        if let answer { outcome.answer = answer }
        request.outcomes = [outcome]
        request.updateSteps = updateSteps
        let response = try await connection.withClient { try await $0.feedback(request) }
        switch output.format {
        case .json: printJSON(["query_key": response.queryKey, "edges_written": response.edgesWritten, "update_queued": response.updateQueued,
                                 "log_sequence": response.logSequence] as [String: Any])
        case .text: print("recorded \(response.edgesWritten) edges for \(response.queryKey)\(response.updateQueued ? "; online model update queued" : "")")
        }
    }
}

// MARK: llm add | list | remove

struct LLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm", abstract: "Register, list and remove routable LLMs.",
        subcommands: [LLMAdd.self, LLMList.self, LLMRemove.self])
}

struct LLMAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register an LLM (or update it): routable at once through its description.",
        discussion: """
        Example:
          graphctl llm add mistral-large --description "Mistral Large: strong reasoning and code, 123B" \\
                   --price-per-input-token 2e-6 --price-per-output-token 6e-6 --context-window 128000 --tag code
        """)

    @Argument(help: "LLM name (unique).")
    var name: String
    @Option(help: "What the model is good at; embedded and used to route it before any feedback.")
    var description: String = ""
    @Option(help: "US dollars per call.")
    var pricePerCall: Double = 0
    @Option(help: "US dollars per prompt token.")
    var pricePerInputToken: Double = 0
    @Option(help: "US dollars per completion token.")
    var pricePerOutputToken: Double = 0
    @Option(help: "Context window in tokens.")
    var contextWindow: UInt32 = 0
    @Option(name: .customLong("tag"), help: "Tag (repeatable).")
    var tags: [String] = []
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_AddLLMRequest()
        request.llm.name = name
        request.llm.description_p = description
        request.llm.price.perCall = pricePerCall
        request.llm.price.perInputToken = pricePerInputToken
        request.llm.price.perOutputToken = pricePerOutputToken
        request.llm.contextWindow = contextWindow
        request.llm.tags = tags
        let response = try await connection.withClient { try await $0.addLLM(request) }
        switch output.format {
        case .json: printJSON(["name": name, "created": response.created, "log_sequence": response.logSequence] as [String: Any])
        case .text: print(response.created ? "added \(name)" : "updated \(name)")
        }
    }
}

struct LLMList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered LLMs and the router model's status.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let response = try await connection.withClient { try await $0.listLLMs() }
        switch output.format {
        case .json:
            printJSON([
                "model_trained": response.modelTrained, "model_trained_at_ms": response.modelTrainedAtMs,
                "validation_loss": response.validationLoss, "prior_only_validation_loss": response.priorOnlyValidationLoss,
                "embedder": response.embedder,
                "llms": response.llms.map { l in
                    ["name": l.name, "description": l.description_p, "observed_outcomes": l.observedOutcomes,
                     "price": ["per_call": l.price.perCall, "per_input_token": l.price.perInputToken, "per_output_token": l.price.perOutputToken],
                     "context_window": l.contextWindow, "tags": l.tags] as [String: Any]
                },
            ] as [String: Any])
        case .text:
            for l in response.llms {
                print("\(l.name)  outcomes \(l.observedOutcomes)  price/call $\(l.price.perCall)  \(l.description_p)")
            }
            print(response.modelTrained
                  ? "model: trained (validation loss \(response.validationLoss), per-task rates alone \(response.priorOnlyValidationLoss)), embedder \(response.embedder)"
                  : "model: not trained; routing uses per-task success rates (graphctl train router)")
        }
    }
}

struct LLMRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an LLM and its outcome edges.")

    @Argument(help: "LLM name.")
    var name: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var request = Graphd_V1_RemoveLLMRequest()
        request.name = name
        _ = try await connection.withClient { try await $0.removeLLM(request) }
        print("removed \(name)")
    }
}

// MARK: task set | list

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Create router tasks and say which part of a prompt identifies their queries.",
        subcommands: [TaskSet.self, TaskList.self])
}

struct TaskSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Create a task or update its description and query text (graphd.v1.Router/SetTask).",
        discussion: """
        --query-text says which part of a prompt identifies the task's queries: graphd stores, \
        embeds and matches that part in Route and Feedback. 'last' keeps the block after the last \
        blank line, for few-shot prompts whose shared examples would otherwise dominate the \
        embedding; 'full' keeps the whole prompt. It applies to queries routed and fed back from \
        then on: stored queries keep the text they were stored with. Unset options stay as they are.

        Example:
          graphctl task set winogrande --description "Winograd schema: pick the option the blank refers to" --query-text last
        """)

    @Argument(help: "Task name (unique).")
    var name: String
    @Option(help: "What the task asks; embedded as the task's features (default for a new task: its name).")
    var description: String = ""
    @Option(help: "Part of a prompt that identifies the query: full or last (default for a new task: graphd --query-text).")
    var queryText: QueryTextMode?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_SetTaskRequest()
        request.task.name = name
        request.task.description_p = description
        request.task.queryText = queryText?.wire ?? .unspecified
        let response = try await connection.withClient { try await $0.setTask(request) }
        switch output.format {
        case .json: printJSON(TaskList.json(response.task).merging(["created": response.created, "log_sequence": response.logSequence]) { $1 })
        case .text: print("\(response.created ? "created" : "updated") \(TaskList.line(response.task))")
        }
    }
}

struct TaskList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List router tasks with their query text and query counts.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let response = try await connection.withClient { try await $0.listTasks() }
        switch output.format {
        case .json:
            printJSON(["default_query_text": Self.name(response.defaultQueryText), "tasks": response.tasks.map(Self.json)] as [String: Any])
        case .text:
            for task in response.tasks { print(Self.line(task)) }
            print("default query text: \(Self.name(response.defaultQueryText))")
        }
    }

    static func name(_ value: Graphd_V1_QueryText) -> String {
        switch value {
        case .full: "full"
        case .lastBlock: "last"
        case .unspecified: "unspecified"
        case .UNRECOGNIZED(let n): "unknown (\(n))"
        }
    }

    static func line(_ task: Graphd_V1_TaskInfo) -> String {
        "\(task.name)  query text \(name(task.queryText))  queries \(task.queries)  \(task.description_p)"
    }

    static func json(_ task: Graphd_V1_TaskInfo) -> [String: Any] {
        ["name": task.name, "description": task.description_p, "query_text": name(task.queryText), "queries": task.queries]
    }
}

// MARK: train router

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train graphd's models.", subcommands: [TrainRouter.self, TrainReasoner.self, TrainProgressCommand.self])
}

struct TrainProgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "Show the running (or last) training job of a model: epoch, losses, best so far, time, outcome.",
        discussion: """
        For a job started elsewhere (a gateway, another terminal). Router/TrainProgress or \
        Conversation/TrainReasonerProgress; graphd keeps the last job since it started.
        """)

    enum Model: String, ExpressibleByArgument, CaseIterable { case router, reasoner }

    @Argument(help: "router or reasoner.")
    var model: Model
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let p = try await connection.withClient { client in
            switch model {
            case .router: try await client.trainRouterProgress()
            case .reasoner: try await client.trainReasonerProgress()
            }
        }
        switch output.format {
        case .json:
            printJSON(["running": p.running, "epoch": p.epoch, "max_epochs": p.maxEpochs, "training_loss": p.trainingLoss,
                       "validation_loss": p.validationLoss, "best_validation_loss": p.bestValidationLoss, "best_epoch": p.bestEpoch,
                       "seconds": p.seconds, "outcome": p.outcome] as [String: Any])
        case .text:
            if !p.running && p.outcome.isEmpty {
                print("no \(model.rawValue) training since graphd started")
                return
            }
            print((p.running ? "running" : "finished (\(p.outcome))") + ": " + p.summary)
        }
    }
}

struct TrainRouter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router", abstract: "Train the router GNN on every outcome in the graph (graphd.v1.Router/Train).",
        discussion: """
        graphd holds out a validation share of the queries, stops early when the validation \
        loss stops improving and stores the weights. While it trains, each second's progress \
        (epoch, training and validation loss, best so far; Router/TrainProgress) goes to \
        standard error unless --quiet. The result compares the GNN's validation loss with the \
        per-task success rates alone.
        """)

    @Option(help: "Maximum epochs (default 400).")
    var epochs: UInt32 = 0
    @Option(help: "Seed for the validation split and initial weights.")
    var seed: UInt64 = 0
    @Option(help: "Adam learning rate (default 1e-3).")
    var learningRate: Float = 0
    @Flag(help: "Do not print progress to standard error.")
    var quiet = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_TrainRouterRequest()
        request.maxEpochs = epochs
        request.seed = seed
        request.learningRate = learningRate
        var options = connection
        options.timeout = max(options.timeout, 3600)
        let r = try await options.withClient { client in
            try await watchingProgress(show: !quiet, poll: { try await client.trainRouterProgress() }) { try await client.trainRouter(request) }
        }
        switch output.format {
        case .json:
            printJSON(["epochs": r.epochs, "best_epoch": r.bestEpoch, "validation_loss": r.validationLoss,
                       "prior_only_validation_loss": r.priorOnlyValidationLoss, "training_queries": r.trainingQueries,
                       "validation_queries": r.validationQueries, "seconds": r.seconds, "log_sequence": r.logSequence] as [String: Any])
        case .text:
            print("trained \(r.epochs) epochs (best \(r.bestEpoch)) on \(r.trainingQueries) queries in \(String(format: "%.1f", r.seconds)) s")
            print("validation loss \(r.validationLoss) on \(r.validationQueries) queries; per-task rates alone \(r.priorOnlyValidationLoss)")
        }
    }
}

