import ArgumentParser
import ConversationContent
import Foundation
import GraphdTools
import GraphdClient
import GraphdProto

// MARK: converse

struct ConverseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "converse",
        abstract: "Retrieve candidates, similar conversations and a prompt for one dialogue (graphd.v1.Conversation/Retrieve).",
        discussion: """
        Reads the dialogue so far from FILE (or stdin with '-' or no FILE), in one of two forms:
          text  one turn per line, 'ROLE: text' (a line without a role is the SEEKER's);
          json  a list of turns {"role": …, "text": …, "entity_keys": [...]} (entity_keys:
                keys of entity or item nodes you linked yourself; optional).
        The graph comes from 'graphctl import inspired' (see 'graphctl import --help').

        Examples:
          printf 'RECOMMENDER: What do you like?\\nSEEKER: Mysteries like Knives Out.\\n' | graphctl converse
          graphctl converse dialogue.json -k 10 -n 3 --format json
        """)

    @Argument(help: "Dialogue file ('-' or none: stdin).")
    var file: String?
    @Option(name: .shortAndLong, help: "Candidate items (1…200).")
    var k: Int = 10
    @Option(name: .shortAndLong, help: "Similar conversations (0…50).")
    var n: Int = 3
    @Flag(help: "Use only entity_keys, no linking of the text.")
    var skipTextLinking = false
    @Flag(help: "Also return items the dialogue already mentions.")
    var includeMentioned = false
    @Flag(help: "Print only the prompt text (for piping into an LLM).")
    var promptOnly = false
    @Flag(help: "Let the trained graph reasoner's top items join the PPR seeds ('graphctl train reasoner' first).")
    var reasoner = false
    @Option(help: "Past conversations closest in words to the last 8 turns that join the PPR seeds (0…\(RetrievalBounds.maxTextSeeds); 0: none; default: the server's, \(RetrievalBounds.defaultTextSeeds)).")
    var textSeeds: Int?
    @Option(help: "Share of the seed weight those conversations carry, in [0, 1) (default: the server's, \(RetrievalBounds.defaultTextSeedShare)).")
    var textSeedShare: Double?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (1...200).contains(k) else { throw ValidationError("-k must be 1…200") }
        guard (0...50).contains(n) else { throw ValidationError("-n must be 0…50") }
        if let textSeeds, !(0...RetrievalBounds.maxTextSeeds).contains(textSeeds) {
            throw ValidationError("--text-seeds must be 0…\(RetrievalBounds.maxTextSeeds)")
        }
        if let textSeedShare, !(textSeedShare >= 0 && textSeedShare < 1) { throw ValidationError("--text-seed-share must be in [0, 1)") }
    }

    func run() async throws {
        var request = Graphd_V1_RetrieveRequest()
        request.turns = try Self.turns(fromFile: file)
        request.k = UInt32(k)
        request.n = UInt32(n)
        request.skipTextLinking = skipTextLinking
        request.includeMentioned = includeMentioned
        request.useReasoner = reasoner
        if let textSeeds { request.textSeeds = UInt32(textSeeds) }
        if let textSeedShare { request.textSeedShare = textSeedShare }
        let response = try await connection.withClient { try await $0.retrieve(request) }
        if promptOnly {
            print(response.prompt.text)
            return
        }
        switch output.format {
        case .json:
            printJSON([
                "graph_version": response.graphVersion,
                "linked": response.linked.map(jsonObject),
                "candidates": response.candidates.map { ["item": jsonObject($0.item), "name": $0.name, "score": $0.score,
                                                         "provenance": Self.provenanceName($0.provenance), "description": $0.description_p] as [String: Any] },
                "similar": response.similar.map { ["conversation": jsonObject($0.conversation), "score": $0.score,
                                                   "recommended": $0.recommended.map(jsonObject), "excerpt": $0.excerpt] as [String: Any] },
                "prompt": ["system": response.prompt.system, "dialogue": response.prompt.dialogue, "candidates": response.prompt.candidates,
                           "similar": response.prompt.similar, "instruction": response.prompt.instruction, "text": response.prompt.text],
            ] as [String: Any])
        case .text:
            if !response.linked.isEmpty {
                print("linked: " + response.linked.map { "'\($0.surface)' → \($0.node.type)/\($0.node.key) (turn \($0.turn))" }.joined(separator: ", "))
            }
            print("candidates:")
            for (i, candidate) in response.candidates.enumerated() {
                print(String(format: "%3d. %@  %.5f  %@", i + 1, candidate.name, candidate.score, Self.provenanceName(candidate.provenance))
                      + (candidate.description_p.isEmpty ? "" : "\n       \(candidate.description_p)"))
            }
            if !response.similar.isEmpty {
                print("similar conversations:")
                for similar in response.similar {
                    print("  \(similar.conversation.key) (\(String(format: "%.5f", similar.score))): recommended \(similar.recommended.map(\.key).joined(separator: ", "))")
                }
            }
            print("\n--- prompt ---\n" + response.prompt.text)
        }
    }

    static func provenanceName(_ provenance: Graphd_V1_Provenance) -> String {
        switch provenance {
        case .ppr: "ppr"
        case .reasoner: "reasoner"
        case .both: "both"
        case .popularity: "popularity"
        default: "unspecified"
        }
    }

    /// The dialogue in `file` ('-' or nil: standard input).
    static func turns(fromFile file: String?) throws -> [Graphd_V1_DialogueTurn] {
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else { throw fail(message: "cannot read \(file)", code: ToolExit.noInput) }
            return try turns(from: contents)
        }
        return try turns(from: FileHandle.standardInput.readDataToEndOfFile())
    }

    /// Turns from JSON (a list of objects) or from 'ROLE: text' lines.
    static func turns(from data: Data) throws -> [Graphd_V1_DialogueTurn] {
        let text = String(decoding: data, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("[") {
            guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
                throw fail(message: "the dialogue is not a JSON list of {\"role\", \"text\"} objects", code: ToolExit.rejected)
            }
            return try list.enumerated().map { i, object in
                var turn = Graphd_V1_DialogueTurn()
                turn.role = object["role"] as? String ?? "SEEKER"
                guard let text = object["text"] as? String else { throw fail(message: "turn \(i) has no \"text\" string", code: ToolExit.rejected) }
                turn.text = text
                turn.entityKeys = (object["entity_keys"] as? [Any] ?? []).map { "\($0)" }
                return turn
            }
        }
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { return nil }
            var turn = Graphd_V1_DialogueTurn()
            if let colon = trimmed.firstIndex(of: ":"), trimmed[..<colon].allSatisfy({ $0.isLetter || $0 == "_" }), trimmed.distance(from: trimmed.startIndex, to: colon) <= 20 {
                turn.role = String(trimmed[..<colon]).uppercased()
                turn.text = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            } else {
                turn.role = "SEEKER"
                turn.text = trimmed
            }
            return turn
        }
    }
}

