import GraphCore
import GraphdProto
import Replication
import ServiceLifecycle
import TTRPC

/// The replication rules every request passes before its handler: a replica
/// refuses writes (FAILED_PRECONDITION naming the primary), and a read that
/// carries metadata `min-log-sequence` waits, up to its deadline, until this
/// graphd has applied that sequence (read-your-writes on a replica).
struct ReplicationGate: Sendable {
    let replication: ReplicationController?

    func decide(_ context: TTRPCRequestContext) -> TTRPCGateDecision {
        if let replication, GraphdMethod(context.service, context.method).isWrite, let refusal = replication.writeRefusal {
            return .refuse(refusal.rpcError)
        }
        guard let text = context.metadataValue(GraphdReplicationWire.minLogSequenceKey) else { return .proceed }
        guard let sequence = UInt64(text) else {
            return .refuse(RPCError(.invalidArgument, "metadata \(GraphdReplicationWire.minLogSequenceKey) must be a log sequence number, got '\(text)'"))
        }
        // Alone, a graphd holds every write it acknowledged: nothing to wait for.
        guard let replication, replication.database.appliedLogSequence < sequence else { return .proceed }
        let deadline = context.deadline
        return .wait { try await replication.waitUntilApplied(sequence, deadline: deadline) }
    }
}

/// `ReplicationController.run` as a service: replicates until graceful shutdown.
public struct ReplicationService: Service {
    let controller: ReplicationController

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await controller.run() }
    }
}

extension GraphdServer {
    /// "single", "primary" or "replica".
    var role: String { replication?.role.rawValue ?? "single" }

    /// Whether /readyz says ready: always alone or as the primary; a replica
    /// only while it is at most `maxReadyLag` behind the log.
    var isReady: Bool {
        guard let status = replication?.status, status.role == .replica else { return true }
        return status.lagSeconds <= configuration.maxReadyLag.seconds
    }
}
