import BackgroundWork
import GraphStore
import Logging
import Routing
import MessagePassing
import ServiceLifecycle

/// The daemon's work besides serving requests, as a service of its own: the
/// compaction and model-refresh loops while it runs; on graceful shutdown it
/// stops them, then cancels and drains every background job. Put it before
/// `GraphdServer` in the `ServiceGroup`: services stop in reverse order, so the
/// listeners close first, then the jobs drain, and no GEMM runs when the
/// process exits.
public final class GraphdBackground: Service, Sendable {
    let database: GraphDatabase
    let jobs: BackgroundJobs
    let models: RecommendationModels
    let router: Router
    let logger: Logger
    /// `graphd --test-background-gemm`: a job that multiplies matrices for this
    /// long (or until cancelled), so a test can make the shutdown race certain.
    let diagnosticGEMM: Duration?

    init(server: GraphdServer) {
        database = server.database
        jobs = server.jobs
        models = server.models
        router = server.router.router
        logger = server.logger
        diagnosticGEMM = server.configuration.diagnosticGEMM
    }

    public func run() async throws {
        let database = self.database, models = self.models
        if let diagnosticGEMM { startDiagnosticGEMM(for: diagnosticGEMM) }
        await withTaskGroup(of: Void.self) { loops in
            loops.addTask { await database.runCompactionLoop() }
            loops.addTask { await models.runRefreshLoop(database: database) }
            try? await gracefulShutdown()
            loops.cancelAll()
        }
        let running = jobs.running
        if !running.isEmpty {
            logger.info("stopping background jobs", metadata: ["running": "\(running.map { "\($0.key.rawValue)" }.sorted())"])
        }
        await jobs.shutdown()
        await router.shutdown()
        logger.info("background jobs drained")
    }

    private func startDiagnosticGEMM(for duration: Duration) {
        let logger = self.logger
        jobs.schedule(.diagnostic) { job in
            let a = DenseMatrix(zeros: 384, 384)
            var products = 0
            let end = ContinuousClock.now + duration
            logger.info("diagnostic GEMM job started", metadata: ["seconds": "\(duration)"])
            while !job.isCancelled, ContinuousClock.now < end {
                _ = try? a.multiplied(by: a)
                products += 1
            }
            logger.info("diagnostic GEMM job ended", metadata: ["products": "\(products)", "cancelled": "\(job.isCancelled)"])
        }
    }
}
