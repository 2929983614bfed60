import BackgroundWork
import Testing

struct JobLockTests {
    enum Job: Equatable, Sendable { case training, update }

    @Test func oneJobAtATimeAndTheRefusedLearnWhichHoldsIt() {
        let lock = JobLock<Job>()
        #expect(lock.tryBegin(.update) == nil)
        #expect(lock.tryBegin(.training) == .update)
        lock.end()
        #expect(lock.holder == nil)
        #expect(lock.tryBegin(.training) == nil)
        #expect(lock.holder == .training)
    }

    @Test func aWaiterResumesWhenTheHolderEndsAndThenTakesTheLock() async {
        let lock = JobLock<Job>()
        #expect(lock.tryBegin(.update) == nil)
        // The waiter loops like Train does: try, wait, try again.
        let waiter = Task {
            while lock.tryBegin(.training) != nil { await lock.waitUntilFree() }
            return lock.holder
        }
        // It suspends, and cannot take the lock from the holder meanwhile.
        while lock.waiterCount == 0 { await Task.yield() }
        #expect(lock.holder == .update)
        lock.end()
        #expect(lock.waiterCount == 0)
        #expect(await waiter.value == .training)
    }

    @Test func waitingOnAFreeLockReturnsAtOnce() async {
        let lock = JobLock<Job>()
        await lock.waitUntilFree()
        #expect(lock.tryBegin(.training) == nil)
    }
}
