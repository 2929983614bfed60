/// A failure of a graph operation, with the class of failure the caller needs
/// to react to. The RPC layer maps `kind` to a google.rpc.Code.
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidArgument
        case notFound
        case alreadyExists
        case failedPrecondition
        case resourceExhausted
        case outOfRange
        case unavailable
        case dataLoss
        case `internal`
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func invalid(_ message: String) -> GraphError { GraphError(.invalidArgument, message) }
    static func notFound(_ message: String) -> GraphError { GraphError(.notFound, message) }
}
