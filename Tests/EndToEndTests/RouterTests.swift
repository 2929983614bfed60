import Foundation
import GraphdClient
import GraphdProto
import Testing
import TTRPC

/// graphd.v1.Router against a real daemon: registration, routing, feedback,
/// training, persistence, and bad input.
@Suite(.serialized) struct RouterTests {
    private func addLLM(_ client: GraphClient, _ name: String, _ description: String, perCall: Double) async throws -> Bool {
        var request = Graphd_V1_AddLLMRequest()
        request.llm.name = name
        request.llm.description_p = description
        request.llm.price.perCall = perCall
        return try await client.addLLM(request).created
    }

    private func route(_ client: GraphClient, _ text: String, task: String = "", weights: (Double, Double) = (1, 0),
                       allowed: [String] = [], maxCost: Double = 0, maxLatencyMs: Double = 0) async throws -> Graphd_V1_RouteResponse {
        var request = Graphd_V1_RouteRequest()
        request.query = text
        request.task = task
        request.performanceWeight = weights.0
        request.costWeight = weights.1
        request.allowedLlms = allowed
        request.maxCost = maxCost
        request.maxLatencyMs = maxLatencyMs
        return try await client.route(request)
    }

    private func feedback(_ client: GraphClient, _ text: String, task: String, _ outcomes: [(String, Double, Double)],
                          steps: UInt32? = nil, latencies: [String: Double] = [:]) async throws -> Graphd_V1_FeedbackResponse {
        var request = Graphd_V1_FeedbackRequest()
        request.query = text
        request.task = task
        request.outcomes = outcomes.map { llm, effect, cost in
            var outcome = Graphd_V1_Outcome()
            outcome.llm = llm
            outcome.effect = effect
            outcome.cost = cost
            if let latency = latencies[llm] { outcome.latencyMs = latency }
            return outcome
        }
        if let steps { request.updateSteps = steps }
        return try await client.feedback(request)
    }

    /// Arithmetic questions: "solver" always right, "guesser" right one time in
    /// four, "premium" always right at ten times solver's price. Solver takes
    /// 2–3 s, premium 0.4 s; the guesser is never timed.
    private func loadOutcomes(_ client: GraphClient, count: Int = 40) async throws {
        for i in 0..<count {
            let text = "What is \(i) plus \(i * 3)? Answer with a number."
            _ = try await feedback(client, text, task: "math", [("solver", 1, 0.001), ("guesser", i % 4 == 0 ? 1 : 0, 0.0002),
                                                                ("premium", 1, 0.01)], steps: 0,
                                   latencies: ["solver": i % 2 == 0 ? 2000 : 3000, "premium": 400])
        }
    }

