import Foundation
import GraphdServer
import Logging
import NIOCore
import NIOPosix
import TTRPC

/// The fuzz callback (passed to the driver in Driver.swift): arbitrary bytes as a stream of ttrpc frames, each
/// request decoded and dispatched to graphd's real services (Graph, Recommend,
/// Router) over a real store. Every input gets a fresh store, so a finding
/// replays from its input alone. Any crash, trap or hang is a finding; error
/// statuses are the expected outcome for most inputs.
private let harness = FuzzHarness()

private final class FuzzHarness: Sendable {
    let directory = NSTemporaryDirectory() + "graphd-fuzz-\(getpid())"
    let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    init() {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// A dispatcher over a new, empty store.
    func freshDispatcher() -> TTRPCDispatcher {
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
        if done.wait(timeout: .now() + 5) == .timedOut {
            FileHandle.standardError.write(Data("slow request: \(request.service)/\(request.method), payload \(request.payload.count) bytes: \(Array(request.payload.prefix(64)))\n".utf8))
            done.wait()
            FileHandle.standardError.write(Data("  … finished after \(ContinuousClock.now - start)\n".utf8))
        }
    }
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
        if dispatcher == nil { dispatcher = harness.freshDispatcher() }
        harness.run(request, streamID: frame.header.streamID, on: dispatcher!)
        requests += 1
    }
    return 0
}
