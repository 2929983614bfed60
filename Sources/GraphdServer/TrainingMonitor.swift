import CoreMetrics
import GraphdProto
import Synchronization

/// What a service's training job has done so far, for its progress RPC: the
/// trainer reports each epoch from its queue, and a caller watching its Train
/// call reads the latest figures from any connection. Holds one job: the
/// running one, else the last one since graphd started.
final class TrainingMonitor: Sendable {
    /// One job's hold on the monitor: a job that a newer one replaced reports nothing.
    struct Ticket: Sendable {
        fileprivate let number: UInt64
    }

    private struct Job {
        var number: UInt64 = 0
        var progress = Graphd_V1_TrainingProgress()
        var start: ContinuousClock.Instant?
    }

    private let job = Mutex(Job())
    /// The model's name in the metrics (`graphd_training_*{model=…}`).
    let model: String

    init(model: String) {
        self.model = model
    }

    /// A job starts; the previous one's figures are dropped.
    func begin(maxEpochs: Int) -> Ticket {
        job.withLock { job in
            job = Job(number: job.number &+ 1)
            job.progress.running = true
            job.progress.maxEpochs = UInt32(clamping: maxEpochs)
            job.start = .now
            publish(job.progress)
            return Ticket(number: job.number)
        }
    }

    /// `epoch` (counted from 1) is done with these losses.
    func report(_ ticket: Ticket, epoch: Int, trainingLoss: Float, validationLoss: Float) {
        job.withLock { job in
            guard job.number == ticket.number, job.progress.running else { return }
            job.progress.epoch = UInt32(clamping: epoch)
            job.progress.trainingLoss = trainingLoss
            job.progress.validationLoss = validationLoss
            if job.progress.bestEpoch == 0 || validationLoss < job.progress.bestValidationLoss {
                job.progress.bestValidationLoss = validationLoss
                job.progress.bestEpoch = UInt32(clamping: epoch)
            }
            publish(job.progress)
        }
    }

    /// The job ended: `nil` when it stored its weights, else why it did not.
    func end(_ ticket: Ticket, failure: (any Error)?) {
        job.withLock { job in
            guard job.number == ticket.number, job.progress.running else { return }
            job.progress.running = false
            job.progress.outcome = failure.map { "\($0)" } ?? "ok"
            job.progress.seconds = job.start.map { (ContinuousClock.now - $0).seconds } ?? 0
            publish(job.progress)
            if failure != nil { CoreMetrics.Counter(label: "graphd_training_failures_total", dimensions: [("model", model)]).increment() }
        }
    }

    /// The job's state as Prometheus gauges: a scrape follows a long training run.
    private func publish(_ progress: Graphd_V1_TrainingProgress) {
        let dimensions = [("model", model)]
        CoreMetrics.Gauge(label: "graphd_training_running", dimensions: dimensions).record(progress.running ? 1 : 0)
        CoreMetrics.Gauge(label: "graphd_training_epoch", dimensions: dimensions).record(Int(progress.epoch))
        CoreMetrics.Gauge(label: "graphd_training_validation_loss", dimensions: dimensions).record(Double(progress.validationLoss))
        CoreMetrics.Gauge(label: "graphd_training_best_validation_loss", dimensions: dimensions).record(Double(progress.bestValidationLoss))
    }

    /// The figures now.
    var current: Graphd_V1_TrainingProgress {
        job.withLock { job in
            var progress = job.progress
            if progress.running, let start = job.start { progress.seconds = (ContinuousClock.now - start).seconds }
            return progress
        }
    }

    /// Runs `body` as one job: begun before, ended with its outcome after.
    func run<Result>(maxEpochs: Int, _ body: (Ticket) async throws -> Result) async throws -> Result {
        let ticket = begin(maxEpochs: maxEpochs)
        return try await finish(ticket) { try await body(ticket) }
    }

    /// Ends `ticket`'s job with the outcome of `body`, its last part.
    func finish<Result>(_ ticket: Ticket, _ body: () async throws -> Result) async throws -> Result {
        do {
            let result = try await body()
            end(ticket, failure: nil)
            return result
        } catch {
            end(ticket, failure: error)
            throw error
        }
    }
}
