import ArgumentParser
import Conversational
import Foundation
import GraphdHarness
import GraphdTools
import GraphdClient
import GraphdProto
#if canImport(Glibc)
import Glibc
#endif

// MARK: bench crs

enum EntityLinking: String, ExpressibleByArgument, CaseIterable {
    /// The dataset's own links (`entity_link`, `movie_link`), as CRS_PROTOCOL.md gives them.
    case oracle
    /// graphd's entity linking of the raw turn text.
    case text
    /// Both: the dataset's links plus what graphd's linking finds in the text.
    case both

    var usesOracle: Bool { self != .text }
    var usesText: Bool { self != .oracle }
}

struct BenchCRS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crs", abstract: "Conversational-recommendation retrieval on INSPIRED: write the protocol's prediction JSONL.",
        discussion: """
        Builds the conversation–entity–item graph of 'graphctl import inspired' from --train \
        (DBpedia sub-KG relations as edge types, one conversation node per training dialogue \
        linked to what it mentions, aliases seen in training dialogues) and, for every sample of \
        --dialogs (CRS_PROTOCOL.md §2), retrieves candidates from the turns before it: with \
        --linking oracle from the dataset's entity and movie links, with --linking text from \
        graphd's own entity linking of the turn texts. Only --train dialogues enter the graph; \
        only each sample's earlier turns are read from --dialogs. In process by default (the \
        same retrieval code as the Conversation service); with --daemon, a fresh graphd is \
        started on a scratch store, the graph is imported over the socket and every sample is \
        a Retrieve call, whose latency is reported. Writes one line per sample: {"dialog", \
        "turn", "items"} with 50 + context-size items (mentioned items included, as the \
        protocol asks). Score with ../shared/bench/crs_eval.py score DIALOGS OUT.
        """)

    @Option(help: "Directory with entity2id.json, item_ids.json, dbpedia_subkg.json, relation2id.json.")
    var dataDir: String
    @Option(help: "Training dialogues (history graph).")
    var train: String
    @Option(help: "Dialogues to predict for.")
    var dialogs: String
    @Option(help: "Prediction JSONL to write.")
    var predictions: String
    @Option(help: "Entity links: oracle (the dataset's), text (graphd's linking) or both.")
    var linking: EntityLinking = .oracle
    @Option(help: "PPR restart probability.")
    var restart: Double = RetrievalQuery.defaultRestart
    @Option(help: "Seed weight decay per earlier turn (1: all context alike), in (0, 1].")
    var recencyDecay: Double = RetrievalQuery.defaultRecencyDecay
    @Option(help: "Past conversations closest in words to the last 8 turns that join the PPR seeds (0: none).")
    var textSeeds: Int = RetrievalBounds.defaultTextSeeds
    @Option(help: "Share of the seed weight the text-similar conversations carry, in [0, 1).")
    var textSeedShare: Double = RetrievalBounds.defaultTextSeedShare
    @Flag(help: "Train the graph reasoner (R-GCN) on the training conversations and let its top items seed the PPR (in process only).")
    var reasoner = false
    @Option(help: "Reasoner: items it adds as seeds.")
    var reasonerSeeds: Int = ReasonerModel.defaultSeedCount
    @Option(help: "Reasoner: weight of its best item relative to a context seed.")
    var reasonerWeight: Double = ReasonerModel.defaultSeedWeight
    @Option(help: "Reasoner: embedding dimension.")
    var reasonerDimension: Int = ReasonerTrainingConfig().dimension
    @Option(help: "Reasoner: maximum epochs (full batch; early stopping on a held-out 10 %).")
    var reasonerEpochs: Int = ReasonerTrainingConfig().maxEpochs
    @Option(help: "Reasoner: Adam learning rate.")
    var reasonerLearningRate: Float = ReasonerTrainingConfig().learningRate
    @Option(help: "Reasoner: L2 on the node embeddings.")
    var reasonerEmbeddingDecay: Float = ReasonerTrainingConfig().embeddingDecay
    @Option(help: """
        Scale test: the --train dialogues this many times over, each copy its own conversation \
        node (Retrieve latency and build time with that many conversations; the hit rates are \
        not meaningful then).
        """)
    var historyCopies: Int = 1
    @Flag(help: "Serve the graph from a fresh graphd and call Retrieve over its Unix socket.")
    var daemon = false
    @Flag(help: """
        With --daemon: online learning, evaluated prequentially. Once every sample of a --dialogs \
        dialogue is predicted, the whole dialogue is stored with Conversation/AddConversation, so \
        later dialogues' samples see it (never their own). Off by default: the protocol's \
        history is --train alone.
        """)
    var online = false
    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard restart > 0, restart < 1 else { throw ValidationError("--restart must be in (0, 1)") }
        guard !online || daemon else { throw ValidationError("--online needs --daemon (it stores dialogues with AddConversation)") }
        guard !(reasoner && daemon) else { throw ValidationError("--reasoner runs in process only (against graphd: graphctl train reasoner, then converse --reasoner)") }
        guard reasonerSeeds >= 0, reasonerWeight > 0, (2...256).contains(reasonerDimension), reasonerEpochs >= 1 else {
            throw ValidationError("--reasoner-seeds ≥ 0, --reasoner-weight > 0, --reasoner-dimension 2…256, --reasoner-epochs ≥ 1")
        }
        guard recencyDecay > 0, recencyDecay <= 1 else { throw ValidationError("--recency-decay must be in (0, 1]") }
        guard (1...1000).contains(historyCopies) else { throw ValidationError("--history-copies must be 1…1000") }
        guard (0...RetrievalBounds.maxTextSeeds).contains(textSeeds), textSeedShare >= 0, textSeedShare < 1 else {
            throw ValidationError("--text-seeds must be 0…\(RetrievalBounds.maxTextSeeds) and --text-seed-share in [0, 1)")
        }
    }

    func run() async throws {
        let start = ContinuousClock.now
        let knowledge: InspiredKnowledge
        let history: [[DialogueTurn]], targets: [[DialogueTurn]]
        do {
            knowledge = try InspiredKnowledge(directory: dataDir)
            history = Array(repeating: try knowledge.dialogues(path: train), count: historyCopies).flatMap { $0 }
            targets = try knowledge.dialogues(path: dialogs)
        } catch {
            throw fail(message: "\(error)", code: ToolExit.noInput)
        }
        let samples = knowledge.samples(targets)
        var lines: [String] = []
        var latencies: [Double] = []
        var summary: [String: Any] = ["samples": samples.count, "linking": linking.rawValue, "daemon": daemon, "conversations": history.count]
        func record(_ sample: CRSSample, items: [Int]) throws {
            let data = try JSONSerialization.data(withJSONObject: ["dialog": sample.dialog, "turn": sample.turn, "items": items] as [String: Any],
                                                  options: [.sortedKeys])
            lines.append(String(decoding: data, as: UTF8.self))
        }
        if daemon {
            let scratch = try options.makeScratch()
            for suffix in ["", "-wal", "-shm"] { unlink(scratch + "/crs.sqlite" + suffix) }
            let server = try BenchDaemon(graphd: options.graphdPath, socket: scratch + "/crs.sock", store: scratch + "/crs.sqlite",
                                         arguments: ["--sync", "normal"])
            defer { server.stop() }
            try await server.waitUntilServing()
            let client = try await GraphClient.connect(to: .unix(path: server.socket), defaultTimeout: .seconds(600))
            let sink = ImportSink(client: client, batchSize: 10_000)
            try await InspiredImport.send(ConversationGraphContent(knowledge: knowledge, training: history), to: sink)
            try await sink.flush()
            // As graphd does on its own within --compact-after-seconds: serve from the compacted base.
            _ = try await client.compact()
            summary["build_seconds"] = (ContinuousClock.now - start).seconds
            func messages(_ turns: ArraySlice<DialogueTurn>) -> [Graphd_V1_DialogueTurn] {
                turns.map { turn in
                    var message = Graphd_V1_DialogueTurn()
                    message.role = turn.role
                    message.text = turn.text
                    if linking.usesOracle { message.entityKeys = (turn.entityIDs + turn.movieIDs).map(String.init) }
                    return message
                }
            }
            // Online: dialogues before this index are stored (their samples are all done).
            var stored = 0
            func storeDialogues(before dialog: Int) async throws {
                while stored < dialog {
                    var add = Graphd_V1_AddConversationRequest()
                    add.key = "online/\(stored)"
                    add.turns = messages(targets[stored][...])
                    add.skipTextLinking = !linking.usesText
                    if !add.turns.isEmpty { _ = try await client.addConversation(add) }
                    stored += 1
                }
            }
            for sample in samples {
                if online { try await storeDialogues(before: sample.dialog) }
                var request = Graphd_V1_RetrieveRequest()
                request.turns = messages(targets[sample.dialog][..<sample.turn])
                request.k = UInt32(min(ConversationRetriever.maxK, 50 + sample.contextIDs.count))
                request.skipTextLinking = !linking.usesText
                request.includeMentioned = true
                request.restart = restart
                request.recencyDecay = recencyDecay
                request.textSeeds = UInt32(textSeeds)
                request.textSeedShare = textSeedShare
                let t0 = ContinuousClock.now
                let response: Graphd_V1_RetrieveResponse
                do { response = try await client.retrieve(request) } catch {
                    throw fail(message: "Retrieve for dialog \(sample.dialog) turn \(sample.turn): \(error)", code: ToolExit.software)
                }
                latencies.append((ContinuousClock.now - t0).seconds * 1e6)
                try record(sample, items: response.candidates.compactMap { Int($0.item.key) })
            }
            if online { summary["online_conversations_added"] = stored }
            await client.close()
        } else {
            let graph = try ConversationGraph(knowledge: knowledge, training: history)
            summary["build_seconds"] = (ContinuousClock.now - start).seconds
            var model: ReasonerModel? = nil
            if reasoner {
                var config = ReasonerTrainingConfig()
                config.dimension = reasonerDimension
                config.maxEpochs = reasonerEpochs
                config.learningRate = reasonerLearningRate
                config.embeddingDecay = reasonerEmbeddingDecay
                let trainStart = ContinuousClock.now
                let (reasonerGraph, trained) = try graph.trainReasoner(config: config) { epoch, loss, validation in
                    if epoch % 20 == 0 { log(String(format: "reasoner epoch %d: training loss %.4f, validation loss %.4f", epoch, loss, validation)) }
                }
                model = try ReasonerModel(graph: reasonerGraph, parameters: trained.parameters, seedCount: reasonerSeeds, seedWeight: reasonerWeight)
                summary["reasoner"] = ["training_samples": trained.trainingSamples, "validation_samples": trained.validationSamples,
                                       "epochs": trained.epochs, "best_epoch": trained.bestEpoch,
                                       "initial_validation_loss": trained.initialValidationLoss, "validation_loss": trained.validationLoss,
                                       "validation_hr@10": trained.validationHitsAt10, "seconds": (ContinuousClock.now - trainStart).seconds] as [String: Any]
                log(String(format: "reasoner: %d examples, %d epochs (best %d), validation loss %.4f → %.4f, held-out HR@10 %.3f, %.1f s",
                           trained.trainingSamples, trained.epochs, trained.bestEpoch, trained.initialValidationLoss, trained.validationLoss,
                           trained.validationHitsAt10, (ContinuousClock.now - trainStart).seconds))
            }
            summary["graph_nodes"] = graph.state.snapshot.nodeCount
            summary["graph_edges"] = graph.state.snapshot.edgeCount
            for sample in samples {
                var query = RetrievalQuery(turns: targets[sample.dialog][..<sample.turn].map { turn in
                    RetrievalTurn(role: turn.role, text: turn.text,
                                  linkedNodes: linking.usesOracle ? (turn.entityIDs + turn.movieIDs).compactMap(graph.node(ofEntity:)) : [])
                })
                query.k = min(ConversationRetriever.maxK, 50 + sample.contextIDs.count)
                query.linkText = linking.usesText
                query.includeMentioned = true
                query.restart = restart
                query.recencyDecay = recencyDecay
                query.textSeeds = textSeeds
                query.textSeedShare = textSeedShare
                let t0 = ContinuousClock.now
                let result = try graph.retrieve(query, reasoner: model)
                latencies.append((ContinuousClock.now - t0).seconds * 1e6)
                try record(sample, items: result.candidates.compactMap { graph.entity(ofNode: $0.node) })
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: predictions, atomically: true, encoding: .utf8)
        let latency = LatencySummary(latencies)
        summary["retrieve_p50_us"] = latency.p50
        summary["retrieve_p99_us"] = latency.p99
        switch options.format {
        case .json: printJSON(summary)
        case .text:
            print("crs: \(samples.count) samples, \(linking.rawValue) links, \(daemon ? "Retrieve over the Unix socket" : "in process"); built in \(String(format: "%.1f", summary["build_seconds"] as? Double ?? 0)) s")
            print(String(format: "  retrieval p50 %.0f µs, p99 %.0f µs; predictions in %@", latency.p50, latency.p99, predictions))
        }
    }
}
