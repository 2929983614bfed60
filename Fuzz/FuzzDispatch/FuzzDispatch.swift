import Foundation
import GraphdServer
import Logging
import NIOCore
import NIOPosix
import TTRPC

/// The fuzz callback (passed to the driver in Driver.swift): arbitrary bytes as a stream of ttrpc frames, each
/// request decoded and dispatched to graphd's real services (Graph, Recommend,
/// Router) over a real store in a temporary directory. Any crash, trap or hang
/// is a finding; error statuses are the expected outcome for most inputs.
private let harness = FuzzHarness()

private final class FuzzHarness: Sendable {
    let dispatcher: TTRPCDispatcher
    let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    init() {
        let directory = NSTemporaryDirectory() + "graphd-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = GraphdConfiguration(storePath: directory + "/fuzz.sqlite")
        configuration.synchronous = .normal
        configuration.serviceLimits.maxBatchSize = 1000
        // No MiniLM here: requests for it fail fast with FAILED_PRECONDITION.
        configuration.embedding.registry = .init(minilmDirectory: directory + "/no-model")
        do {
            let server = try GraphdServer(configuration: configuration, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }),
                                          group: MultiThreadedEventLoopGroup.singleton)
            dispatcher = server.makeDispatcher()
        } catch {
            fatalError("fuzz harness cannot open its store: \(error)")
        }
    }

    func run(_ request: Ttrpc_Request, streamID: UInt32) {
        let context = TTRPCRequestContext(service: request.service, method: request.method, streamID: streamID,
                                          metadata: request.metadata.map { ($0.key, $0.value) },
                                          deadline: .now + .seconds(5), logger: logger)
        if dispatcher.dispatchInline(request, context: context) != nil { return }
        let done = DispatchSemaphore(value: 0)
        let dispatcher = self.dispatcher
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
    while requests < 8, let message = try? decoder.decodeMessage(&buffer) {
        guard case .frame(let frame) = message, frame.header.messageType == .request else { continue }
        guard let request = try? Ttrpc_Request(serializedBytes: Array(frame.payload.readableBytesView)) else { continue }
        harness.run(request, streamID: frame.header.streamID)
        requests += 1
    }
    return 0
}
