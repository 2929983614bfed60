/// A multiple-choice question as prompts write it: in the prompt's last block
/// (after the last blank line, so a few-shot prefix is skipped), a stem, then
/// two or more options on lines of their own, lettered from A: "A) …", "(A) …",
/// "A. …" or "A: …". Anything after the options (an instruction, "Answer:") is
/// ignored.
///
/// The router compares questions by their stem's words and their options, and
/// reads which option an LLM chose from the start of its answer.
public struct ChoiceQuestion: Sendable, Equatable {
    /// The stem, lowercased with spaces collapsed.
    public let stem: String
    /// The stem's distinct words, lowercased (letters and digits), sorted.
    public let stemWords: [String]
    /// The options' texts, lowercased with spaces collapsed, in letter order.
    public let options: [String]
    /// The options as a set, the key under which variants of a question are found.
    public let optionSetKey: String

    /// More options than this and the text is not read as a question.
    public static let maxOptions = 10

    public init(stem: String, options: [String]) {
        self.stem = Self.normalized(Substring(stem))
        var words = Set<String>()
        Self.forEachWord(Substring(stem)) { words.insert($0) }
        self.stemWords = words.sorted()
        self.options = options.map { Self.normalized(Substring($0)) }
        optionSetKey = self.options.sorted().joined(separator: "\u{1}")
    }

    /// Nil when the text holds no lettered options (or only one).
    public init?(parsing text: String) {
        let lines = Self.lastBlock(of: text)
        var stem: [Substring] = []
        var options: [Substring] = []
        for line in lines {
            if let (letter, body) = Self.optionLine(line), letter == options.count, options.count < Self.maxOptions {
                options.append(body)
            } else if options.isEmpty {
                stem.append(line)
            } else {
                break
            }
        }
        guard options.count >= 2 else { return nil }
        self.init(stem: stem.joined(separator: " "), options: options.map(String.init))
    }

    /// The option an LLM's answer names, or nil: a leading letter standing alone
    /// ("B", "B\n", "B)", "(B)", "B.", "B:"), or the whole answer equal to one
    /// option's text. An answer that explains or refuses names none.
    public func option(namedBy answer: String) -> Int? {
        let trimmed = answer.drop { $0.isWhitespace }
        var scalars = trimmed.unicodeScalars[...]
        let parenthesised = scalars.first == "("
        if parenthesised { scalars = scalars.dropFirst() }
        if let first = scalars.first, let index = Self.letterIndex(first), index < options.count {
            let rest = scalars.dropFirst()
            let next = rest.first
            let standsAlone = parenthesised ? next == ")"
                : next == nil || next == ")" || next == "." || next == ":" || (next.map { $0.properties.isWhitespace } ?? false)
                    && rest.drop(while: { $0.properties.isWhitespace }).isEmpty
            if standsAlone { return index }
        }
        let text = Self.normalized(Substring(trimmed))
        return options.firstIndex(of: text)
    }

    // MARK: Parsing

    /// The trimmed lines of the prompt's last block (`QueryTextFocus.lastBlock`).
    static func lastBlock(of text: String) -> [Substring] {
        QueryTextFocus.lastBlock(of: text).split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }
    }

    /// "A) text", "(A) text", "A. text", "A: text" → (0, text).
    static func optionLine(_ line: Substring) -> (Int, Substring)? {
        var scalars = line.unicodeScalars[...]
        let parenthesised = scalars.first == "("
        if parenthesised { scalars = scalars.dropFirst() }
        guard let letter = scalars.first, let index = letterIndex(letter) else { return nil }
        scalars = scalars.dropFirst()
        guard let mark = scalars.first, parenthesised ? mark == ")" : (mark == ")" || mark == "." || mark == ":") else { return nil }
        scalars = scalars.dropFirst()
        guard scalars.first.map({ $0.properties.isWhitespace }) ?? false else { return nil }
        let body = Substring(scalars).trimmingWhitespace()
        return body.isEmpty ? nil : (index, body)
    }

    static func letterIndex(_ scalar: Unicode.Scalar) -> Int? {
        guard scalar.value >= 65, scalar.value < 65 + UInt32(maxOptions) else { return nil }
        return Int(scalar.value - 65)
    }

    /// Lowercased, whitespace runs as one space, trimmed. ASCII text (the common
    /// case, on Route's path) byte by byte; the same result as the general path.
    static func normalized(_ text: Substring) -> String {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var space = false
        for byte in text.utf8 {
            if isASCIIWhitespace(byte) {
                space = !out.isEmpty
                continue
            }
            if space { out.append(0x20); space = false }
            out.append(asciiLowercased(byte))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Calls `body` with each run of letters and digits, lowercased.
    static func forEachWord(_ text: Substring, _ body: (String) -> Void) {
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            var word = ""
            for character in text.lowercased() {
                if character.isLetter || character.isNumber {
                    word.append(character)
                } else if !word.isEmpty {
                    body(word)
                    word = ""
                }
            }
            if !word.isEmpty { body(word) }
            return
        }
        var word: [UInt8] = []
        for byte in text.utf8 {
            let lower = asciiLowercased(byte)
            if (lower >= 0x61 && lower <= 0x7A) || (byte >= 0x30 && byte <= 0x39) {
                word.append(lower)
            } else if !word.isEmpty {
                body(String(decoding: word, as: UTF8.self))
                word.removeAll(keepingCapacity: true)
            }
        }
        if !word.isEmpty { body(String(decoding: word, as: UTF8.self)) }
    }

    static func isASCIIWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }
    static func asciiLowercased(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte }
}