    @Test func routeFeedbackTrainAndRestart() async throws {
        let scratch = Scratch()
        var daemon = try Daemon(socket: scratch.path("r.sock"), store: scratch.path("r.sqlite"))
        try await daemon.waitUntilServing()
        var client = try await daemon.client()

        await expectCode(.failedPrecondition, "route with no LLMs") { _ = try await route(client, "hello") }
        #expect(try await addLLM(client, "solver", "a careful arithmetic model", perCall: 0.001))
        #expect(try await addLLM(client, "guesser", "a tiny fast model that guesses", perCall: 0.0002))
        #expect(try await addLLM(client, "premium", "a very large general model", perCall: 0.01))
        #expect(try await addLLM(client, "premium", "a very large general model, updated", perCall: 0.01) == false)

        // Routable at once, before any outcome: the declared prices decide a cost-first request.
        let untrained = try await route(client, "What is 2 plus 2?", weights: (0, 1))
        #expect(untrained.model == "rates")
        #expect(untrained.llm == "guesser")
        #expect(untrained.ranked.count == 3)

        try await loadOutcomes(client)
        let listed = try await client.listLLMs()
        #expect(listed.llms.count == 3)
        #expect(listed.llms.allSatisfy { $0.observedOutcomes == 40 })

        // Performance first: solver and premium tie on effect, solver is cheaper.
        let best = try await route(client, "What is 7 plus 21? Answer with a number.", task: "math")
        #expect(best.llm == "solver", "\(best)")
        #expect(best.fallback.count == 2)
        #expect(best.ranked.first?.effect ?? 0 > 0.8)
        #expect(best.ranked.first { $0.llm == "solver" }?.latencyMs == 2500 && best.ranked.first { $0.llm == "premium" }?.latencyMs == 400)
        #expect(best.ranked.first { $0.llm == "guesser" }?.hasLatencyMs == false)
        // A 1 s latency budget leaves the slow solver out; the never-timed guesser stays.
        let quick = try await route(client, "What is 7 plus 21? Answer with a number.", task: "math", maxLatencyMs: 1000)
        #expect(quick.llm == "premium" && Set(quick.ranked.map(\.llm)) == ["premium", "guesser"], "\(quick)")
        await expectCode(.failedPrecondition, "nothing within the latency budget") {
            _ = try await route(client, "What is 7 plus 21?", task: "math", allowed: ["solver"], maxLatencyMs: 1000)
        }
        // Cost first must never pick premium, which solver dominates.
        let costFirst = try await route(client, "What is 7 plus 21? Answer with a number.", task: "math", weights: (0.2, 0.8))
        #expect(costFirst.llm != "premium")
        // Allow-list and cost cap.
        let allowed = try await route(client, "What is 7 plus 21?", task: "math", allowed: ["premium", "guesser"])
        #expect(allowed.llm == "premium")
        #expect(Set(allowed.ranked.map(\.llm)) == ["premium", "guesser"])
        let capped = try await route(client, "What is 7 plus 21?", task: "math", maxCost: 0.0005)
        #expect(capped.ranked.map(\.llm) == ["guesser"])

        let noJob = try await client.trainRouterProgress()
        #expect(!noJob.running && noJob.epoch == 0 && noJob.outcome.isEmpty, "no job yet: \(noJob)")
        var train = Graphd_V1_TrainRouterRequest()
        train.maxEpochs = 60
        let trained = try await client.trainRouter(train)
        #expect(trained.epochs > 0 && trained.trainingQueries + trained.validationQueries == 40)
        // The finished job's progress is the job's own result.
        let progress = try await client.trainRouterProgress()
        #expect(!progress.running && progress.outcome == "ok", "\(progress)")
        #expect(progress.epoch == trained.epochs && progress.maxEpochs == 60 && progress.bestEpoch == trained.bestEpoch)
        #expect(progress.bestValidationLoss == trained.validationLoss && progress.seconds > 0)
        let afterTraining = try await route(client, "What is 9 plus 27? Answer with a number.", task: "math")
        #expect(afterTraining.model == "gnn")
        // Performance first may take either perfect LLM (cost does not count); never the guesser.
        #expect(afterTraining.llm != "guesser", "\(afterTraining)")
        let balancedAfterTraining = try await route(client, "What is 9 plus 27? Answer with a number.", task: "math", weights: (0.5, 0.5))
        #expect(balancedAfterTraining.llm == "solver", "\(balancedAfterTraining)")

        // Feedback moves the prediction in the observed direction, once the background
        // update and the view rebuilt aside have caught up (Route answers meanwhile).
        let before = try #require(try await route(client, "What is 5 plus 15? Answer with a number.", task: "math").ranked.first { $0.llm == "guesser" })
        for i in 100..<130 {
            let response = try await feedback(client, "What is \(i) plus \(i)? Answer with a number.", task: "math", [("guesser", 1, 0.0002)])
            #expect(response.edgesWritten >= 1 && response.updateQueued)
        }
        var after = before
        let deadline = ContinuousClock.now + .seconds(20)
        while after.effect <= before.effect, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            after = try #require(try await route(client, "What is 5 plus 15? Answer with a number.", task: "math").ranked.first { $0.llm == "guesser" })
        }
        #expect(after.effect > before.effect, "guesser: \(before.effect) → \(after.effect)")
        // Without update steps nothing is queued; the outcome still counts.
        let unqueued = try await feedback(client, "What is 1 plus 1?", task: "math", [("guesser", 1, 0.0002)], steps: 0)
        #expect(unqueued.edgesWritten >= 1 && !unqueued.updateQueued)

