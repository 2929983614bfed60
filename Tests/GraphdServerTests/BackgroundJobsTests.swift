import Foundation
import Synchronization
import Testing

import BackgroundWork

@Suite struct BackgroundJobsTests {
    /// What jobs saw, shared with the test.
    final class Probe: Sendable {
        let order = Mutex<[Int]>([])
        let overlapping = Atomic<Int>(0)
        let worst = Atomic<Int>(0)
        let started = Atomic<Bool>(false)
        let sawCancellation = Atomic<Bool>(false)
        let queuedRan = Atomic<Bool>(false)
        let cancelled = Atomic<Bool>(false)
    }

    @Test func jobsOfOneKindRunOneAtATimeInOrder() async throws {
        let jobs = BackgroundJobs(label: "test")
        let probe = Probe()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    try await jobs.perform(.recommendationModel) { _ in
                        let now = probe.overlapping.wrappingAdd(1, ordering: .relaxed).newValue
                        _ = probe.worst.max(now, ordering: .relaxed)
                        probe.order.withLock { $0.append(i) }
                        probe.overlapping.wrappingSubtract(1, ordering: .relaxed)
                    }
                }
                // Queued in this order.
                try await Task.sleep(for: .milliseconds(5))
            }
            try await group.waitForAll()
        }
        #expect(probe.worst.load(ordering: .relaxed) == 1)
        #expect(probe.order.withLock { $0 } == Array(0..<8))
        #expect(try await jobs.perform(.routerTraining) { _ in 42 } == 42)
    }

    @Test func shutdownCancelsTheRunningJobSkipsQueuedOnesAndWaitsForThem() async throws {
        let jobs = BackgroundJobs(label: "test")
        let probe = Probe()
        let running = Task {
            try await jobs.perform(.routerTraining) { job in
                probe.started.store(true, ordering: .relaxed)
                // A training loop: stops at its next check once cancelled (else after 120 s).
                let end = ContinuousClock.now + .seconds(120)
                while !job.isCancelled, ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.001) }
                // Stopped by the cancellation, before its own end.
                probe.sawCancellation.store(job.isCancelled && ContinuousClock.now < end, ordering: .relaxed)
            }
        }
        let didStart = try await eventually { probe.started.load(ordering: .relaxed) }
        #expect(didStart)
        let queued = Task { try await jobs.perform(.routerTraining) { _ in probe.queuedRan.store(true, ordering: .relaxed) } }
        try await Task.sleep(for: .milliseconds(20))
        #expect(jobs.running[.routerTraining] == 1)

        await jobs.shutdown()
        // Shutdown returned: the running job has ended, having seen the cancellation.
        let sawIt = probe.sawCancellation.load(ordering: .relaxed)
        #expect(sawIt)
        #expect(jobs.running.isEmpty)
        try await running.value
        await #expect(throws: BackgroundJobs.Stopped.self) { try await queued.value }
        let queuedDidRun = probe.queuedRan.load(ordering: .relaxed)
        #expect(!queuedDidRun)
        await #expect(throws: BackgroundJobs.Stopped.self) { try await jobs.perform(.recommendationModel) { _ in 1 } }
        #expect(!jobs.schedule(.routerView) { _ in probe.queuedRan.store(true, ordering: .relaxed) })
        await jobs.shutdown()  // idempotent
    }

    @Test func aRequestsOwnCancellationReachesItsJob() async throws {
        let jobs = BackgroundJobs(label: "test")
        let probe = Probe()
        let result = try await jobs.perform(.reasonerTraining, isCancelled: { probe.cancelled.load(ordering: .relaxed) }) { job in
            let before = job.isCancelled
            probe.cancelled.store(true, ordering: .relaxed)
            return (before, job.isCancelled)
        }
        #expect(result == (false, true))
        #expect(!jobs.isStopping)
    }
}