// MARK: conversation add

struct ConversationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conversation", abstract: "Past conversations in the graph (graphd.v1.Conversation).",
        subcommands: [ConversationAdd.self])
}

struct ConversationAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a dialogue as a conversation node, so later retrievals learn from it (Conversation/AddConversation).",
        discussion: """
        Reads the dialogue as 'graphctl converse' does (FILE, or stdin; 'ROLE: text' lines or a JSON \
        list of turns), links each turn as Retrieve does and writes, in one transaction, the \
        conversation node KEY with its text, 'mentions' edges (weight = mention count) and \
        'recommended' edges to the items linked in RECOMMENDER turns and to each --recommended \
        item. The same KEY again (the session, grown) updates the text and the counts.

        Example:
          printf 'SEEKER: I loved Knives Out.\\nRECOMMENDER: Try Glass Onion.\\n' | graphctl conversation add session-42
        """)

    @Argument(help: "Key of the conversation node (1…256 bytes).")
    var key: String
    @Argument(help: "Dialogue file ('-' or none: stdin).")
    var file: String?
    @Option(name: .customLong("recommended"), help: "Key of an item recommended beyond what the text names (repeatable).")
    var recommended: [String] = []
    @Flag(help: "Use only entity_keys, no linking of the text.")
    var skipTextLinking = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_AddConversationRequest()
        request.key = key
        request.turns = try ConverseCommand.turns(fromFile: file)
        request.recommendedItemKeys = recommended
        request.skipTextLinking = skipTextLinking
        let response = try await connection.withClient { try await $0.addConversation(request) }
        switch output.format {
        case .json:
            printJSON(["conversation": jsonObject(response.conversation), "created": response.created, "mentions": response.mentions,
                       "recommended": response.recommended.map(jsonObject), "graph_version": response.graphVersion,
                       "linked": response.linked.map(jsonObject), "log_sequence": response.logSequence] as [String: Any])
        case .text:
            print("\(response.created ? "added" : "updated") conversation \(response.conversation.key): \(response.mentions) entities and items "
                  + "mentioned, \(response.recommended.count) recommended (\(response.recommended.map(\.key).joined(separator: ", ")))")
        }
    }
}

