import GraphCore
import GraphStore
import TTRPC
import TextEmbedding

// Each library's typed error gets its RPC status here, at the boundary.

extension GraphError: RPCStatusConvertible {
    public var rpcError: RPCError {
        let code: RPCStatusCode = switch kind {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .failedPrecondition: .failedPrecondition
        case .resourceExhausted: .resourceExhausted
        case .outOfRange: .outOfRange
        case .unavailable: .unavailable
        case .dataLoss: .dataLoss
        case .internal: .internal
        }
        return RPCError(code, message)
    }
}

extension SQLiteError: RPCStatusConvertible {
    public var rpcError: RPCError {
        let primary = code & 0xff
        switch primary {
        case 13: // SQLITE_FULL
            return RPCError(.resourceExhausted, "store is full, nothing was written: \(description)")
        case 8: // SQLITE_READONLY
            return RPCError(.failedPrecondition, "store is read-only, nothing was written: \(description)")
        case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
            return RPCError(.unavailable, "store is busy, nothing was written; retry: \(description)")
        case 10, 14: // SQLITE_IOERR, SQLITE_CANTOPEN
            return RPCError(.unavailable, "store I/O error, nothing was written: \(description)")
        default:
            return RPCError(.internal, "store error: \(description)")
        }
    }
}

extension IgraphError: RPCStatusConvertible {
    public var rpcError: RPCError { RPCError(.internal, description) }
}

extension EmbeddingError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument: RPCError(.invalidArgument, description)
        case .modelUnavailable: RPCError(.failedPrecondition, description)
        case .invalidModel: RPCError(.internal, description)
        }
    }
}

extension BackgroundJobs.Stopped: RPCStatusConvertible {
    /// Another replica or a restarted graphd can answer: retryable.
    public var rpcError: RPCError { RPCError(.unavailable, description) }
}
