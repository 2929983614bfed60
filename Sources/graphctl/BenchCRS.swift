import ArgumentParser
import Conversational
import Foundation

// MARK: bench crs

struct BenchCRS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crs", abstract: "Conversational-recommendation retrieval on INSPIRED: write the protocol's prediction JSONL.",
        discussion: """
        Builds the conversation–entity–item graph in process (DBpedia sub-KG relations as edge \
        types, one conversation node per --train dialogue linked to what it mentions) and ranks \
        items for every sample of --dialogs (CRS_PROTOCOL.md §2) by personalized PageRank from \
        the sample's context ids (oracle links), padded by popularity. Only --train dialogues \
        enter the graph; only each sample's context is read from --dialogs. Writes one line per \
        sample: {"dialog", "turn", "items"} with 50 + context-size items. Score with \
        ../shared/bench/crs_eval.py score DIALOGS OUT. This is the retrieval stage without the \
        reasoner or entity linking (issue 6 in progress).
        """)

    @Option(help: "Directory with entity2id.json, item_ids.json, dbpedia_subkg.json, relation2id.json.")
    var dataDir: String
    @Option(help: "Training dialogues (history graph).")
    var train: String
    @Option(help: "Dialogues to predict for.")
    var dialogs: String
    @Option(help: "Prediction JSONL to write.")
    var predictions: String
    @Option(help: "PPR restart probability (0.3: best of 0.15/0.3/0.5 on the valid split).")
    var restart: Double = 0.3
    @Option(help: "Seed weight decay per earlier mention (1: all context ids alike).")
    var recencyDecay: Double = 1
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        guard restart > 0, restart < 1 else { throw ValidationError("--restart must be in (0, 1)") }
        guard recencyDecay > 0, recencyDecay <= 1 else { throw ValidationError("--recency-decay must be in (0, 1]") }
    }

    func run() async throws {
        let start = ContinuousClock.now
        let knowledge: InspiredKnowledge
        let history: [[DialogueTurn]], targets: [[DialogueTurn]]
        do {
            knowledge = try InspiredKnowledge(directory: dataDir)
            history = try knowledge.dialogues(path: train)
            targets = try knowledge.dialogues(path: dialogs)
        } catch {
            throw fail(message: "\(error)", code: GraphctlExit.noInput)
        }
        let graph = try ConversationGraph(knowledge: knowledge, training: history)
        let built = (ContinuousClock.now - start).seconds
        let samples = knowledge.samples(targets)
        var lines: [String] = []
        var latencies: [Double] = []
        for sample in samples {
            let t0 = ContinuousClock.now
            let items = try graph.rankItems(context: sample.contextIDs, count: 50 + sample.contextIDs.count,
                                            restart: restart, recencyDecay: recencyDecay)
            latencies.append((ContinuousClock.now - t0).seconds * 1e6)
            let data = try JSONSerialization.data(withJSONObject: ["dialog": sample.dialog, "turn": sample.turn, "items": items] as [String: Any],
                                                  options: [.sortedKeys])
            lines.append(String(decoding: data, as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: predictions, atomically: true, encoding: .utf8)
        let latency = LatencySummary(latencies)
        let summary: [String: Any] = ["samples": samples.count, "graph_nodes": graph.state.snapshot.nodeCount,
                                      "graph_edges": graph.state.snapshot.edgeCount, "build_seconds": built,
                                      "rank_p50_us": latency.p50, "rank_p99_us": latency.p99]
        switch format {
        case .json: printJSON(summary)
        case .text:
            print("crs: \(samples.count) samples; graph \(graph.state.snapshot.nodeCount) nodes, \(graph.state.snapshot.edgeCount) edges, built in \(String(format: "%.1f", built)) s")
            print(String(format: "  ranking p50 %.0f µs, p99 %.0f µs (in process); predictions in %@", latency.p50, latency.p99, predictions))
        }
    }
}
