/// Which part of a prompt identifies the query, per task.
///
/// Few-shot prompts share a long prefix of worked examples; an embedding of the
/// whole prompt sees mostly that prefix, so every query of the task looks
/// alike. For such a task the router stores, embeds and matches only the block
/// after the last blank line: the question itself.
public enum QueryTextFocus: String, Sendable, Codable {
    /// The whole prompt.
    case full
    /// The block after the last blank line (a line of whitespace only counts as
    /// blank), trimmed; the whole prompt, trimmed, when it has no blank line.
    case lastBlock = "last_block"

    /// The part of `prompt` the router stores, embeds and matches.
    public func identifyingText(_ prompt: String) -> String {
        switch self {
        case .full: return prompt
        case .lastBlock: return String(Self.lastBlock(of: prompt))
        }
    }

    /// The last block of `text` that holds anything but whitespace, from its
    /// first to its last non-blank line, with the lines' own indentation; found
    /// by scanning from the end, so a long few-shot prefix costs nothing.
    public static func lastBlock(of text: String) -> Substring {
        let utf8 = text.utf8
        var blockStart: String.Index?
        var blockEnd: String.Index?
        var end = utf8.endIndex
        while true {
            let start = utf8[..<end].lastIndex(of: UInt8(ascii: "\n")).map { utf8.index(after: $0) } ?? utf8.startIndex
            if !text[start..<end].trimmingWhitespace().isEmpty {
                if blockEnd == nil { blockEnd = end }
                blockStart = start
            } else if blockEnd != nil {
                break
            }
            guard start > utf8.startIndex else { break }
            end = utf8.index(before: start)
        }
        guard let blockStart, let blockEnd else { return text[text.endIndex...] }
        return text[blockStart..<blockEnd].trimmingWhitespace()
    }
}

extension Substring {
    /// The substring without leading and trailing whitespace (of any kind, line breaks included).
    public func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = self[start...].lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<end]
    }
}
