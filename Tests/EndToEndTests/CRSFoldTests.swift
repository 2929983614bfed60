import Foundation
import Testing

/// `Benchmarks/crs-folds.py split`: cross-validation folds of pooled dialogues.
@Suite struct CRSFoldTests {
    /// A dialogue line: two turns whose texts make it unique.
    private func dialogue(_ name: String) -> String {
        let turns: [[String: Any]] = [
            ["text": "Hi, I like \(name).", "role": "SEEKER", "movie": [], "entity_link": [], "entity_name": [], "movie_link": [], "movie_name": []],
            ["text": "Try \(name) II.", "role": "RECOMMENDER", "movie": [], "entity_link": [], "entity_name": [], "movie_link": [], "movie_name": []],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: turns, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func theFoldSplitterNeverPutsOneDialogueInTwoFolds() throws {
        let scratch = Scratch()
        // 23 dialogues over two files; "d3" and "d7" appear in both (the same turns),
        // and "d5" twice in the first: each must land in one fold only.
        let names = (0..<23).map { "d\($0)" }
        let first = names.prefix(15) + ["d5"], second = names.dropFirst(15) + ["d3", "d7"]
        try (first.map(dialogue).joined(separator: "\n") + "\n").write(toFile: scratch.path("a.jsonl"), atomically: true, encoding: .utf8)
        try (second.map(dialogue).joined(separator: "\n") + "\n\n").write(toFile: scratch.path("b.jsonl"), atomically: true, encoding: .utf8)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("Benchmarks/crs-folds.py").path
        let folds = 5
        let split = try run("/usr/bin/env", ["python3", script, "split", scratch.path("a.jsonl"), scratch.path("b.jsonl"),
                                             "--out", scratch.path("folds"), "--folds", "\(folds)", "--seed", "4"])
        try #require(split.status == 0, "\(split.stderr)")
        #expect(split.stdout.contains("26 dialogues (3 duplicates grouped)"))
        var foldOf: [String: Int] = [:]
        for k in 0..<folds {
            let held = try lines(scratch.path("folds/fold-\(k)/dialogs.jsonl"))
            let train = try lines(scratch.path("folds/fold-\(k)/train.jsonl"))
            #expect(Set(held).count == held.count, "fold \(k) holds a dialogue twice")
            #expect(Set(held).isDisjoint(with: train), "fold \(k) trains on a dialogue it holds out")
            for line in held {
                #expect(foldOf[line] == nil, "a dialogue is in folds \(foldOf[line] ?? -1) and \(k)")
                foldOf[line] = k
            }
            // The training file is every other fold, copies included.
            let expectedTrain = (first + second).map(dialogue).filter { !Set(held).contains($0) }
            #expect(train.sorted() == expectedTrain.sorted(), "fold \(k)'s training file")
            #expect((4...5).contains(held.count), "fold \(k) holds \(held.count) of 23")
        }
        #expect(Set(foldOf.keys) == Set(names.map(dialogue)), "every dialogue is held out once")
        // Too few dialogues for the folds, and a line that is not a dialogue, are refused.
        let tooMany = try run("/usr/bin/env", ["python3", script, "split", scratch.path("a.jsonl"), "--out", scratch.path("x"), "--folds", "40"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("cannot fill 40 folds"))
        try "{\"not\": \"a list\"}\n".write(toFile: scratch.path("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try run("/usr/bin/env", ["python3", script, "split", scratch.path("bad.jsonl"), "--out", scratch.path("y")])
        #expect(bad.status != 0 && bad.stderr.contains("bad.jsonl:1"))
    }
}
