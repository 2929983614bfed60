import NIOCore

/// Runs a task's jobs on a NIO event loop, so a request handler starts on the
/// connection's own thread and its response needs no hop back to the loop.
/// Handlers that await an actor (writes) still hop there and back; reads that
/// only touch a snapshot never leave the loop.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

