import ArgumentParser
import CBLAS
import Foundation
import GraphdTools
import TextEmbedding

// MARK: bench embed

struct BenchEmbed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Native MiniLM encoder: texts/s and p50 latency, against the Python reference.",
        discussion: """
        In this process: one text of about 30 tokens, and batches of 32 such texts, on 1 and 2 \
        OpenBLAS threads, each beside the p50 of its dense layers' SGEMMs alone (same shapes and \
        weights, nothing else: the floor OpenBLAS sets on this machine); then, unless --no-reference, Benchmarks/embed_reference.py times \
        sentence-transformers on the same texts and thread counts in the same run (it needs \
        'pip install sentence-transformers'), and the ratio is printed.
        """)

    @Option(help: "Timed repetitions per case.")
    var repetitions: Int = 200
    @Option(help: "Batch size of the batched case.")
    var batch: Int = 32
    @Flag(help: "Skip the Python reference.")
    var noReference = false
    @Option(help: ArgumentHelp("MiniLM model directory (default: ask python3).", valueName: "dir"))
    var minilmDir: String?
    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    /// About 30 WordPiece tokens each (checked below), varied so no cache helps.
    static func texts(_ count: Int) -> [String] {
        let subjects = ["The router", "A gateway", "This service", "Our recommender", "The daemon"]
        let verbs = ["should choose", "quickly ranks", "carefully compares", "routinely scores", "prefers"]
        return (0..<count).map { i in
            "\(subjects[i % 5]) \(verbs[(i / 5) % 5]) the cheapest language model that still answers question number \(i) about graph databases, personalized pagerank and conversational recommendation correctly."
        }
    }

    func run() async throws {
        let directory: String
        let encoder: MiniLMEncoder
        do {
            directory = try MiniLMModelLocator.locate(directory: minilmDir)
            encoder = try MiniLMEncoder(directory: directory)
        } catch {
            throw fail(message: "\(error)", code: ToolExit.noInput)
        }
        let one = Self.texts(1), many = Self.texts(batch)
        let tokens = encoder.tokenizer.encode(one[0]).count
        var results: [[String: Any]] = []
        for threads in [1, 2] {
            openblas_set_num_threads(Int32(threads))
            for (label, texts) in [("single", one), ("batch", many)] {
                for _ in 0..<5 { _ = try encoder.embed(texts) }  // warm-up
                var samples: [Double] = []
                let rounds = label == "single" ? repetitions : max(10, repetitions / 10)
                for _ in 0..<rounds {
                    let start = ContinuousClock.now
                    _ = try encoder.embed(texts)
                    samples.append((ContinuousClock.now - start).seconds * 1000)
                }
                let p50 = median(samples)
                // The floor: the same forward pass's SGEMMs alone, interleaved with nothing.
                let rows = texts.reduce(0) { $0 + encoder.tokenizer.encode($1).count }
                var floor: [Double] = []
                for _ in 0..<rounds {
                    let start = ContinuousClock.now
                    encoder.denseLayersOnly(rows: rows)
                    floor.append((ContinuousClock.now - start).seconds * 1000)
                }
                results.append(["case": label, "threads": threads, "texts": texts.count, "p50_ms": p50,
                                "texts_per_s": Double(texts.count) / (p50 / 1000), "sgemm_only_p50_ms": median(floor)])
            }
        }
        openblas_set_num_threads(Int32(ProcessInfo.processInfo.activeProcessorCount))
        var reference: [[String: Any]] = []
        if !noReference {
            reference = runReference(directory: directory, texts: many)
        }
        switch format {
        case .json: printJSON(["tokens_single": tokens, "swift": results, "reference": reference])
        case .text:
            print("one text = \(tokens) tokens; batch = \(batch) texts")
            for r in results {
                let ref = reference.first { ($0["case"] as? String) == (r["case"] as? String) && ($0["threads"] as? Int) == (r["threads"] as? Int) }
                var line = String(format: "%@ %d thread(s): p50 %.3f ms, %.0f texts/s (its SGEMMs alone: %.3f ms)", r["case"] as! String,
                                  r["threads"] as! Int, r["p50_ms"] as! Double, r["texts_per_s"] as! Double, r["sgemm_only_p50_ms"] as! Double)
                if let ref, let refP50 = ref["p50_ms"] as? Double {
                    line += String(format: "   reference p50 %.3f ms → %.2f× faster", refP50, refP50 / (r["p50_ms"] as! Double))
                }
                print(line)
            }
            if reference.isEmpty && !noReference { print("(reference not run: see the log above)") }
        }
    }

    /// Runs Benchmarks/embed_reference.py (sentence-transformers) on the same texts.
    private func runReference(directory: String, texts: [String]) -> [[String: Any]] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/embed_reference.py").path
        guard FileManager.default.fileExists(atPath: script) else {
            log("reference skipped: \(script) not found")
            return []
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--model", directory, "--repetitions", String(repetitions), "--batch", String(batch)]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch {
            log("reference skipped: \(error)")
            return []
        }
        input.fileHandleForWriting.write(Data((texts.joined(separator: "\n") + "\n").utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let rows = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            log("reference skipped: embed_reference.py exited with status \(process.terminationStatus)")
            return []
        }
        return rows
    }
}
