import ArgumentParser
import Foundation
import GraphdClient
import GraphdProto
import TextEmbedding

/// Exit codes graphctl and graphd-bench use, so scripts can tell failures apart (sysexits.h values).
public enum ToolExit {
    /// Bad command line (ArgumentParser's own validation code).
    public static let usage: Int32 = 64
    /// The server rejected the input: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, ...
    public static let rejected: Int32 = 65
    /// A local input file could not be read.
    public static let noInput: Int32 = 66
    /// No server at the socket, or the connection broke: UNAVAILABLE.
    public static let unavailable: Int32 = 69
    /// The server failed: INTERNAL, UNKNOWN, DATA_LOSS.
    public static let software: Int32 = 70
    /// DEADLINE_EXCEEDED: try again, perhaps with a longer --timeout.
    public static let tempfail: Int32 = 75
}

public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

/// Prints `error` to stderr and returns the exit code that classifies it.
public func fail(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    if let error = error as? ValidationError { return fail(message: error.message, code: ToolExit.usage) }
    guard let rpc = error as? RPCError else {
        return fail(message: "\(error)", code: ToolExit.software)
    }
    let code: Int32 = switch rpc.code {
    case .unavailable, .cancelled: ToolExit.unavailable
    case .deadlineExceeded: ToolExit.tempfail
    case .internal, .unknown, .dataLoss, .unimplemented: ToolExit.software
    default: ToolExit.rejected
    }
    return fail(message: "\(rpc.code): \(rpc.message)", code: code)
}

public func fail(message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("\(ProcessInfo.processInfo.processName): \(message)\n".utf8))
    return ExitCode(code)
}

/// Prints `object` as one line of JSON. A figure that was not measured (NaN or
/// infinite, such as a baseline skipped with a zero count) becomes `null`:
/// JSON has no NaN, and dropping the whole object would hide the figures that were.
public func printJSON(_ object: Any) {
    do {
        let data = try JSONSerialization.data(withJSONObject: jsonSafe(object), options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    } catch {
        log("\(ProcessInfo.processInfo.processName): cannot write the result as JSON: \(error)")
    }
}

private func jsonSafe(_ value: Any) -> Any {
    switch value {
    case let number as Double: number.isFinite ? number : NSNull()
    case let number as Float: number.isFinite ? number : NSNull()
    case let object as [String: Any]: object.mapValues(jsonSafe)
    case let array as [Any]: array.map(jsonSafe)
    default: value
    }
}

public func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension EmbeddingProvider: ExpressibleByArgument {}

/// Recommend's scorer as the command line spells it.
public enum ScorerChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case rp3beta, graph_filter, polynomial_filter, ppr

    public var wire: Graphd_V1_Scorer {
        switch self {
        case .rp3beta: .rp3Beta
        case .graph_filter: .graphFilter
        case .polynomial_filter: .polynomialFilter
        case .ppr: .ppr
        }
    }
}