        // A new LLM is routable at once through its description.
        _ = try await addLLM(client, "newcomer", "a new arithmetic model", perCall: 0.0005)
        let withNew = try await route(client, "What is 3 plus 4?", task: "math")
        #expect(withNew.ranked.contains { $0.llm == "newcomer" })

        // Everything survives a restart: LLMs with prices, outcomes, the trained model.
        await client.close()
        #expect(await daemon.terminate() == 0)
        daemon = try Daemon(socket: scratch.path("r.sock"), store: scratch.path("r.sqlite"))
        try await daemon.waitUntilServing()
        client = try await daemon.client()
        let relisted = try await client.listLLMs()
        #expect(relisted.modelTrained)
        #expect(relisted.llms.count == 4)
        #expect(relisted.llms.first { $0.name == "premium" }?.price.perCall == 0.01)
        #expect(relisted.llms.first { $0.name == "premium" }?.description_p == "a very large general model, updated")
        #expect(try await route(client, "What is 9 plus 27? Answer with a number.", task: "math").model == "gnn")

        var remove = Graphd_V1_RemoveLLMRequest()
        remove.name = "newcomer"
        _ = try await client.removeLLM(remove)
        #expect(try await client.listLLMs().llms.count == 3)
        await expectCode(.notFound, "remove a removed LLM") { _ = try await client.removeLLM(remove) }
        await client.close()
        _ = await daemon.terminate()
    }

    @Test func badInputGetsClearStatuses() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("b.sock"), store: scratch.path("b.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        _ = try await addLLM(client, "m1", "model one", perCall: 0.001)
        _ = try await addLLM(client, "m2", "model two", perCall: 0.002)

        await expectCode(.invalidArgument, "negative weight") { _ = try await route(client, "q", weights: (-1, 0)) }
        await expectCode(.invalidArgument, "both weights zero") { _ = try await route(client, "q", weights: (0, 0)) }
        await expectCode(.invalidArgument, "unknown allowed LLM") { _ = try await route(client, "q", allowed: ["m1", "nope"]) }
        await expectCode(.invalidArgument, "empty text, no vector") { _ = try await route(client, "") }
        // An unknown task counts as absent: still routed (this graph has no tasks to infer).
        let unknownTask = try await route(client, "q", task: "nope")
        #expect(["m1", "m2"].contains(unknownTask.llm) && unknownTask.task.isEmpty && !unknownTask.taskInferred)
        await expectCode(.invalidArgument, "negative max cost") { _ = try await route(client, "q", maxCost: -1) }
        var wrongDimension = Graphd_V1_RouteRequest()
        wrongDimension.vector = [1, 2, 3]
        wrongDimension.performanceWeight = 1
        await expectCode(.invalidArgument, "vector of the wrong dimension") { _ = try await client.route(wrongDimension) }
        let dimension = 384  // hashed and MiniLM both give 384 values
        var withNaN = Graphd_V1_RouteRequest()
        withNaN.vector = [Float](repeating: 0.1, count: dimension)
        withNaN.vector[3] = .nan
        withNaN.performanceWeight = 1
        await expectCode(.invalidArgument, "vector with NaN") { _ = try await client.route(withNaN) }
        await expectCode(.invalidArgument, "effect outside [0, 1]") { _ = try await feedback(client, "q", task: "t", [("m1", 2, 0)]) }
        await expectCode(.notFound, "feedback for an unknown LLM") { _ = try await feedback(client, "q", task: "t", [("ghost", 1, 0)]) }
        await expectCode(.invalidArgument, "negative max_latency_ms") {
            var request = Graphd_V1_RouteRequest()
            request.query = "q"
            request.performanceWeight = 1
            request.maxLatencyMs = -5
            _ = try await client.route(request)
        }
        await expectCode(.invalidArgument, "answer over 64 KiB") {
            var request = Graphd_V1_FeedbackRequest()
            request.query = "q-answer"
            var outcome = Graphd_V1_Outcome()
            outcome.llm = "m1"
            outcome.effect = 1
            outcome.answer = String(repeating: "A", count: 65_537)
            request.outcomes = [outcome]
            _ = try await client.feedback(request)
        }
        await expectCode(.invalidArgument, "update_steps above 100") {
            _ = try await feedback(client, "q-steps", task: "t", [("m1", 1, 0)], steps: 101)
        }
        await expectCode(.invalidArgument, "negative price") {
            var request = Graphd_V1_AddLLMRequest()
            request.llm.name = "bad"
            request.llm.price.perCall = -1
            _ = try await client.addLLM(request)
        }
        await expectCode(.failedPrecondition, "training without outcomes") { _ = try await client.trainRouter(Graphd_V1_TrainRouterRequest()) }
        let failed = try await client.trainRouterProgress()
        #expect(!failed.running && failed.outcome.contains("outcome"), "the refused job's reason: \(failed)")
        // Nothing was written by the rejected requests.
        #expect(try await client.listLLMs().llms.map(\.name).sorted() == ["m1", "m2"])
        await client.close()
        _ = await daemon.terminate()
    }

    /// A Winogrande-like twin: one word flips which of the two names is right.
    private func twinPrompt(_ p: Int, twin: Bool) -> (text: String, right: Int) {
        let names = ["Ann\(p)", "Bob\(p)"], swapped = twin && p % 3 == 0
        let options = swapped ? names.reversed() : names
        let stem = "Ann\(p) thanked Bob\(p) for gift \(p) because _ was \(twin ? "grateful" : "kind")."
        let rightName = names[twin ? 1 - p % 2 : p % 2]
        return ("Answer with a letter.\n\n\(stem)\nA) \(options[0])\nB) \(options[1])\nAnswer:", options.firstIndex(of: rightName)!)
    }

    /// Imported (graphctl import routerbench, with the LLMs' answers) and fed back
    /// (Feedback with answers): a twin of a labelled question is routed to the LLM
    /// that always answers its right letter. "left" always says A, "right" B, and
    /// "strong" is right 70 % of the time and dear.
    @Test func variantsOfMultipleChoiceQueriesRouteByTheirRightOption() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("v.sock"), store: scratch.path("v.sqlite"))
        try await daemon.waitUntilServing()
        var csv = ",sample_id,prompt,eval_name,left,right,strong,left|model_response,right|model_response,strong|model_response,"
            + "left|total_cost,right|total_cost,strong|total_cost,oracle_model_to_route_to\n"
        var row = 0
        for p in 0..<12 {
            // Pairs 0 and 1 keep only their first question; their twins are routed below.
            for twin in p < 2 ? [false] : [false, true] {
                let (text, right) = twinPrompt(p, twin: twin)
                let strong = p % 10 < 7 ? right : 1 - right
                let letters = ["A", "B"]
                let literal = "['" + text.replacingOccurrences(of: "\n", with: "\\n") + "']"
                csv += "\(row),twins.\(row),\"\(literal)\",twins,\(right == 0 ? 1 : 0),\(right == 1 ? 1 : 0),\(strong == right ? 1 : 0),"
                    + "['A'],\"['B\\n']\",['\(letters[strong])'],0.0001,0.0001,0.002,left\n"
                row += 1
            }
        }
        let file = scratch.path("twins_train.csv")
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try run(Products.graphctl, ["import", "routerbench", file, "--socket", daemon.socket])
        #expect(imported.status == 0, "\(imported.stderr)")
        let client = try await daemon.client()
        for p in 0..<2 {
            let (text, right) = twinPrompt(p, twin: true)
            let routed = try await route(client, text, task: "twins")
            #expect(routed.effectsFromVariant, "pair \(p)")
            #expect(routed.llm == ["left", "right"][right], "pair \(p): \(routed)")
        }
        // A question that is no variant of any: the GNN (here the task's rates) decides.
        let unrelated = try await route(client, "Cy paid Di because _ was moving.\nA) Cy\nB) Di\nAnswer:", task: "twins")
        #expect(!unrelated.effectsFromVariant && unrelated.llm == "strong")

        // Feedback with answers labels a new question; its twin is then routed by it.
        let (first, right) = twinPrompt(40, twin: false)
        var request = Graphd_V1_FeedbackRequest()
        request.query = first
        request.task = "twins"
        request.updateSteps = 0
        request.outcomes = [("left", "A", right == 0), ("right", "(B)", right == 1), ("strong", "I cannot tell", false)].map { llm, answer, correct in
            var outcome = Graphd_V1_Outcome()
            outcome.llm = llm
            outcome.effect = correct ? 1 : 0
            outcome.cost = llm == "strong" ? 0.002 : 0.0001
            outcome.answer = answer
            return outcome
        }
        let key = try await client.feedback(request).queryKey
        // An answer sent later for the stored query (by key, no text) is read against its stored text.
        var later = Graphd_V1_FeedbackRequest()
        later.queryKey = key
        later.updateSteps = 0
        var strongAgain = Graphd_V1_Outcome()
        strongAgain.llm = "strong"
        strongAgain.effect = 1
        strongAgain.answer = ["A", "B"][right]
        later.outcomes = [strongAgain]
        #expect(try await client.feedback(later).edgesWritten == 1)
        func answerOptions(_ key: String) async throws -> [String: Double] {
            var neighbors = Graphd_V1_NeighborsRequest()
            neighbors.node = Graphd_V1_NodeRef(type: "query", key: key)
            neighbors.edgeTypes = ["query_llm"]
            let listed = try await client.neighbors(neighbors).neighbors
            return Dictionary(uniqueKeysWithValues: listed.compactMap { n in n.attributes["answer_option"].map { (n.node.key, $0) } })
        }
        // "I cannot tell" names no option; the later answer replaced strong's edge.
        #expect(try await answerOptions(key) == ["left": 0, "right": 1, "strong": Double(right)])
        let (twin, twinRight) = twinPrompt(40, twin: true)
        var routed = try await route(client, twin, task: "twins")
        // Outcomes reach Route within moments (the view is rebuilt aside).
        for _ in 0..<100 where !routed.effectsFromVariant {
            try await Task.sleep(for: .milliseconds(50))
            routed = try await route(client, twin, task: "twins")
        }
        #expect(routed.effectsFromVariant)
        #expect(routed.llm == ["left", "right"][twinRight], "\(routed)")
        // An answer to a query that is no multiple-choice question is accepted and left unread.
        request.query = "Write a haiku."
        request.outcomes = [request.outcomes[0]]
        let haiku = try await client.feedback(request)
        #expect(haiku.edgesWritten == 2)
        #expect(try await answerOptions(haiku.queryKey).isEmpty)
        await client.close()
        _ = await daemon.terminate()
    }

    @Test func graphctlImportsRouterBenchCSVsAndRoutes() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("i.sock"), store: scratch.path("i.sqlite"))
        try await daemon.waitUntilServing()
        // RouterDC layout, with a prompt that spans lines and holds quotes and commas.
        var csv = ",sample_id,prompt,eval_name,fast,slow,fast|model_response,slow|model_response,fast|total_cost,slow|total_cost,oracle_model_to_route_to\n"
        for i in 0..<12 {
            let prompt = "\"['Example, with \"\"quotes\"\".\\n\\nQuestion \(i): what is \(i)+1?']\""
            // An empty cell: "fast" was not run on that row (no outcome, not a failure).
            csv += "\(100 + i),toy.\(i),\(prompt),toy,\(["", "0.0", "1.0"][i % 3]),1.0,\"a\nb\",x,0.0001,0.002,slow\n"
        }
        let file = scratch.path("toy_train.csv")
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try run(Products.graphctl, ["import", "routerbench", file, "--socket", daemon.socket, "--output-format", "json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let listed = try run(Products.graphctl, ["llm", "list", "--socket", daemon.socket, "--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])
        let llms = try #require(object["llms"] as? [[String: Any]])
        #expect(Set(llms.compactMap { $0["name"] as? String }) == ["fast", "slow"])
        let observed = Dictionary(uniqueKeysWithValues: llms.compactMap { l in (l["name"] as? String).map { ($0, l["observed_outcomes"] as? Int) } })
        #expect(observed == ["fast": 8, "slow": 12], "\(observed)")
        // The query node holds the block after the blank line, not the shared example.
        let node = try run(Products.graphctl, ["node", "get", "query:toy/105", "--socket", daemon.socket, "--format", "json"])
        #expect(node.stdout.contains("Question 5: what is 5+1?"), "\(node.stdout) \(node.stderr)")
        #expect(!node.stdout.contains("Example"))
        // The import says so on the task: a whole prompt sent later is matched on its last block.
        let tasks = try run(Products.graphctl, ["task", "list", "--socket", daemon.socket, "--format", "json"])
        #expect(tasks.stdout.contains("\"query_text\":\"last\"") && tasks.stdout.contains("\"queries\":12"), "\(tasks.stdout)")
        let whole = try run(Products.graphctl, ["route", "Example, with \"quotes\".\n\nQuestion 5: what is 5+1?", "--task", "toy",
                                                "--socket", daemon.socket, "--format", "json"])
        #expect(whole.stdout.contains("\"llms_observed_on_text\":2"), "\(whole.stdout) \(whole.stderr)")
        let routed = try run(Products.graphctl, ["route", "Question 20: what is 20+1?", "--task", "toy", "--socket", daemon.socket, "--format", "json"])
        #expect(routed.status == 0, "\(routed.stderr)")
        #expect(routed.stdout.contains("\"llm\":\"slow\"") || routed.stdout.contains("\"llm\" : \"slow\""), "\(routed.stdout)")
        _ = await daemon.terminate()
    }

    /// A prompt asked again is routed by what the LLMs did with it: "cheap" answers
    /// nine questions in ten, so it wins at weights (0.8, 0.2), until it is seen
    /// failing this very one.
    @Test func aPromptAskedAgainIsRoutedByItsOwnOutcomes() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("a.sock"), store: scratch.path("a.sqlite"))
        try await daemon.waitUntilServing()
        let client = try await daemon.client()
        _ = try await addLLM(client, "cheap", "a small model", perCall: 0.0002)
        _ = try await addLLM(client, "dear", "a large model", perCall: 0.002)
        for i in 0..<30 {
            _ = try await feedback(client, "Summarise ticket \(i) in one line.", task: "support",
                                   [("cheap", i % 10 == 0 ? 0 : 1, 0.0002), ("dear", 1, 0.002)], steps: 0)
        }
        let prompt = "Summarise ticket 4711 in one line."
        let first = try await route(client, prompt, task: "support", weights: (0.8, 0.2))
        #expect(first.llm == "cheap" && first.llmsObservedOnText == 0, "\(first)")
        let cheapBefore = try #require(first.ranked.first { $0.llm == "cheap" }).effect

        // The gateway called cheap, which failed, then dear, which answered.
        _ = try await feedback(client, prompt, task: "support", [("cheap", 0, 0.0002), ("dear", 1, 0.002)], steps: 0)
        var again = try await route(client, prompt, task: "support", weights: (0.8, 0.2))
        // Outcomes reach Route within moments (the view is rebuilt aside).
        for _ in 0..<100 where again.llmsObservedOnText == 0 {
            try await Task.sleep(for: .milliseconds(50))
            again = try await route(client, prompt, task: "support", weights: (0.8, 0.2))
        }
        #expect(again.llmsObservedOnText == 2)
        #expect(again.llm == "dear", "\(again)")
        let cheapAfter = try #require(again.ranked.first { $0.llm == "cheap" }).effect
        #expect(cheapAfter < cheapBefore / 2 + 0.05, "cheap: \(cheapBefore) → \(cheapAfter)")
        // Another prompt is not this one: cheap still wins it.
        let other = try await route(client, "Summarise ticket 4712 in one line.", task: "support", weights: (0.8, 0.2))
        #expect(other.llm == "cheap" && other.llmsObservedOnText == 0, "\(other)")
        // graphctl says why.
        let shown = try run(Products.graphctl, ["route", prompt, "--task", "support", "--performance-weight", "0.8", "--cost-weight", "0.2",
                                                "--socket", daemon.socket])
        #expect(shown.status == 0 && shown.stdout.hasPrefix("dear") && shown.stdout.contains("2 LLMs' outcomes on this very text"),
                "\(shown.stdout) \(shown.stderr)")
        // Late feedback through graphctl: the JSON names the decision, and feedback
        // by its id lands on the decided prompt's query node for the chosen LLM.
        let decided = try run(Products.graphctl, ["route", "Summarise ticket 4712 in one line.", "--task", "support", "--socket", daemon.socket,
                                                  "--format", "json"])
        let decision = try #require(try JSONSerialization.jsonObject(with: Data(decided.stdout.utf8)) as? [String: Any])
        let id = try #require(decision["decision_id"] as? String)
        let late = try run(Products.graphctl, ["feedback", "--decision-id", id, "--effect", "0", "--update-steps", "0", "--socket", daemon.socket,
                                               "--format", "json"])
        #expect(late.status == 0, "\(late.stderr)")
        let lateKey = (try JSONSerialization.jsonObject(with: Data(late.stdout.utf8)) as? [String: Any])?["query_key"] as? String
        let byText = try await feedback(client, "Summarise ticket 4712 in one line.", task: "support", [("cheap", 0, 0.0002)], steps: 0)
        #expect(lateKey == byText.queryKey)
        let expired = try run(Products.graphctl, ["feedback", "--decision-id", "d000000000001" + String(repeating: "0", count: 16),
                                                  "--effect", "1", "--socket", daemon.socket])
        #expect(expired.status != 0 && expired.stderr.contains("NOT_FOUND") && expired.stderr.contains("expired"), "\(expired.stderr)")
        let neither = try run(Products.graphctl, ["feedback", "--effect", "1", "--socket", daemon.socket])
        #expect(neither.status != 0 && neither.stderr.contains("--decision-id"), "\(neither.stderr)")
        await client.close()
        _ = await daemon.terminate()
    }

    private func setTask(_ client: GraphClient, _ name: String, description: String = "",
                         queryText: Graphd_V1_QueryText = .unspecified) async throws -> Graphd_V1_SetTaskResponse {
        var request = Graphd_V1_SetTaskRequest()
        request.task.name = name
        request.task.description_p = description
        request.task.queryText = queryText
        return try await client.setTask(request)
    }

    /// Few-shot prompts share their examples; a task set to LAST_BLOCK is stored,
    /// embedded and matched on the question after them, so the same question under
    /// other examples is the same query. A task left at the default (FULL) is not.
    @Test func fewShotPromptsAreMatchedOnTheirLastBlockWhenTheTaskSaysSo() async throws {
        let scratch = Scratch()
        let store = scratch.path("f.sqlite")
        var daemon = try Daemon(socket: scratch.path("f.sock"), store: store)
        try await daemon.waitUntilServing()
        var client = try await daemon.client()
        _ = try await addLLM(client, "cheap", "a small model", perCall: 0.0002)
        _ = try await addLLM(client, "dear", "a large model", perCall: 0.002)
        let created = try await setTask(client, "quiz", description: "general knowledge questions", queryText: .lastBlock)
        #expect(created.created && created.task.queryText == .lastBlock && created.task.description_p == "general knowledge questions")
        let examplesA = "Q: What is the capital of Spain?\nA: Madrid\n\nQ: What is the capital of Italy?\nA: Rome"
        let examplesB = "Q: How many legs has a spider?\nA: Eight"
        let question = "Q: What is the capital of Peru?\nA:"
        for task in ["quiz", "verbatim"] {
            let written = try await feedback(client, examplesA + "\n\n" + question, task: task, [("cheap", 0, 0.0002), ("dear", 1, 0.002)], steps: 0)
            var get = Graphd_V1_GetNodeRequest()
            get.node = Graphd_V1_NodeRef(type: "query", key: written.queryKey)
            let stored = try await client.getNode(get).node.text
            #expect(stored == (task == "quiz" ? question : examplesA + "\n\n" + question), "\(task): \(stored)")
        }
        // The same question under other examples: one query for "quiz", a new one for "verbatim".
        var quiz = try await route(client, examplesB + "\n\n" + question, task: "quiz", weights: (0.8, 0.2))
        for _ in 0..<100 where quiz.llmsObservedOnText == 0 {
            try await Task.sleep(for: .milliseconds(50))
            quiz = try await route(client, examplesB + "\n\n" + question, task: "quiz", weights: (0.8, 0.2))
        }
        #expect(quiz.queryText == .lastBlock && quiz.llmsObservedOnText == 2 && quiz.llm == "dear", "\(quiz)")
        let verbatim = try await route(client, examplesB + "\n\n" + question, task: "verbatim", weights: (0.8, 0.2))
        #expect(verbatim.queryText == .full && verbatim.llmsObservedOnText == 0, "\(verbatim)")
        // Feedback under other examples adds to the same "quiz" query.
        let again = try await feedback(client, examplesB + "\n\n" + question, task: "quiz", [("cheap", 1, 0.0002)], steps: 0)
        let tasks = try await client.listTasks()
        #expect(tasks.defaultQueryText == .full)
        #expect(tasks.tasks.map(\.name) == ["quiz", "verbatim"])
        #expect(tasks.tasks.map(\.queryText) == [.lastBlock, .full])
        #expect(tasks.tasks.map(\.queries) == [1, 1], "\(tasks) \(again.queryKey)")
        // Unset fields stay as they are.
        let renamed = try await setTask(client, "quiz", description: "trivia")
        #expect(!renamed.created && renamed.task.queryText == .lastBlock && renamed.task.description_p == "trivia" && renamed.task.queries == 1)

        // Bad input, and nothing written by it.
        await expectCode(.invalidArgument, "SetTask without a task") { _ = try await client.setTask(Graphd_V1_SetTaskRequest()) }
        await expectCode(.invalidArgument, "SetTask with an empty name") { _ = try await setTask(client, "", queryText: .full) }
        await expectCode(.invalidArgument, "an unknown QueryText value") { _ = try await setTask(client, "odd", queryText: .UNRECOGNIZED(7)) }
        await expectCode(.invalidArgument, "a prompt of whitespace only") { _ = try await route(client, " \n\n ", task: "quiz") }
        await expectCode(.invalidArgument, "feedback of whitespace only") {
            _ = try await feedback(client, " \n ", task: "quiz", [("cheap", 1, 0.0002)])
        }
        #expect(try await client.listTasks().tasks.map(\.name) == ["quiz", "verbatim"])

        // Settings are stored: after a restart (with another default) they still hold.
        await client.close()
        _ = await daemon.terminate()
        daemon = try Daemon(socket: scratch.path("f2.sock"), store: store, extraArguments: ["--query-text", "last"])
        try await daemon.waitUntilServing()
        client = try await daemon.client()
        let restarted = try await client.listTasks()
        #expect(restarted.defaultQueryText == .lastBlock && restarted.tasks.map(\.queryText) == [.lastBlock, .full], "\(restarted)")
        // Without a task the daemon's default applies.
        let untasked = try await route(client, examplesB + "\n\n" + question)
        #expect(untasked.queryText == .lastBlock)
        let listed = try run(Products.graphctl, ["task", "list", "--socket", daemon.socket])
        #expect(listed.status == 0 && listed.stdout.contains("quiz  query text last  queries 1  trivia")
                && listed.stdout.contains("default query text: last"), "\(listed.stdout) \(listed.stderr)")
        let set = try run(Products.graphctl, ["task", "set", "verbatim", "--query-text", "last", "--socket", daemon.socket])
        #expect(set.status == 0 && set.stdout.hasPrefix("updated verbatim  query text last"), "\(set.stdout) \(set.stderr)")
        let refused = try run(Products.graphctl, ["task", "set", "verbatim", "--query-text", "middle", "--socket", daemon.socket])
        #expect(refused.status != 0 && refused.stderr.contains("query-text"), "\(refused.stderr)")
        await client.close()
        _ = await daemon.terminate()
    }
}
