import Foundation
import GraphAlgorithms

/// Finds past conversations whose words resemble a dialogue's: TF-IDF over the
/// conversations' texts, cosine similarity through an inverted index.
///
/// Retrieval seeds the PPR with the closest conversations as well as with the
/// dialogue's linked entities: the words a seeker uses ("scary", "for my
/// kids", "something light") say what they want even where nothing in them
/// links to the graph, and past conversations that used them lead to the
/// items recommended there.
///
/// Words are `EntityLinker.words` of two characters or more; a word must occur
/// in at least two conversations to count. Weights: (1 + ln tf) · idf with
/// idf = ln((1 + N) / (1 + df)) + 1, each vector L2-normalised. The role label
/// that starts each stored line ("SEEKER: …") is not a word of the dialogue and
/// is skipped.
public struct ConversationTextIndex: Sendable {
    struct Posting: Sendable {
        var document: Int32
        var weight: Float
    }

    /// Conversation node of each document.
    public let conversations: [UInt32]
    private let terms: [String: Int32]
    private let inverseDocumentFrequency: [Float]
    private let postings: [[Posting]]

    /// How many conversations carry at least one indexed word.
    public var count: Int { conversations.count }
    public var vocabularySize: Int { terms.count }

    public static let minimumDocumentFrequency = 2

    /// `documents`: each conversation node with its stored text ("ROLE: text" lines).
    public init(documents: [(node: UInt32, text: String)]) {
        let counted = documents.map { (node: $0.node, counts: Self.termCounts(Self.words(ofStoredText: $0.text))) }
        var documentFrequency: [String: Int] = [:]
        for document in counted {
            for term in document.counts.keys { documentFrequency[term, default: 0] += 1 }
        }
        var terms: [String: Int32] = [:]
        var idf: [Float] = []
        let n = Double(counted.count)
        for (term, df) in documentFrequency.sorted(by: { $0.key < $1.key }) where df >= Self.minimumDocumentFrequency {
            terms[term] = Int32(idf.count)
            idf.append(Float(log((1 + n) / (1 + Double(df))) + 1))
        }
        var postings = [[Posting]](repeating: [], count: idf.count)
        var conversations: [UInt32] = []
        for document in counted {
            let vector = Self.vector(document.counts, terms: terms, idf: idf)
            guard !vector.isEmpty else { continue }
            let index = Int32(conversations.count)
            conversations.append(document.node)
            for (term, weight) in vector { postings[Int(term)].append(Posting(document: index, weight: weight)) }
        }
        self.conversations = conversations
        self.terms = terms
        self.inverseDocumentFrequency = idf
        self.postings = postings
    }

    /// The `limit` conversations most similar to `text` (cosine > 0), best first;
    /// ties go to the lower node id.
    public func similar(to text: String, limit: Int) -> [(node: UInt32, similarity: Double)] {
        guard limit > 0, !conversations.isEmpty else { return [] }
        let query = Self.vector(Self.termCounts(Self.words(text)), terms: terms, idf: inverseDocumentFrequency)
        guard !query.isEmpty else { return [] }
        var scores = [Float](repeating: 0, count: conversations.count)
        for (term, weight) in query {
            for posting in postings[Int(term)] { scores[Int(posting.document)] += weight * posting.weight }
        }
        var best = TopK(capacity: limit)
        for (document, score) in scores.enumerated() where score > 0 && best.admits(Double(score)) {
            best.offer(node: conversations[document], score: Double(score))
        }
        return best.sorted().map { ($0.node, $0.score) }
    }

    static func words(_ text: String) -> [String] {
        EntityLinker.words(text).filter { $0.count >= 2 }
    }

    /// The words of a stored conversation text, without each line's "ROLE:" label.
    static func words(ofStoredText text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).flatMap { line -> [String] in
            var body = Substring(line)
            if let colon = line.firstIndex(of: ":"), line.distance(from: line.startIndex, to: colon) <= 64,
               line[..<colon].allSatisfy({ $0.isLetter || $0 == "_" }) {
                body = line[line.index(after: colon)...]
            }
            return words(String(body))
        }
    }

    static func termCounts(_ words: [String]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for word in words { counts[word, default: 0] += 1 }
        return counts
    }

    /// Sublinear TF-IDF of the known terms, L2-normalised, in term order.
    static func vector(_ counts: [String: Int], terms: [String: Int32], idf: [Float]) -> [(term: Int32, weight: Float)] {
        var vector: [(term: Int32, weight: Float)] = []
        for (word, count) in counts {
            guard let term = terms[word] else { continue }
            vector.append((term, (1 + Float(log(Double(count)))) * idf[Int(term)]))
        }
        // Summed in term order: a dictionary's order changes from process to
        // process, and a different rounding would reorder near-ties.
        vector.sort { $0.term < $1.term }
        let squares = vector.reduce(Float(0)) { $0 + $1.weight * $1.weight }
        guard squares > 0 else { return [] }
        let norm = squares.squareRoot()
        return vector.map { ($0.term, $0.weight / norm) }
    }
}
