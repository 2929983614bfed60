import Foundation
import Testing
@testable import Conversational

/// A tiny INSPIRED-shaped fixture written to a temporary directory.
private func fixture() throws -> (directory: String, knowledge: InspiredKnowledge) {
    let directory = NSTemporaryDirectory() + "crs-fixture-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    func iri(_ name: String) -> String { "<http://dbpedia.org/resource/\(name)>" }
    let entities = [iri("Knives_Out"): 0, iri("Joker"): 1, iri("Action_film"): 2, iri("Rian_Johnson"): 3,
                    iri("Mystery_fiction"): 4, iri("Looper"): 5]
    func write(_ name: String, _ object: Any) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: directory + "/" + name))
    }
    try write("entity2id.json", entities)
    try write("item_ids.json", [0, 1, 5])
    try write("relation2id.json", ["<http://dbpedia.org/ontology/director>": 0, "self_loop": 1])
    try write("dbpedia_subkg.json", ["0": [[0, 3], [1, 0]], "5": [[0, 3]], "1": [[1, 1]]])
    func turn(_ role: String, _ text: String, entities: [String] = [], movies: [String] = []) -> [String: Any] {
        ["role": role, "text": text, "movie": [], "entity_link": entities.map(iri), "entity_name": [],
         "movie_link": movies.map(iri), "movie_name": []]
    }
    let dialogues: [[[String: Any]]] = [
        [turn("RECOMMENDER", "Hi! What do you like?"),
         turn("SEEKER", "Action and mystery.", entities: ["Action_film", "Mystery_fiction"]),
         turn("RECOMMENDER", "Try Knives Out, or Knives Out again.", movies: ["Knives_Out", "Knives_Out", "Unknown_Film"]),
         turn("SEEKER", "Seen it. By Rian Johnson?", entities: ["Rian_Johnson"], movies: ["Knives_Out"]),
         turn("RECOMMENDER", "Then Looper.", entities: ["Looper"], movies: ["Looper"])],
        [turn("SEEKER", "I liked Joker.", movies: ["Joker"]),
         turn("RECOMMENDER", "Nice.")],
    ]
    let lines = try dialogues.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
    try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/train.jsonl", atomically: true, encoding: .utf8)
    return (directory, try InspiredKnowledge(directory: directory))
}

@Test func samplesFollowTheProtocol() throws {
    let (directory, knowledge) = try fixture()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    #expect(knowledge.triples.count == 2, "self-loops are left out")
    let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
    #expect(dialogues.count == 2)
    #expect(dialogues[0][2].movieIDs == [0, 0], "unknown URIs are dropped")
    let samples = knowledge.samples(dialogues)
    // Turn 2 (gold Knives Out, de-duplicated) and turn 4 (Looper); turn 1 of dialogue 1 names no item.
    #expect(samples == [
        CRSSample(dialog: 0, turn: 2, contextIDs: [2, 4], gold: [0]),
        CRSSample(dialog: 0, turn: 4, contextIDs: [2, 4, 0, 3], gold: [5]),
    ])
}

@Test func pprRanksItemsNearTheContextFirstAndPadsWithPopularOnes() throws {
    let (directory, knowledge) = try fixture()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let dialogues = try knowledge.dialogues(path: directory + "/train.jsonl")
    let graph = try ConversationGraph(knowledge: knowledge, training: dialogues)
    // From Rian Johnson, his two films come before Joker, which no walk from him reaches.
    let ranked = try graph.rankItems(context: [3], count: 3)
    #expect(Set(ranked.prefix(2)) == [0, 5])
    #expect(ranked.count == 3 && ranked[2] == 1)
    // No context: popularity (Knives Out is mentioned in one conversation, like Joker; ties by id).
    #expect(try graph.rankItems(context: [], count: 2) == [0, 1])
}
