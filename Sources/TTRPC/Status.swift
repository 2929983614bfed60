/// google.rpc.Code values, as carried in `google.rpc.Status.code`.
public enum RPCStatusCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    public var description: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}

/// An error with an RPC status: what handlers throw and what clients receive.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RPCStatusCode
    public var message: String

    public init(_ code: RPCStatusCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Decodes a wire status; unknown code numbers become UNKNOWN.
    public init(status: Google_Rpc_Status) {
        self.code = RPCStatusCode(rawValue: status.code) ?? .unknown
        self.message = status.message
    }

    public var status: Google_Rpc_Status {
        var status = Google_Rpc_Status()
        status.code = code.rawValue
        status.message = message
        return status
    }

    public var description: String { "\(code): \(message)" }
}

/// Errors from domain modules conform to this to choose their own RPC status
/// at the boundary; anything else becomes INTERNAL.
public protocol RPCStatusConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError: RPCStatusConvertible {
    public var rpcError: RPCError { self }
}
