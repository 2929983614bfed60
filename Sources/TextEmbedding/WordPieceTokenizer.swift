import Foundation

/// BERT's uncased tokenizer: the basic tokenizer (clean the text, space out
/// CJK characters, lower-case, strip accents, split on whitespace and
/// punctuation) followed by greedy longest-match-first WordPiece over the
/// model's `vocab.txt`. Produces `[CLS] … [SEP]`, truncated to `maxLength`.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let unknown: Int32
    public let classification: Int32
    public let separator: Int32
    public let maxLength: Int
    /// Words longer than this (in characters) become `[UNK]`, as in BERT.
    static let maxCharactersPerWord = 100

    /// Builds from the lines of `vocab.txt` (token i on line i).
    public init(vocabularyText: String, maxLength: Int = 256) throws(EmbeddingError) {
        var vocabulary: [String: Int32] = [:]
        var index: Int32 = 0
        for line in vocabularyText.split(separator: "\n", omittingEmptySubsequences: false) {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty, vocabulary[token] == nil { vocabulary[token] = index }
            index += 1
        }
        guard let unknown = vocabulary["[UNK]"], let classification = vocabulary["[CLS]"], let separator = vocabulary["[SEP]"] else {
            throw EmbeddingError(.invalidModel, "vocabulary lacks [UNK], [CLS] or [SEP]")
        }
        guard maxLength >= 2 else { throw EmbeddingError(.invalidArgument, "maximum length \(maxLength) leaves no room for [CLS] and [SEP]") }
        self.vocabulary = vocabulary
        self.unknown = unknown
        self.classification = classification
        self.separator = separator
        self.maxLength = maxLength
    }

    /// Token ids of `text`, with `[CLS]` and `[SEP]`.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [classification]
        let budget = maxLength - 2
        outer: for word in basicTokens(text) {
            for piece in wordPieces(word) {
                if ids.count - 1 >= budget { break outer }
                ids.append(piece)
            }
        }
        ids.append(separator)
        return ids
    }

    // MARK: Basic tokenizer

    func basicTokens(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty {
                words.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                flush()
            } else if Self.isCJK(value) {
                flush()
                words.append(String(scalar))
            } else {
                current.append(scalar)
            }
        }
        flush()
        var tokens: [String] = []
        for word in words {
            // Lower-case, then strip accents: NFD and drop combining marks.
            let normalized = word.lowercased().decomposedStringWithCanonicalMapping
            var piece = String.UnicodeScalarView()
            for scalar in normalized.unicodeScalars {
                if scalar.properties.generalCategory == .nonspacingMark { continue }
                if Self.isPunctuation(scalar) {
                    if !piece.isEmpty { tokens.append(String(piece)); piece = String.UnicodeScalarView() }
                    tokens.append(String(scalar))
                } else {
                    piece.append(scalar)
                }
            }
            if !piece.isEmpty { tokens.append(String(piece)) }
        }
        return tokens
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r": return true
        default: return scalar.properties.generalCategory == .spaceSeparator
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            let category = scalar.properties.generalCategory
            return category == .control || category == .format
        }
    }

    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    // MARK: WordPiece

    func wordPieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        guard scalars.count <= Self.maxCharactersPerWord else { return [unknown] }
        var pieces: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32? = nil
            while start < end {
                var candidate = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { candidate = "##" + candidate }
                if let id = vocabulary[candidate] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
