import Foundation

/// One turn of a UniCRS-style dialogue with its DBpedia links resolved to entity ids.
public struct DialogueTurn: Sendable {
    public var role: String
    public var text: String
    /// `entity_link` ids, in order (unknown URIs dropped).
    public var entityIDs: [Int]
    /// `movie_link` ids, in order (unknown URIs dropped).
    public var movieIDs: [Int]
    /// (id, surface form) from `entity_link`/`entity_name` and
    /// `movie_link`/`movie_name` where the two lists line up.
    public var namedMentions: [(id: Int, surface: String)] = []
}

/// A conversational-recommendation sample (CRS_PROTOCOL.md §2): a recommender
/// turn that names at least one item, with the ids mentioned before it.
public struct CRSSample: Sendable, Equatable {
    public var dialog: Int
    public var turn: Int
    /// entity_link then movie_link ids of turns 0…turn−1, de-duplicated in first-mention order.
    public var contextIDs: [Int]
    /// Item ids of the turn's movie_link, de-duplicated in order.
    public var gold: [Int]
}

/// The INSPIRED files as processed for UniCRS: entity ids, the item set, the
/// DBpedia sub-KG and its relation names.
public struct InspiredKnowledge: Sendable {
    public var entityID: [String: Int]
    public var items: Set<Int>
    public var relationName: [Int: String]
    /// (head, relation, tail) triples, self-loops left out.
    public var triples: [(head: Int, relation: Int, tail: Int)]

    public static let selfLoop = "self_loop"

    public init(directory: String) throws(CRSDataError) {
        func json(_ name: String) throws(CRSDataError) -> Any {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { throw CRSDataError("cannot read \(path)") }
            do { return try JSONSerialization.jsonObject(with: data) } catch { throw CRSDataError("\(path): \(error)") }
        }
        guard let entities = try json("entity2id.json") as? [String: Int] else { throw CRSDataError("entity2id.json is not an object of ids") }
        guard let items = try json("item_ids.json") as? [Int] else { throw CRSDataError("item_ids.json is not a list of ids") }
        guard let relations = try json("relation2id.json") as? [String: Int] else { throw CRSDataError("relation2id.json is not an object of ids") }
        guard let kg = try json("dbpedia_subkg.json") as? [String: [[Int]]] else { throw CRSDataError("dbpedia_subkg.json is not head → [[relation, tail]]") }
        entityID = entities
        self.items = Set(items)
        var names: [Int: String] = [:]
        for (iri, id) in relations {
            let local = iri.trimmingCharacters(in: CharacterSet(charactersIn: "<>")).split(separator: "/").last.map(String.init) ?? iri
            names[id] = local
        }
        relationName = names
        var triples: [(Int, Int, Int)] = []
        for (headText, links) in kg {
            guard let head = Int(headText) else { throw CRSDataError("dbpedia_subkg.json: head '\(headText)' is not an id") }
            for link in links where link.count == 2 && names[link[0]] != Self.selfLoop {
                triples.append((head, link[0], link[1]))
            }
        }
        triples.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        self.triples = triples
    }

    /// The dialogues of a `*_data_dbpedia.jsonl` file, one per non-empty line.
    public func dialogues(path: String) throws(CRSDataError) -> [[DialogueTurn]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CRSDataError("cannot read \(path)") }
        var dialogues: [[DialogueTurn]] = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let turns = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [[String: Any]] else {
                throw CRSDataError("\(path):\(number + 1): not a list of turns")
            }
            dialogues.append(turns.map { turn in
                let entityLinks = turn["entity_link"] as? [String] ?? [], movieLinks = turn["movie_link"] as? [String] ?? []
                var named: [(id: Int, surface: String)] = []
                for (links, names) in [(entityLinks, turn["entity_name"] as? [String] ?? []), (movieLinks, turn["movie_name"] as? [String] ?? [])]
                where links.count == names.count {
                    for (link, name) in zip(links, names) { if let id = entityID[link] { named.append((id, name)) } }
                }
                return DialogueTurn(role: turn["role"] as? String ?? "", text: turn["text"] as? String ?? "",
                                    entityIDs: entityLinks.compactMap { entityID[$0] }, movieIDs: movieLinks.compactMap { entityID[$0] },
                                    namedMentions: named)
            })
        }
        return dialogues
    }

    /// The protocol's samples of a set of dialogues.
    public func samples(_ dialogues: [[DialogueTurn]]) -> [CRSSample] {
        var samples: [CRSSample] = []
        for (d, turns) in dialogues.enumerated() {
            var context: [Int] = [], seen = Set<Int>()
            for (t, turn) in turns.enumerated() {
                if t >= 1, turn.role == "RECOMMENDER" {
                    var gold: [Int] = [], goldSeen = Set<Int>()
                    for id in turn.movieIDs where items.contains(id) && goldSeen.insert(id).inserted { gold.append(id) }
                    if !gold.isEmpty { samples.append(CRSSample(dialog: d, turn: t, contextIDs: context, gold: gold)) }
                }
                for id in turn.entityIDs + turn.movieIDs where seen.insert(id).inserted { context.append(id) }
            }
        }
        return samples
    }
}

public struct CRSDataError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
