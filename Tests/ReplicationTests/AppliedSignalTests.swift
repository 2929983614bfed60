import Testing
@testable import Replication

/// The wake-up that read-your-writes waits on. The time limits only turn a
/// lost wake-up (a hang) into a failure.
@Suite struct AppliedSignalTests {
    @Test(.timeLimit(.minutes(10))) func aSignalWakesEveryWaiter() async {
        let signal = AppliedSignal()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { await signal.wait(timeout: .seconds(3600)) } }
            // Keep signalling until all have returned: a waiter that parks after a signal is woken by the next.
            let signaller = Task {
                while !Task.isCancelled {
                    signal.signal()
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            await group.waitForAll()
            signaller.cancel()
        }
    }

    @Test(.timeLimit(.minutes(10))) func aWaitEndsAtItsTimeoutWithoutASignal() async {
        let signal = AppliedSignal()
        await signal.wait(timeout: .milliseconds(10))
    }

    @Test(.timeLimit(.minutes(10))) func racingSignalsAndTimeoutsNeverStrandAWaiter() async {
        let signal = AppliedSignal()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<500 {
                group.addTask { await signal.wait(timeout: .microseconds(i % 7 * 50)) }
                if i % 3 == 0 { group.addTask { signal.signal() } }
            }
        }
    }
}
