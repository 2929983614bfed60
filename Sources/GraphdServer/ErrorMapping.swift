import BackgroundWork
import Conversational
import GraphAlgorithms
import GraphCore
import GraphStore
import GraphdProto
import MessagePassing
import Recommendation
import Replication
import Routing
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
        switch category {
        case .full: RPCError(.resourceExhausted, "store is full, nothing was written: \(description)")
        case .readOnly: RPCError(.failedPrecondition, "store is read-only, nothing was written: \(description)")
        case .busy: RPCError(.unavailable, "store is busy, nothing was written; retry: \(description)")
        case .ioError: RPCError(.unavailable, "store I/O error, nothing was written: \(description)")
        case .other: RPCError(.internal, "store error: \(description)")
        }
    }
}

extension NATSError: RPCStatusConvertible {
    /// NATS away or JetStream electing a leader: retryable.
    public var rpcError: RPCError { RPCError(.unavailable, "replication log: \(description)") }
}

extension NotPrimaryError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch reason {
        case .replica(let primary):
            RPCError(.failedPrecondition, "this graphd is a replica and takes no writes: \(GraphdReplicationWire.primaryMarker)\(primary)")
        case .noPrimary, .takingOver, .stopped: RPCError(.unavailable, description)
        }
    }
}

extension LogEntryError: RPCStatusConvertible {
    public var rpcError: RPCError { RPCError(.internal, "replication log: \(description)") }
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

extension RecommendationError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument: RPCError(.invalidArgument, description)
        case .notFound: RPCError(.notFound, description)
        }
    }
}

extension PPRError: RPCStatusConvertible {
    /// The walk's parameters or seeds as the caller sent them.
    public var rpcError: RPCError { RPCError(.invalidArgument, description) }
}

extension MatrixError: RPCStatusConvertible {
    /// Shapes are graphd's own (a model build): a fault, not the caller's input.
    public var rpcError: RPCError { RPCError(.internal, description) }
}

extension RoutingError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument: RPCError(.invalidArgument, description)
        case .failedPrecondition: RPCError(.failedPrecondition, description)
        case .notFound: RPCError(.notFound, description)
        case .cancelled: RPCError(.cancelled, description)
        case .internalError: RPCError(.internal, description)
        }
    }
}

extension RetrievalError: RPCStatusConvertible {
    public var rpcError: RPCError {
        switch kind {
        case .invalidArgument: RPCError(.invalidArgument, description)
        case .failedPrecondition: RPCError(.failedPrecondition, description)
        case .cancelled: RPCError(.cancelled, description)
        }
    }
}

/// The one rule for a request whose work stopped before its end (a training
/// loop that saw `isCancelled`): the daemon shutting down is UNAVAILABLE (retry
/// on another or a restarted graphd), a deadline that passed is
/// DEADLINE_EXCEEDED, anything else the client's own cancellation, CANCELLED.
func stoppedEarly(_ what: String, deadline: ContinuousClock.Instant?, jobs: BackgroundJobs) -> RPCError {
    if jobs.isStopping { return RPCError(.unavailable, "graphd is shutting down: \(what)") }
    if let deadline, ContinuousClock.now >= deadline { return RPCError(.deadlineExceeded, "deadline exceeded: \(what)") }
    return RPCError(.cancelled, "cancelled: \(what)")
}
