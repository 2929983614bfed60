import Foundation
import GraphdProto
import Synchronization
import GraphdServer
import Logging
import NIOCore
import NIOPosix
import TTRPC

/// The fuzz callback (passed to the driver in Driver.swift): arbitrary bytes as a stream of ttrpc frames, each
/// request decoded and dispatched to graphd's real services (Graph, Recommend,
/// Router) over a real store. Every input gets a fresh store, so a finding
/// replays from its input alone (set GRAPHD_FUZZ_SHARED_STORE=1 to keep one
/// store for the whole run instead, which finds state that builds up over many
/// inputs). Any crash, trap or hang is a finding; error statuses are the
/// expected outcome for most inputs.
private let harness = FuzzHarness()

private final class FuzzHarness: Sendable {
    let directory = NSTemporaryDirectory() + "graphd-fuzz-\(getpid())"
    let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
    let sharedStore = ProcessInfo.processInfo.environment["GRAPHD_FUZZ_SHARED_STORE"] == "1"
    /// A request slower than this is reported with a thread dump (libFuzzer's
    /// own timeout names only the whole input).
    let slowRequestSeconds = ProcessInfo.processInfo.environment["GRAPHD_FUZZ_SLOW_SECONDS"].flatMap(Double.init) ?? 5
    private let shared = Mutex<TTRPCDispatcher?>(nil)

    init() {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// The dispatcher for the next input: over a new, empty store, or the
    /// run's one store in shared mode.
    func dispatcherForInput() -> TTRPCDispatcher {
        guard sharedStore else { return freshDispatcher() }
        return shared.withLock { current in
            if let current { return current }
            let made = freshDispatcher()
            current = made
            return made
        }
    }

    private func freshDispatcher() -> TTRPCDispatcher {
        let store = directory + "/fuzz.sqlite"
        for suffix in ["", "-wal", "-shm"] { unlink(store + suffix) }
        var configuration = GraphdConfiguration(storePath: store)
        configuration.synchronous = .normal
        configuration.serviceLimits.maxBatchSize = 1000
        // No MiniLM here: requests for it fail fast with FAILED_PRECONDITION.
        configuration.embedding.registry = .init(minilmDirectory: directory + "/no-model")
        do {
            return try GraphdServer(configuration: configuration, logger: logger, group: MultiThreadedEventLoopGroup.singleton)
                .makeDispatcher()
        } catch {
            fatalError("fuzz harness cannot open its store: \(error)")
        }
    }

    func run(_ request: Ttrpc_Request, streamID: UInt32, on dispatcher: TTRPCDispatcher) {
        let context = TTRPCRequestContext(service: request.service, method: request.method, streamID: streamID,
                                          metadata: request.metadata.map { ($0.key, $0.value) },
                                          deadline: .now + .seconds(5), logger: logger)
        if dispatcher.dispatchInline(request, context: context) != nil { return }
        let done = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        Task.detached {
            _ = await dispatcher.dispatch(request, context: context)
            done.signal()
        }
        // Name a slow request before libFuzzer's timeout reports only the whole input.
        if done.wait(timeout: .now() + slowRequestSeconds) == .timedOut {
            FileHandle.standardError.write(Data("slow request: \(request.service)/\(request.method), payload \(request.payload.count) bytes: \(Array(request.payload.prefix(64)))\n".utf8))
            dumpThreads()
            done.wait()
            FileHandle.standardError.write(Data("  … finished after \(ContinuousClock.now - start); graph then: \(graphSize(dispatcher))\n".utf8))
        }
    }
}


/// Every thread's stack, from gdb, on standard error: what a slow request waits for.
private func dumpThreads() {
    let gdb = Process()
    gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
    gdb.arguments = ["-p", String(getpid()), "-batch", "-nx", "-ex", "thread apply all bt 30"]
    gdb.standardOutput = FileHandle.standardError
    gdb.standardError = FileHandle.standardError
    do {
        try gdb.run()
        gdb.waitUntilExit()
    } catch {
        FileHandle.standardError.write(Data("  (no thread dump: \(error))\n".utf8))
    }
}

/// Node and edge counts (with the delta) from Graph/Stats, for slow-request reports.
private func graphSize(_ dispatcher: TTRPCDispatcher) -> String {
    var request = Ttrpc_Request()
    request.service = GraphdMethod.stats.service
    request.method = GraphdMethod.stats.method
    let context = TTRPCRequestContext(service: request.service, method: request.method, streamID: 1)
    let response = Mutex<Ttrpc_Response?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let answer = await dispatcher.dispatch(request, context: context)
        response.withLock { $0 = answer }
        done.signal()
    }
    done.wait()
    guard let payload = response.withLock({ $0?.payload }),
          let stats = try? Graphd_V1_StatsResponse(serializedBytes: payload) else { return "unknown" }
    return "\(stats.nodes) nodes, \(stats.edges) edges, \(stats.deltaEdges) in the delta"
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzDispatch(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var buffer = ByteBufferAllocator().buffer(capacity: count)
    buffer.writeBytes(UnsafeBufferPointer(start: data, count: count))
    var decoder = TTRPCFrameDecoder(maxLength: 1 << 16)
    var requests = 0
    var dispatcher: TTRPCDispatcher?
    while requests < 8, let message = try? decoder.decodeMessage(&buffer) {
        guard case .frame(let frame) = message, frame.header.messageType == .request else { continue }
        guard let request = try? Ttrpc_Request(serializedBytes: Array(frame.payload.readableBytesView)) else { continue }
        if dispatcher == nil { dispatcher = harness.dispatcherForInput() }
        harness.run(request, streamID: frame.header.streamID, on: dispatcher!)
        requests += 1
    }
    return 0
}
