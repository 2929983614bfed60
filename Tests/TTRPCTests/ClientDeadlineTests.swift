import Foundation
import NIOCore
import NIOPosix
import Testing
import TTRPC

/// A peer that accepts connections and reads requests but never answers (a
/// paused or partitioned server).
private final class SilentPeer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@Suite struct ClientDeadlineTests {
    /// The time limit only turns a hang (the bug) into a failure.
    @Test(.timeLimit(.minutes(10))) func aCallToAServerThatNeverAnswersEndsAtItsDeadline() async throws {
        let path = "/tmp/ttrpc-silent-\(UUID().uuidString.prefix(8)).sock"
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.pipeline.addHandler(SilentPeer()) }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        let client = try await TTRPCClient.connect(to: .unix(path: path))
        do {
            _ = try await client.call(service: "test.v1.Echo", method: "Echo", payload: [], timeout: .milliseconds(200))
            Issue.record("a silent server answered")
        } catch let error as RPCError {
            #expect(error.code == .deadlineExceeded, "\(error)")
            #expect(error.message.contains("test.v1.Echo/Echo"), "\(error)")
        }
        // A call without a deadline is still waiting meanwhile; closing the connection ends it.
        let waiting = Task { try await client.call(service: "test.v1.Echo", method: "Echo", payload: []) }
        try await Task.sleep(for: .milliseconds(100))
        await client.close()
        await #expect(throws: RPCError.self) { _ = try await waiting.value }
        try await server.close()
        unlink(path)
    }
}
