import GraphdServer
import GraphdProto
import TTRPC
import Testing

/// Each service's validation rules and error mapping, through the daemon's own
/// dispatcher in process (`InProcessServer`).
@Suite struct ServiceRulesTests {
    @Test func graphServiceRules() async throws {
        let server = try InProcessServer()
        #expect(try await server.status(.getNode, Graphd_V1_GetNodeRequest()) == .invalidArgument)
        var get = Graphd_V1_GetNodeRequest()
        get.node = ref("user", "nobody")
        #expect(try await server.status(.getNode, get) == .notFound)
        var edge = Graphd_V1_Edge()
        edge.type = "interacted"
        edge.source = ref("user", "u")
        edge.target = ref("item", "i")
        edge.weight = .nan
        var add = Graphd_V1_AddEdgesRequest()
        add.edges = [edge]
        #expect(try await server.status(.addEdges, add) == .invalidArgument)
        // Nothing of the refused batch was written.
        let stats = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self)
        #expect(stats.status == .ok && stats.response?.edges == 0)
        // Missing endpoints with require_existing_nodes: NOT_FOUND, and nothing created.
        edge.weight = 1
        add.edges = [edge]
        add.requireExistingNodes = true
        #expect(try await server.status(.addEdges, add) == .notFound)
        let after = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self)
        #expect(after.response?.nodes == 0 && after.response?.edges == 0)
        // Removals of what is not there: NOT_FOUND unless ignore_missing.
        var remove = Graphd_V1_RemoveNodesRequest()
        remove.nodes = [ref("user", "nobody")]
        #expect(try await server.status(.removeNodes, remove) == .notFound)
        remove.ignoreMissing = true
        #expect(try await server.status(.removeNodes, remove) == .ok)
        // A listing that joins a pin that was never made: FAILED_PRECONDITION (start again).
        var list = Graphd_V1_ListNodesRequest()
        list.snapshotID = 987_654
        #expect(try await server.status(.listNodes, list) == .failedPrecondition)
        await server.stop()
    }

    @Test func recommendServiceRules() async throws {
        let server = try InProcessServer()
        var recommend = Graphd_V1_RecommendRequest()
        recommend.user = ref("user", "nobody")
        recommend.k = 5
        #expect(try await server.status(.recommend, recommend) == .notFound)
        var ppr = Graphd_V1_PersonalizedPageRankRequest()
        #expect(try await server.status(.personalizedPageRank, ppr) == .invalidArgument, "no seeds")
        var seed = Graphd_V1_Seed()
        seed.node = ref("user", "nobody")
        seed.weight = 1
        ppr.seeds = [seed]
        #expect(try await server.status(.personalizedPageRank, ppr) == .invalidArgument, "an unknown seed is a bad argument")
        seed.node = ref("user", "")
        seed.weight = .infinity
        ppr.seeds = [seed]
        #expect(try await server.status(.personalizedPageRank, ppr) == .invalidArgument)

        // With a user and an edge in the graph, each field on its own.
        var add = Graphd_V1_AddEdgesRequest()
        add.edges = [edge()]
        #expect(try await server.status(.addEdges, add) == .ok)
        recommend.user = ref("user", "u")
        let fine = try await server.call(.recommend, recommend, as: Graphd_V1_RecommendResponse.self)
        #expect(fine.status == .ok, "\(fine.message)")
        let badRecommends: [(RPCStatusCode, String, (inout Graphd_V1_RecommendRequest) -> Void)] = [
            (.invalidArgument, "k = 0", { $0.k = 0 }),
            (.invalidArgument, "k over the maximum", { $0.k = UInt32(RecommendService.maxK) + 1 }),
            (.invalidArgument, "no user", { $0.clearUser() }),
            (.invalidArgument, "user of another type than user_type", { $0.user = ref("item", "i") }),
            (.notFound, "unknown user_type", { $0.userType = "member" }),
            (.notFound, "unknown edge type", { $0.edgeTypes = ["liked"] }),
            (.invalidArgument, "unknown scorer", { $0.scorer = .UNRECOGNIZED(42) }),
            (.invalidArgument, "item_key_prefix too long", { $0.itemKeyPrefix = String(repeating: "p", count: 5000) }),
            (.invalidArgument, "too many exclude_keys", { $0.excludeKeys = (0...RecommendService.maxListLength).map(String.init) }),
        ]
        for (code, label, change) in badRecommends {
            var bad = recommend
            change(&bad)
            let answer = try await server.call(.recommend, bad, as: Graphd_V1_RecommendResponse.self)
            #expect(answer.status == code && !answer.message.isEmpty, "\(label): \(answer.status) \(answer.message)")
        }
        seed.node = ref("user", "u")
        seed.weight = 1
        ppr.seeds = [seed]
        #expect(try await server.status(.personalizedPageRank, ppr) == .ok)
        let badPPRs: [(RPCStatusCode, String, (inout Graphd_V1_PersonalizedPageRankRequest) -> Void)] = [
            (.invalidArgument, "restart of 1", { $0.restart = 1 }),
            (.invalidArgument, "negative tolerance", { $0.tolerance = -1 }),
            (.invalidArgument, "top_k_by_type of 0", { $0.topKByType = ["item": 0] }),
            (.notFound, "top_k_by_type of an unknown type", { $0.topKByType = ["planet": 5] }),
            (.notFound, "an unknown edge type", { $0.edgeTypes = ["liked"] }),
            (.notFound, "excluding a missing node", { $0.exclude = [ref("item", "nothing")] }),
        ]
        for (code, label, change) in badPPRs {
            var bad = ppr
            change(&bad)
            let answer = try await server.call(.personalizedPageRank, bad, as: Graphd_V1_PersonalizedPageRankResponse.self)
            #expect(answer.status == code && !answer.message.isEmpty, "\(label): \(answer.status) \(answer.message)")
        }
        await server.stop()
    }

    @Test func embedRules() async throws {
        let server = try InProcessServer()
        var embed = Graphd_V1_EmbedRequest()
        embed.provider = .hashed
        embed.texts = ["a short text"]
        let fine = try await server.call(.embed, embed, as: Graphd_V1_EmbedResponse.self)
        #expect(fine.status == .ok, "\(fine.message)")
        embed.texts = [String(repeating: "a", count: 1 << 20)]
        #expect(try await server.status(.embed, embed) == .invalidArgument, "a text over the byte limit")
        embed.texts = Array(repeating: "a", count: 100_000)
        #expect(try await server.status(.embed, embed) == .resourceExhausted, "too many texts")
        embed.texts = ["a short text"]
        embed.provider = .UNRECOGNIZED(9)
        #expect(try await server.status(.embed, embed) == .invalidArgument, "unknown provider")
        await server.stop()
    }

    @Test func routerServiceRules() async throws {
        let server = try InProcessServer()
        var route = Graphd_V1_RouteRequest()
        route.query = "Write a function that reverses a list."
        route.performanceWeight = 1
        #expect(try await server.status(.route, route) == .failedPrecondition, "no LLMs registered")
        var llm = Graphd_V1_AddLLMRequest()
        llm.llm.name = "small"
        llm.llm.description_p = "a small model"
        #expect(try await server.status(.addLLM, llm) == .ok)
        route.performanceWeight = -1
        #expect(try await server.status(.route, route) == .invalidArgument, "negative weight")
        route.performanceWeight = 0
        route.costWeight = 0
        #expect(try await server.status(.route, route) == .invalidArgument, "all-zero weights")
        var feedback = Graphd_V1_FeedbackRequest()
        feedback.query = "Write a function that reverses a list."
        var outcome = Graphd_V1_Outcome()
        outcome.llm = "unknown-model"
        outcome.effect = 1
        feedback.outcomes = [outcome]
        #expect(try await server.status(.feedback, feedback) == .notFound)
        outcome.llm = ""
        feedback.outcomes = [outcome]
        let unnamed = try await server.call(.feedback, feedback, as: Graphd_V1_FeedbackResponse.self)
        #expect(unnamed.status == .invalidArgument && unnamed.message.contains("decision_id"), "an outcome without an LLM")
        outcome.llm = "small"
        outcome.effect = 2
        feedback.outcomes = [outcome]
        #expect(try await server.status(.feedback, feedback) == .invalidArgument, "effect outside [0, 1]")
        #expect(try await server.status(.setTask, Graphd_V1_SetTaskRequest()) == .invalidArgument, "no name")
        var remove = Graphd_V1_RemoveLLMRequest()
        remove.name = "unknown-model"
        #expect(try await server.status(.removeLLM, remove) == .notFound)

        // The rest of the README's list of bad Route input.
        route.performanceWeight = 1
        route.allowedLlms = ["unknown-model"]
        #expect(try await server.status(.route, route) == .invalidArgument, "unknown LLM in the allow-list")
        route.allowedLlms = []
        route.query = "  \n\t "
        #expect(try await server.status(.route, route) == .invalidArgument, "whitespace-only prompt")
        feedback.query = "  \n\t "
        outcome.effect = 1
        feedback.outcomes = [outcome]
        #expect(try await server.status(.feedback, feedback) == .invalidArgument, "whitespace-only feedback query")
        route.query = ""
        #expect(try await server.status(.route, route) == .invalidArgument, "no text and no vector")
        route.vector = [1, 2, 3]
        #expect(try await server.status(.route, route) == .invalidArgument, "vector of the wrong dimension")
        route.vector = [Float](repeating: .nan, count: 384)
        #expect(try await server.status(.route, route) == .invalidArgument, "vector with NaN")
        var train = Graphd_V1_TrainRouterRequest()
        train.maxEpochs = 1
        #expect(try await server.status(.train, train) == .failedPrecondition, "no outcomes to train on")
        await server.stop()
    }

    /// Late feedback: Route's decision_id stands in for the query in Feedback.
    @Test func feedbackByDecisionID() async throws {
        let server = try InProcessServer()
        for name in ["small", "large"] {
            var llm = Graphd_V1_AddLLMRequest()
            llm.llm.name = name
            llm.llm.description_p = "a \(name) model"
            #expect(try await server.status(.addLLM, llm) == .ok)
        }
        var route = Graphd_V1_RouteRequest()
        route.query = "Write a function that reverses a list."
        route.task = "coding"
        route.performanceWeight = 1
        let routed = try await server.call(.route, route, as: Graphd_V1_RouteResponse.self)
        let decision = try #require(routed.response)
        #expect(decision.decisionID.count == 29)
        var outcome = Graphd_V1_Outcome()
        outcome.effect = 1
        var late = Graphd_V1_FeedbackRequest()
        late.decisionID = decision.decisionID
        late.outcomes = [outcome]
        // Both the decision and the text: refused, nothing written.
        late.query = route.query
        let both = try await server.call(.feedback, late, as: Graphd_V1_FeedbackResponse.self)
        #expect(both.status == .invalidArgument && both.message.contains("decision_id"))
        late.query = ""
        let fed = try await server.call(.feedback, late, as: Graphd_V1_FeedbackResponse.self)
        #expect(fed.status == .ok, "\(fed.message)")
        // The decision's query, task and chosen LLM were written: the same query
        // key as Feedback by the text, a task edge and the chosen LLM's outcome.
        var byText = Graphd_V1_FeedbackRequest()
        byText.query = route.query
        byText.task = "coding"
        outcome.llm = decision.llm
        byText.outcomes = [outcome]
        let text = try await server.call(.feedback, byText, as: Graphd_V1_FeedbackResponse.self)
        #expect(text.status == .ok && text.response?.queryKey == fed.response?.queryKey)
        #expect(fed.response?.edgesWritten == 2, "task edge and the outcome")
        let llms = try await server.call(.listLLMs, Graphd_V1_ListLLMsRequest(), as: Graphd_V1_ListLLMsResponse.self)
        #expect(llms.response?.llms.first { $0.name == decision.llm }?.observedOutcomes == 1)
        let tasks = try await server.call(.listTasks, Graphd_V1_ListTasksRequest(), as: Graphd_V1_ListTasksResponse.self)
        #expect(tasks.response?.tasks.map(\.name) == ["coding"])
        // An outcome may name another LLM (a fallback answered).
        outcome.llm = decision.llm == "small" ? "large" : "small"
        late.outcomes = [outcome]
        #expect(try await server.status(.feedback, late) == .ok)
        // Unknown and malformed ids.
        late.decisionID = "d" + String(decision.decisionID.dropFirst().reversed())
        let unknown = try await server.call(.feedback, late, as: Graphd_V1_FeedbackResponse.self)
        #expect(unknown.status == .notFound, "\(unknown.message)")
        late.decisionID = String(decision.decisionID.prefix(13)) + "0000000000000000"
        #expect(try await server.status(.feedback, late) == .notFound)
        late.decisionID = "yesterday's"
        #expect(try await server.status(.feedback, late) == .invalidArgument)
        await server.stop()
    }

    /// Route's exploration: a bad bound is refused; a seed fixes the draw; the answer says when it explored.
    @Test func routeExploration() async throws {
        let server = try InProcessServer()
        for name in ["one", "two", "three"] {
            var llm = Graphd_V1_AddLLMRequest()
            llm.llm.name = name
            llm.llm.description_p = "a general model"
            #expect(try await server.status(.addLLM, llm) == .ok)
        }
        var route = Graphd_V1_RouteRequest()
        route.query = "Which planet is largest?"
        route.performanceWeight = 1
        for bound in [-1.0, .nan, .infinity] {
            route.exploreMaxRegret = bound
            #expect(try await server.status(.route, route) == .invalidArgument, "bound \(bound)")
        }
        route.exploreMaxRegret = 0
        let greedy = try #require(try await server.call(.route, route, as: Graphd_V1_RouteResponse.self).response)
        #expect(!greedy.exploratory)
        route.exploreMaxRegret = 1
        var explored = 0
        for seed in UInt64(1)...40 {
            route.exploreSeed = seed
            let first = try #require(try await server.call(.route, route, as: Graphd_V1_RouteResponse.self).response)
            let again = try #require(try await server.call(.route, route, as: Graphd_V1_RouteResponse.self).response)
            #expect(first.llm == again.llm, "seed \(seed) decides the draw")
            #expect(first.exploratory == (first.llm != greedy.llm))
            explored += first.exploratory ? 1 : 0
        }
        // Three LLMs without outcomes: the draws pick each of them now and then.
        #expect(explored > 5 && explored < 40, "\(explored) of 40 explored")
        await server.stop()
    }

    /// The router's writes: refused ones write nothing, and the messages name the field.
    @Test func routerWriteRules() async throws {
        let server = try InProcessServer()
        #expect(try await server.status(.addLLM, Graphd_V1_AddLLMRequest()) == .invalidArgument, "no llm")
        var add = Graphd_V1_AddLLMRequest()
        add.llm.name = "cheap"
        add.llm.price.perCall = -1
        let negative = try await server.call(.addLLM, add, as: Graphd_V1_AddLLMResponse.self)
        #expect(negative.status == .invalidArgument && negative.message.contains("llm.price.per_call"))
        add.llm.price.perCall = 0
        add.llm.tags = (0..<65).map { "t\($0)" }
        #expect(try await server.status(.addLLM, add) == .invalidArgument, "65 tags")
        add.llm.tags = []
        add.llm.name = ""
        let unnamed = try await server.call(.addLLM, add, as: Graphd_V1_AddLLMResponse.self)
        #expect(unnamed.status == .invalidArgument && unnamed.message.contains("llm.name"))
        // None of the refused registrations wrote anything.
        let none = try await server.call(.listLLMs, Graphd_V1_ListLLMsRequest(), as: Graphd_V1_ListLLMsResponse.self)
        #expect(none.status == .ok && none.response?.llms.isEmpty == true)
        add.llm.name = "cheap"
        add.llm.price.perInputToken = 1e-7
        let created = try await server.call(.addLLM, add, as: Graphd_V1_AddLLMResponse.self)
        #expect(created.response?.created == true)
        let again = try await server.call(.addLLM, add, as: Graphd_V1_AddLLMResponse.self)
        #expect(again.status == .ok && again.response?.created == false, "a second AddLLM updates")
        let listed = try await server.call(.listLLMs, Graphd_V1_ListLLMsRequest(), as: Graphd_V1_ListLLMsResponse.self)
        #expect(listed.response?.llms.map(\.name) == ["cheap"] && listed.response?.llms.first?.price.perInputToken == 1e-7)

        var remove = Graphd_V1_RemoveLLMRequest()
        #expect(try await server.status(.removeLLM, remove) == .invalidArgument, "no name")
        remove.name = "nobody"
        #expect(try await server.status(.removeLLM, remove) == .notFound)

        #expect(try await server.status(.setTask, Graphd_V1_SetTaskRequest()) == .invalidArgument, "no task")
        var task = Graphd_V1_SetTaskRequest()
        task.task.name = "code"
        task.task.queryText = .UNRECOGNIZED(7)
        #expect(try await server.status(.setTask, task) == .invalidArgument, "unknown query_text")
        task.task.queryText = .lastBlock
        let set = try await server.call(.setTask, task, as: Graphd_V1_SetTaskResponse.self)
        #expect(set.response?.created == true && set.response?.task.queryText == .lastBlock)
        let tasks = try await server.call(.listTasks, Graphd_V1_ListTasksRequest(), as: Graphd_V1_ListTasksResponse.self)
        #expect(tasks.response?.tasks.map(\.name) == ["code"] && tasks.response?.defaultQueryText == .full)

        var train = Graphd_V1_TrainRouterRequest()
        train.learningRate = 2
        #expect(try await server.status(.train, train) == .invalidArgument, "learning rate outside (0, 1)")
        var feedback = Graphd_V1_FeedbackRequest()
        feedback.query = "print hello"
        feedback.updateSteps = 101
        var outcome = Graphd_V1_Outcome()
        outcome.llm = "cheap"
        outcome.effect = 1
        feedback.outcomes = [outcome]
        #expect(try await server.status(.feedback, feedback) == .invalidArgument, "update_steps over 100")
        await server.stop()
    }

    @Test func conversationServiceRules() async throws {
        let server = try InProcessServer()
        #expect(try await server.status(.retrieve, Graphd_V1_RetrieveRequest()) == .invalidArgument, "no turns")
        var retrieve = Graphd_V1_RetrieveRequest()
        var turn = Graphd_V1_DialogueTurn()
        turn.role = "SEEKER"
        turn.text = "Something like Knives Out."
        retrieve.turns = [turn]
        retrieve.k = 500
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "k outside 1…200")
        retrieve.k = 10
        retrieve.n = 51
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "n outside 0…50")
        retrieve.n = 3
        retrieve.restart = 1
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "restart outside (0, 1)")
        retrieve.clearRestart()
        retrieve.textSeeds = 201
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "text_seeds over 200")
        retrieve.clearTextSeeds()
        var long = turn
        long.role = String(repeating: "R", count: 65)
        retrieve.turns = [long]
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "a role over 64 bytes")
        long = turn
        long.text = String(repeating: "a", count: 16 * 1024 + 1)
        retrieve.turns = [long]
        #expect(try await server.status(.retrieve, retrieve) == .invalidArgument, "a turn over 16 KiB")
        retrieve.turns = [turn]
        #expect(try await server.status(.retrieve, retrieve) != .invalidArgument, "the same request, within bounds")
        var conversation = Graphd_V1_AddConversationRequest()
        conversation.turns = [turn]
        #expect(try await server.status(.addConversation, conversation) == .invalidArgument, "no key")
        await server.stop()
    }

    @Test func snapshotAndLogSequenceRules() async throws {
        let server = try InProcessServer()
        var edges = Graphd_V1_AddEdgesRequest()
        edges.edges = (0..<50).map { i in
            var edge = Graphd_V1_Edge()
            edge.type = "interacted"
            edge.source.type = "user"
            edge.source.key = "u\(i % 7)"
            edge.target.type = "item"
            edge.target.key = "i\(i)"
            return edge
        }
        let added = try await server.call(.addEdges, edges, as: Graphd_V1_AddEdgesResponse.self)
        #expect(added.status == .ok && added.response?.logSequence == 0, "alone, a write has no log sequence")

        // Alone: role single; a min-log-sequence is nothing to wait for, and one that is not a number is refused.
        let stats = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self,
                                          metadata: [(GraphdReplicationWire.minLogSequenceKey, "5")])
        #expect(stats.status == .ok && stats.response?.role == "single" && stats.response?.appliedLogSequence == 0)
        let bad = try await server.call(.stats, Graphd_V1_StatsRequest(), as: Graphd_V1_StatsResponse.self,
                                        metadata: [(GraphdReplicationWire.minLogSequenceKey, "soon")])
        #expect(bad.status == .invalidArgument && bad.message.contains("min-log-sequence"), "\(bad.message)")

        // A snapshot pages out whole, then is gone.
        let snapshot = try #require(try await server.call(.snapshot, Graphd_V1_SnapshotRequest(), as: Graphd_V1_SnapshotResponse.self).response)
        #expect(snapshot.bytes > 0)
        var read = Graphd_V1_ReadSnapshotRequest()
        read.snapshotID = snapshot.snapshotID
        read.maxBytes = 4096
        var total: UInt64 = 0, eof = false
        while !eof {
            let chunk = try #require(try await server.call(.readSnapshot, read, as: Graphd_V1_ReadSnapshotResponse.self).response)
            total += UInt64(chunk.data.count)
            read.offset = total
            eof = chunk.eof
        }
        #expect(total == snapshot.bytes)
        #expect(try await server.status(.readSnapshot, read) == .notFound, "read to its end, the copy is deleted")

        // Bad reads: an unknown id, too large a chunk, an offset past the end.
        var unknown = Graphd_V1_ReadSnapshotRequest()
        unknown.snapshotID = "no-such-snapshot"
        #expect(try await server.status(.readSnapshot, unknown) == .notFound)
        let another = try #require(try await server.call(.snapshot, Graphd_V1_SnapshotRequest(), as: Graphd_V1_SnapshotResponse.self).response)
        var tooLarge = Graphd_V1_ReadSnapshotRequest()
        tooLarge.snapshotID = another.snapshotID
        tooLarge.maxBytes = 4 << 20
        #expect(try await server.status(.readSnapshot, tooLarge) == .invalidArgument)
        var pastEnd = Graphd_V1_ReadSnapshotRequest()
        pastEnd.snapshotID = another.snapshotID
        pastEnd.offset = another.bytes + 1
        #expect(try await server.status(.readSnapshot, pastEnd) == .outOfRange)
        await server.stop()
    }

    @Test func afterShutdownBackgroundWorkIsUnavailable() async throws {
        let server = try InProcessServer()
        await server.stop()
        var train = Graphd_V1_TrainReasonerRequest()
        train.maxEpochs = 1
        // The request is valid, so what refuses it is the stopped job runtime (or the
        // empty graph, checked first): never a crash or INTERNAL.
        let status = try await server.status(.trainReasoner, train)
        #expect(status == .unavailable || status == .failedPrecondition, "\(status)")
    }
}