// MARK: train reasoner

struct TrainReasoner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reasoner",
        abstract: "Train the G-CRS graph reasoner on the graph's conversations (graphd.v1.Conversation/TrainReasoner).",
        discussion: """
        An R-GCN over the KG relations learns, from every conversation, to rank each item \
        recommended in it from the other entities and items it mentions. graphd holds out 10 % \
        of these examples, stops early when their loss stops improving and stores the weights. \
        While it trains, each second's progress (Conversation/TrainReasonerProgress) goes to \
        standard error unless --quiet. Retrieve uses the reasoner when asked (use_reasoner, \
        'graphctl converse --reasoner').
        """)

    @Option(help: "Maximum epochs (default 200).")
    var epochs: UInt32 = 0
    @Option(help: "Embedding dimension (default 32).")
    var dimension: UInt32 = 0
    @Option(help: "Adam learning rate (default 0.003).")
    var learningRate: Float = 0
    @Option(help: "L2 on the node embeddings (default 0.01).")
    var embeddingDecay: Float?
    @Option(help: "Seed for the held-out split and initial weights.")
    var seed: UInt64 = 0
    @Flag(help: "Do not print progress to standard error.")
    var quiet = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var request = Graphd_V1_TrainReasonerRequest()
        request.maxEpochs = epochs
        request.dimension = dimension
        request.learningRate = learningRate
        if let embeddingDecay { request.embeddingDecay = embeddingDecay }
        request.seed = seed
        var options = connection
        options.timeout = max(options.timeout, 3600)
        let r = try await options.withClient { client in
            try await watchingProgress(show: !quiet, poll: { try await client.trainReasonerProgress() }) { try await client.trainReasoner(request) }
        }
        switch output.format {
        case .json:
            printJSON(["training_examples": r.trainingExamples, "validation_examples": r.validationExamples, "epochs": r.epochs,
                       "best_epoch": r.bestEpoch, "initial_validation_loss": r.initialValidationLoss, "validation_loss": r.validationLoss,
                       "validation_hits_at_10": r.validationHitsAt10, "seconds": r.seconds, "log_sequence": r.logSequence] as [String: Any])
        case .text:
            print("trained \(r.epochs) epochs (best \(r.bestEpoch)) on \(r.trainingExamples) examples in \(String(format: "%.1f", r.seconds)) s")
            print(String(format: "held-out loss %.4f → %.4f on %d examples; held-out HR@10 of the reasoner alone %.3f",
                         r.initialValidationLoss, r.validationLoss, r.validationExamples, r.validationHitsAt10))
        }
    }
}
