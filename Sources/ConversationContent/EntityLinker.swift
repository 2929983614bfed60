import Foundation

/// Links raw dialogue text to graph nodes by name: case-, accent- and
/// punctuation-insensitive, longest match first, left to right, without
/// overlaps. Names come from the nodes (display names, with and without a
/// trailing "(…)" qualifier) and from aliases (surface forms seen in training
/// dialogues).
public struct EntityLinker: Sendable {
    /// One link: the node, the words it covered (normalised) and where.
    public struct Link: Sendable, Equatable {
        public var node: UInt32
        public var surface: String
        /// Index of the first word in the text's normalised words.
        public var wordOffset: Int
    }

    /// Normalised phrase → the nodes it names (usually one).
    private var phrases: [String: [UInt32]] = [:]
    /// Longest phrase, in words.
    private(set) var longestPhrase = 0
    /// First word → the longest phrase that starts with it, in words: most
    /// words start none, and are passed over without building a phrase.
    private var longestFrom: [String: Int] = [:]

    /// Single words that are never linked on their own (titles such as "Her",
    /// "Up" or "It" would otherwise fire in every dialogue).
    static let stopwords: Set<String> = [
        "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "big", "but", "by", "can", "do",
        "for", "from", "go", "good", "great", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i",
        "if", "in", "is", "it", "its", "just", "like", "love", "me", "more", "movie", "movies", "my", "no", "not",
        "now", "of", "oh", "ok", "okay", "on", "one", "or", "out", "she", "so", "some", "that", "the", "them",
        "then", "there", "they", "this", "time", "to", "too", "up", "us", "very", "was", "we", "well", "what",
        "when", "which", "who", "why", "will", "with", "yes", "you", "your", "film", "films", "watch", "seen",
        "see", "thanks", "thank", "hello", "hi", "hey", "sure", "really", "also", "maybe", "both", "new", "old",
    ]

    public init() {}

    /// Adds `name` (and, when it ends in a "(…)" qualifier, the name without it) for `node`.
    public mutating func add(name: String, node: UInt32) {
        var forms = [Self.words(name)]
        if let open = name.lastIndex(of: "("), name.hasSuffix(")"), open > name.startIndex {
            forms.append(Self.words(String(name[..<open])))
        }
        for words in forms where Self.isLinkable(words) {
            let phrase = words.joined(separator: " ")
            if phrases[phrase]?.contains(node) == true { continue }
            phrases[phrase, default: []].append(node)
            longestPhrase = max(longestPhrase, words.count)
            longestFrom[words[0]] = max(longestFrom[words[0]] ?? 0, words.count)
        }
    }

    public var phraseCount: Int { phrases.count }

    /// The links in `text`, in order.
    public func link(_ text: String) -> [Link] {
        let words = Self.words(text)
        var links: [Link] = []
        var start = 0
        while start < words.count {
            var matched = 0
            for length in stride(from: min(longestFrom[words[start]] ?? 0, words.count - start), through: 1, by: -1) {
                let phrase = words[start..<start + length].joined(separator: " ")
                if let nodes = phrases[phrase] {
                    for node in nodes { links.append(Link(node: node, surface: phrase, wordOffset: start)) }
                    matched = length
                    break
                }
            }
            start += max(matched, 1)
        }
        return links
    }

    /// Lower-cased, accent-free words of letters and digits ("Knives Out!" → ["knives", "out"]);
    /// apostrophes vanish inside words ("Schindler's" → "schindlers").
    public static func words(_ text: String) -> [String] {
        asciiWords(text) ?? foldedWords(text)
    }

    /// `words` through Foundation's folding: any text.
    static func foldedWords(_ text: String) -> [String] {
        let folded = text.folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil).lowercased()
        var words: [String] = [], current = ""
        for character in folded {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if character == "'" || character == "’" {
                continue
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// `words` for ASCII text, byte by byte (the same result, several times
    /// faster than folding through Foundation); nil for any other text.
    static func asciiWords(_ text: String) -> [String]? {
        var text = text
        return text.withUTF8 { bytes -> [String]? in
            var words: [String] = []
            var current: [UInt8] = []
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): current.append(byte)
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): current.append(byte | 0x20)
                case UInt8(ascii: "'"): continue
                case 0x80...: return nil
                default:
                    if !current.isEmpty {
                        words.append(String(decoding: current, as: UTF8.self))
                        current.removeAll(keepingCapacity: true)
                    }
                }
            }
            if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)) }
            return words
        }
    }

    private static func isLinkable(_ words: [String]) -> Bool {
        guard let first = words.first else { return false }
        if words.count == 1 { return first.count >= 3 && !stopwords.contains(first) && !first.allSatisfy(\.isNumber) }
        return !words.allSatisfy { stopwords.contains($0) }
    }

    /// The readable name in a DBpedia IRI: "<http://dbpedia.org/resource/Hoffa_(film)>" →
    /// "Hoffa (film)"; role suffixes such as "__PersonFunction__1" are dropped.
    public static func displayName(iri: String) -> String {
        var local = iri.trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
        if let slash = local.lastIndex(of: "/") { local = String(local[local.index(after: slash)...]) }
        if let role = local.range(of: "__") { local = String(local[..<role.lowerBound]) }
        local = local.removingPercentEncoding ?? local
        return local.replacingOccurrences(of: "_", with: " ").trimmingCharacters(in: .whitespaces)
    }
}
