import Foundation
import Testing
import GraphdClient
import GraphdProto

/// The README's first command shows graphd's three jobs on Graphs/demo.jsonl
/// (scripts/demo → scripts/demo-steps). These run the same steps against a
/// daemon of their own and check that each job gives an answer that makes sense.
@Suite(.serialized) struct DemoTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// What scripts/demo-steps routes.
    static let prompt = "Write a Python function that reverses a list."

    @Test func theDemoStepsShowRoutingRecommendationAndConversation() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("d.sock"), store: scratch.path("d.sqlite"))
        try await daemon.waitUntilServing()
        let steps = try run(Self.root.appendingPathComponent("scripts/demo-steps").path, [daemon.socket, Products.directory.path])
        #expect(steps.status == 0, "demo steps failed:\n\(steps.stdout)\n\(steps.stderr)")
        for heading in ["== Route", "== Recommend", "because:", "== Converse", "Candidates (best first):"] {
            #expect(steps.stdout.contains(heading), "no '\(heading)' in:\n\(steps.stdout)")
        }

        let client = try await daemon.client()
        let stats = try await client.stats()
        for (type, count) in ["llm": 10, "task": 4, "query": 320, "item": 48, "user": 160, "conversation": 36] {
            #expect(stats.nodesByType[type] == UInt64(count), "\(type)")
        }
        let catalogue = try await client.listLLMs()
        #expect(catalogue.modelTrained, "the steps train the router")
        let prices = Dictionary(uniqueKeysWithValues: catalogue.llms.map { ($0.name, $0.price) })
        #expect(prices.count == 10 && prices.values.allSatisfy { $0.perInputToken > 0 && $0.perOutputToken > 0 })

        // Cost-first picks an LLM that is cheaper than performance-first's, on the
        // prices it declares and on the cost graphd predicts.
        func route(_ performance: Double, _ cost: Double) async throws -> Graphd_V1_RouteResponse {
            var request = Graphd_V1_RouteRequest()
            request.query = Self.prompt
            request.performanceWeight = performance
            request.costWeight = cost
            return try await client.route(request)
        }
        let performanceFirst = try await route(1, 0), costFirst = try await route(0.2, 0.8)
        #expect(performanceFirst.task == "code" && costFirst.task == "code")
        #expect(performanceFirst.model == "gnn")
        let expensive = try #require(prices[performanceFirst.llm]), cheap = try #require(prices[costFirst.llm])
        #expect(cheap.perOutputToken < expensive.perOutputToken && cheap.perInputToken < expensive.perInputToken,
                "cost-first \(costFirst.llm) is not cheaper than performance-first \(performanceFirst.llm)")
        let predicted = Dictionary(uniqueKeysWithValues: costFirst.ranked.map { ($0.llm, $0.cost) })
        #expect(try #require(predicted[costFirst.llm]) < (try #require(predicted[performanceFirst.llm])))

        // Recommend and converse answer with items.
        var recommend = Graphd_V1_RecommendRequest()
        recommend.user = Graphd_V1_NodeRef(type: "user", key: "u007")
        recommend.k = 5
        #expect(try await client.recommend(recommend).items.count == 5)
        try "SEEKER: I loved Arrival and anything by Denis Villeneuve.\n".write(toFile: scratch.path("dialogue.txt"), atomically: true, encoding: .utf8)
        let converse = try run(Products.graphctl, ["converse", "--socket", daemon.socket, "-k", "3", "--format", "json", scratch.path("dialogue.txt")])
        #expect(converse.status == 0, "\(converse.stderr)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(converse.stdout.utf8)) as? [String: Any])
        let candidates = try #require(answer["candidates"] as? [[String: Any]])
        #expect(candidates.count == 3)
        #expect(!candidates.contains { ($0["item"] as? [String: Any])?["key"] as? String == "arrival" }, "a film the seeker named is not a candidate")
        await client.close()

        // An export carries the router's metadata: a copy routes with the same prices.
        let exported = try run(Products.graphctl, ["export", "--socket", daemon.socket, "--output", scratch.path("demo-export.jsonl")])
        #expect(exported.status == 0, "\(exported.stderr)")
        _ = await daemon.terminate()
        let copy = try Daemon(socket: scratch.path("c.sock"), store: scratch.path("c.sqlite"))
        try await copy.waitUntilServing()
        let reimport = try run(Products.graphctl, ["import", "--socket", copy.socket, "--format", "jsonl", scratch.path("demo-export.jsonl")])
        #expect(reimport.status == 0, "\(reimport.stderr)")
        let copyClient = try await copy.client()
        let copied = try await copyClient.listLLMs()
        #expect(Dictionary(uniqueKeysWithValues: copied.llms.map { ($0.name, $0.price) }) == prices)
        #expect(Set(copied.llms.map(\.description_p)) == Set(catalogue.llms.map(\.description_p)))
        let tasks = try await copyClient.listTasks().tasks
        #expect(tasks.count == 4 && tasks.allSatisfy { !$0.description_p.isEmpty && $0.description_p != $0.name })
        await copyClient.close()
        _ = await copy.terminate()
    }

    @Test func routerRecordsWithUnknownFieldsAreRefusedWithTheirLine() async throws {
        let scratch = Scratch()
        let daemon = try Daemon(socket: scratch.path("d.sock"), store: scratch.path("d.sqlite"))
        try await daemon.waitUntilServing()
        try #"""
        {"llm": {"name": "small", "price": {"per_input_token": 1e-7}}}
        {"llm": {"name": "typo", "prise": {"per_input_token": 1e-7}}}
        """#.write(toFile: scratch.path("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try run(Products.graphctl, ["import", "--socket", daemon.socket, "--format", "jsonl", scratch.path("bad.jsonl")])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("bad.jsonl:2") && bad.stderr.contains("LLMInfo"), "\(bad.stderr)")
        let client = try await daemon.client()
        #expect(try await client.listLLMs().llms.map(\.name) == ["small"])
        await client.close()
        _ = await daemon.terminate()
    }
}
