@testable import GraphdServer
import Testing

struct TrainingMonitorTests {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "no outcomes to train on" }
    }

    @Test func aJobReportsItsEpochsAndBestLossThenItsOutcome() async throws {
        let monitor = TrainingMonitor(model: "test")
        #expect(!monitor.current.running && monitor.current.epoch == 0 && monitor.current.outcome.isEmpty)
        let ticket = monitor.begin(maxEpochs: 10)
        monitor.report(ticket, epoch: 1, trainingLoss: 0.9, validationLoss: 0.8)
        monitor.report(ticket, epoch: 2, trainingLoss: 0.7, validationLoss: 0.6)
        monitor.report(ticket, epoch: 3, trainingLoss: 0.5, validationLoss: 0.65)
        var progress = monitor.current
        #expect(progress.running && progress.outcome.isEmpty)
        #expect(progress.epoch == 3 && progress.maxEpochs == 10)
        #expect(progress.trainingLoss == 0.5 && progress.validationLoss == 0.65)
        #expect(progress.bestValidationLoss == 0.6 && progress.bestEpoch == 2)
        monitor.end(ticket, failure: nil)
        progress = monitor.current
        #expect(!progress.running && progress.outcome == "ok" && progress.epoch == 3)
        // After the end, a late report changes nothing.
        monitor.report(ticket, epoch: 4, trainingLoss: 0.1, validationLoss: 0.1)
        #expect(monitor.current.epoch == 3)
    }

    @Test func aNewerJobReplacesTheOlderOnesFigures() async throws {
        let monitor = TrainingMonitor(model: "test")
        let older = monitor.begin(maxEpochs: 5)
        monitor.report(older, epoch: 1, trainingLoss: 1, validationLoss: 1)
        let newer = monitor.begin(maxEpochs: 7)
        #expect(monitor.current.epoch == 0 && monitor.current.maxEpochs == 7)
        // The older job's late reports and end do not touch the newer one.
        monitor.report(older, epoch: 2, trainingLoss: 0.5, validationLoss: 0.5)
        monitor.end(older, failure: nil)
        #expect(monitor.current.running && monitor.current.epoch == 0)
        monitor.report(newer, epoch: 1, trainingLoss: 0.4, validationLoss: 0.3)
        #expect(monitor.current.epoch == 1 && monitor.current.bestEpoch == 1)
    }

    @Test func aFailedJobSaysWhy() async throws {
        let monitor = TrainingMonitor(model: "test")
        await #expect(throws: Refused.self) {
            try await monitor.run(maxEpochs: 3) { ticket in
                monitor.report(ticket, epoch: 1, trainingLoss: 1, validationLoss: 1)
                throw Refused()
            }
        }
        let progress = monitor.current
        #expect(!progress.running && progress.epoch == 1 && progress.outcome == "no outcomes to train on")
        let value = try await monitor.run(maxEpochs: 3) { _ in 42 }
        #expect(value == 42 && monitor.current.outcome == "ok" && monitor.current.epoch == 0)
    }
}
