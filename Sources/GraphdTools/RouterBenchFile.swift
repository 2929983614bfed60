import ArgumentParser
import Foundation
import GraphdProto
import RoutingSchema

/// A task's query text as the command line spells it (`QueryTextFocus` on the wire).
public enum QueryTextMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    case full, last

    public var focus: QueryTextFocus { self == .full ? .full : .lastBlock }
    public var wire: Graphd_V1_QueryText { self == .full ? .full : .lastBlock }

    /// Shown beside each value in --help.
    public var defaultValueDescription: String {
        self == .full ? "the whole prompt" : "the block after the last blank line (the question after few-shot examples)"
    }
}

/// Per-task query text modes: a default and `TASK=MODE` overrides.
public struct QueryTextPolicy {
    public var defaultMode: QueryTextMode = .last
    public var overrides: [String: QueryTextMode] = [:]

    public init(defaultMode: QueryTextMode, overrides: [String]) throws {
        self.defaultMode = defaultMode
        for item in overrides {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let mode = QueryTextMode(rawValue: parts[1]) else {
                throw fail(message: "--task-text expects TASK=full|last, got '\(item)'", code: ToolExit.usage)
            }
            self.overrides[parts[0]] = mode
        }
    }

    public func mode(task: String) -> QueryTextMode { overrides[task] ?? defaultMode }

    public func focus(task: String) -> QueryTextFocus { mode(task: task).focus }

    public func text(_ prompt: String, task: String) -> String { focus(task: task).identifyingText(prompt) }
}

/// One RouterBench-style CSV (RouterDC layout): a leading index column,
/// sample_id, prompt (a Python list literal of strings), eval_name, one 0/1
/// performance column per LLM, '<llm>|total_cost' (US dollars) per LLM.
public struct RouterBenchFile {
    public struct Row {
        /// The leading index column, as written.
        public var key: String
        public var sampleID: String
        public var task: String
        /// The prompt's strings joined by newlines.
        public var prompt: String
        /// Per LLM, in `llms` order; nil for an empty cell (the LLM was not run on the
        /// row; router_eval.py scores it as 0, but it is no observed failure).
        public var effects: [Float?]
        public var costs: [Double]
        /// Per LLM: its answer ('<llm>|model_response'), nil where the file has no such column.
        public var answers: [String?]

        /// Per LLM: the option its answer names, when the query is a multiple-choice question.
        public func chosenOptions(_ question: ChoiceQuestion?) -> [Int?] {
            answers.map { answer in answer.flatMap { question?.option(namedBy: $0) } }
        }
    }

    public var path: String
    public var llms: [String]
    public var rows: [Row]

    public init(path: String) throws {
        self.path = path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw fail(message: "cannot read \(path) as UTF-8 text", code: ToolExit.noInput)
        }
        var records = CSV.records(Substring(text), separator: ",")
        guard !records.isEmpty else { throw fail(message: "\(path) is empty", code: ToolExit.rejected) }
        let header = records.removeFirst()
        var column: [String: Int] = [:]
        for (i, name) in header.enumerated() { column[name] = i }
        llms = header.filter { !$0.isEmpty && column[$0 + "|total_cost"] != nil }
        for name in ["sample_id", "prompt", "eval_name"] where column[name] == nil {
            throw fail(message: "\(path): no '\(name)' column", code: ToolExit.rejected)
        }
        guard !llms.isEmpty else { throw fail(message: "\(path): no LLM columns (X with X|total_cost)", code: ToolExit.rejected) }
        let llmColumns = llms.map { column[$0]! }, costColumns = llms.map { column[$0 + "|total_cost"]! }
        let responseColumns = llms.map { column[$0 + "|model_response"] }
        let sampleColumn = column["sample_id"]!, promptColumn = column["prompt"]!, taskColumn = column["eval_name"]!
        rows = []
        rows.reserveCapacity(records.count)
        for (number, record) in records.enumerated() where !(record.count == 1 && record[0].isEmpty) {
            guard record.count == header.count else {
                throw fail(message: "\(path): record \(number + 1) has \(record.count) fields, the header \(header.count)", code: ToolExit.rejected)
            }
            var effects: [Float?] = [], costs: [Double] = []
            for (j, c) in llmColumns.enumerated() {
                let cell = record[c].trimmingCharacters(in: .whitespaces)
                if cell.isEmpty {
                    effects.append(nil)
                } else {
                    guard let effect = Float(cell), effect.isFinite else {
                        throw fail(message: "\(path): record \(number + 1): \(llms[j]) '\(cell)' is not a number", code: ToolExit.rejected)
                    }
                    effects.append(effect)
                }
                let costCell = record[costColumns[j]].trimmingCharacters(in: .whitespaces)
                guard let cost = Double(costCell), cost.isFinite, cost >= 0 else {
                    throw fail(message: "\(path): record \(number + 1): \(llms[j])|total_cost '\(costCell)' is not a cost", code: ToolExit.rejected)
                }
                costs.append(cost)
            }
            rows.append(Row(key: record[0], sampleID: record[sampleColumn], task: record[taskColumn],
                            prompt: PythonStringList.joined(record[promptColumn]), effects: effects, costs: costs,
                            answers: responseColumns.map { $0.map { PythonStringList.joined(record[$0]) } }))
        }
    }
}

/// Reads a Python list literal of strings (`['a', "b\\n"]`), as RouterBench
/// stores prompts; anything else is taken verbatim.
public enum PythonStringList {
    public static func joined(_ literal: String) -> String {
        parse(literal)?.joined(separator: "\n") ?? literal
    }

    public static func parse(_ literal: String) -> [String]? {
        var chars = Array(literal.unicodeScalars)[...]
        func skipSpace() { while let c = chars.first, c.properties.isWhitespace { chars.removeFirst() } }
        skipSpace()
        guard chars.popFirst() == "[" else { return nil }
        var items: [String] = []
        while true {
            skipSpace()
            guard let c = chars.popFirst() else { return nil }
            if c == "]" { break }
            if c == "," { continue }
            guard c == "'" || c == "\"" else { return nil }
            var s = String.UnicodeScalarView()
            while true {
                guard let d = chars.popFirst() else { return nil }
                if d == c { break }
                guard d == "\\" else { s.append(d); continue }
                guard let e = chars.popFirst() else { return nil }
                switch e {
                case "n": s.append("\n")
                case "t": s.append("\t")
                case "r": s.append("\r")
                case "\\", "'", "\"": s.append(e)
                case "x", "u", "U":
                    let width = e == "x" ? 2 : e == "u" ? 4 : 8
                    guard chars.count >= width, let v = UInt32(String(String.UnicodeScalarView(chars.prefix(width))), radix: 16),
                          let scalar = Unicode.Scalar(v) else { return nil }
                    chars.removeFirst(width)
                    s.append(scalar)
                default: s.append("\\"); s.append(e)
                }
            }
            items.append(String(s))
        }
        skipSpace()
        return chars.isEmpty ? items : nil
    }
}

/// Descriptions used when RouterBench files give none.
public enum RouterBenchDefaults {
    public static func taskDescription(_ task: String) -> String {
        switch task {
        case "arc_challenge", "arc-challenge": return "ARC Challenge: grade-school science multiple-choice questions requiring reasoning"
        case "mbpp": return "MBPP: write a short Python function from a natural-language description"
        case "winograde", "winogrande": return "Winogrande: commonsense pronoun resolution, fill in the blank with one of two options"
        default: return "task \(task)"
        }
    }

    public static func llmDescription(_ name: String) -> String { "LLM \(name)" }
}
