import GraphAlgorithms
import Routing
import TTRPC
import Testing

@testable import GraphStore
@testable import BackgroundWork
@testable import GraphdServer

/// The one error boundary: each library's error reaches clients as the status
/// its meaning calls for.
@Suite struct ErrorMappingTests {
    @Test func sqliteResultCodesMapByWhatTheyMean() {
        // Primary codes, and extended ones (primary in the low byte).
        let cases: [(Int32, RPCStatusCode)] = [
            (13, .resourceExhausted),  // SQLITE_FULL
            (8, .failedPrecondition), (8 | (1 << 8), .failedPrecondition),  // SQLITE_READONLY(_RECOVERY)
            (5, .unavailable), (6, .unavailable),  // SQLITE_BUSY, SQLITE_LOCKED
            (10, .unavailable), (10 | (3 << 8), .unavailable), (14, .unavailable),  // SQLITE_IOERR(_WRITE), SQLITE_CANTOPEN
            (1, .internal), (19, .internal),  // SQLITE_ERROR, SQLITE_CONSTRAINT
        ]
        for (code, status) in cases {
            let error = SQLiteError(code: code, message: "m", context: "writing")
            #expect(Dispatcher.status(of: error) == status, "SQLite code \(code)")
        }
    }

    @Test func domainErrorsMapToTheirStatus() {
        #expect(Dispatcher.status(of: RoutingError(.invalidArgument, "x")) == .invalidArgument)
        #expect(Dispatcher.status(of: RoutingError(.notFound, "x")) == .notFound)
        #expect(Dispatcher.status(of: RoutingError(.cancelled, "x")) == .cancelled)
        #expect(Dispatcher.status(of: PPRError("tolerance must be positive")) == .invalidArgument)
        #expect(Dispatcher.status(of: BackgroundJobs.Stopped(kind: .routerTraining)) == .unavailable)
        #expect(Dispatcher.status(of: CancellationError()) == .cancelled)
    }

    @Test func workStoppedEarlyIsShutdownThenDeadlineThenCancellation() async {
        let jobs = BackgroundJobs(label: "test")
        #expect(stoppedEarly("training", deadline: nil, jobs: jobs).code == .cancelled)
        #expect(stoppedEarly("training", deadline: .now + .seconds(60), jobs: jobs).code == .cancelled)
        #expect(stoppedEarly("training", deadline: .now - .seconds(1), jobs: jobs).code == .deadlineExceeded)
        await jobs.shutdown()
        #expect(stoppedEarly("training", deadline: .now - .seconds(1), jobs: jobs).code == .unavailable)
    }
}

private enum Dispatcher {
    static func status(of error: any Error) -> RPCStatusCode { TTRPCDispatcher.rpcError(from: error).code }
}
