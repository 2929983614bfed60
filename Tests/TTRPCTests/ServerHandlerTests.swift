import Foundation
import Logging
import NIOCore
import NIOEmbedded
import SwiftProtobuf
import Testing
@testable import TTRPC

/// The channel's event loop, known once the channel exists.
private final class Box: @unchecked Sendable {
    var loop: (any EventLoop)?
}

/// Drives TTRPCServerHandler through a real pipeline (decoder, encoder, handler)
/// on NIOAsyncTestingChannel, feeding raw bytes as a peer would.
@Suite struct ServerHandlerTests {
    private func makeChannel() async throws -> NIOAsyncTestingChannel {
        var dispatcher = TTRPCDispatcher()
        dispatcher.register(service: "test.v1.Echo", method: "Echo") { (request: Ttrpc_KeyValue, _) in
            var reply = Ttrpc_KeyValue()
            reply.key = request.key
            reply.value = request.value.uppercased()
            return reply
        }
        dispatcher.register(service: "test.v1.Echo", method: "Sleep") { (request: Ttrpc_KeyValue, _) in
            try await Task.sleep(for: .seconds(30))
            return request
        }
        dispatcher.register(service: "test.v1.Echo", method: "Fail") { (_: Ttrpc_KeyValue, _) -> Ttrpc_KeyValue in
            throw RPCError(.notFound, "nothing here")
        }
        // Answers where it ran: on the connection's event loop, or on the pool for "long" requests.
        let eventLoop = Box()
        dispatcher.registerCompute(service: "test.v1.Echo", method: "Where", when: { $0.value == "long" }) { (request: Ttrpc_KeyValue, _) in
            var reply = request
            reply.value = eventLoop.loop?.inEventLoop == true ? "loop" : "elsewhere"
            return reply
        }
        var limits = TTRPCServerLimits()
        limits.maxInFlightPerConnection = 2
        let channel = NIOAsyncTestingChannel()
        eventLoop.loop = channel.eventLoop
        try await channel.pipeline.addHandlers([
            ByteToMessageHandler(TTRPCFrameDecoder(maxLength: 1024)),
            MessageToByteHandler(TTRPCFrameEncoder()),
            TTRPCServerHandler(dispatcher: dispatcher, limits: limits, logger: Logger(label: "test")),
        ])
        return channel
    }

    private func requestFrame(stream: UInt32, service: String = "test.v1.Echo", method: String, value: String = "hi",
                              timeoutNano: Int64 = 0, type: UInt8 = 1) throws -> ByteBuffer {
        var payload = Ttrpc_KeyValue()
        payload.key = "k"
        payload.value = value
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = try payload.serializedData()
        request.timeoutNano = timeoutNano
        return frame(stream: stream, type: type, data: try request.serializedBytes())
    }

    private func frame(stream: UInt32, type: UInt8 = 1, data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(data.count))
        buffer.writeInteger(stream)
        buffer.writeInteger(type)
        buffer.writeInteger(UInt8(0))
        buffer.writeBytes(data)
        return buffer
    }

    /// Reads one response frame written by the server.
    private func readResponse(_ channel: NIOAsyncTestingChannel) async throws -> (stream: UInt32, response: Ttrpc_Response) {
        var buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        let length = buffer.readInteger(as: UInt32.self)
        let stream = buffer.readInteger(as: UInt32.self)
        let type = buffer.readInteger(as: UInt8.self)
        let flags = buffer.readInteger(as: UInt8.self)
        #expect(type == 2)  // response
        #expect(flags == 0)
        guard let length, let stream else { throw RPCError(.internal, "short frame") }
        #expect(buffer.readableBytes == Int(length))
        return (stream, try Ttrpc_Response(serializedBytes: Array(buffer.readableBytesView)))
    }

    @Test func answersOnTheRequestsStream() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 5, method: "Echo"))
        let (stream, response) = try await readResponse(channel)
        #expect(stream == 5)
        #expect(response.status.code == 0)
        #expect(try Ttrpc_KeyValue(serializedBytes: Array(response.payload)).value == "HI")
    }

    @Test func unknownServiceAndMethodAreUnimplemented() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 1, service: "nope.Svc", method: "Echo"))
        let first = try await readResponse(channel)
        #expect(first.response.status.code == RPCStatusCode.unimplemented.rawValue)
        try await channel.writeInbound(try requestFrame(stream: 3, method: "Nope"))
        let second = try await readResponse(channel)
        #expect(second.stream == 3 && second.response.status.code == RPCStatusCode.unimplemented.rawValue)
    }

    @Test func handlerErrorsBecomeStatuses() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 1, method: "Fail"))
        let (_, response) = try await readResponse(channel)
        #expect(response.status.code == RPCStatusCode.notFound.rawValue)
        #expect(response.status.message == "nothing here")
    }

    @Test func garbageEnvelopeGetsInvalidArgumentAndTheConnectionLives() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(frame(stream: 1, data: [0xFF, 0xFF, 0xFF, 0x01]))
        let bad = try await readResponse(channel)
        #expect(bad.stream == 1 && bad.response.status.code == RPCStatusCode.invalidArgument.rawValue)
        // A payload that is not the method's request message.
        var request = Ttrpc_Request()
        request.service = "test.v1.Echo"
        request.method = "Echo"
        request.payload = Data([0x0A, 0xFF])
        try await channel.writeInbound(frame(stream: 3, data: try request.serializedBytes()))
        let badPayload = try await readResponse(channel)
        #expect(badPayload.response.status.code == RPCStatusCode.invalidArgument.rawValue)
        try await channel.writeInbound(try requestFrame(stream: 5, method: "Echo"))
        let good = try await readResponse(channel)
        #expect(good.stream == 5 && good.response.status.code == 0)
    }

    @Test func evenStreamIDsAreRefused() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 2, method: "Echo"))
        let (stream, response) = try await readResponse(channel)
        #expect(stream == 2 && response.status.code == RPCStatusCode.invalidArgument.rawValue)
    }

    @Test func oversizedFramesGetResourceExhausted() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(frame(stream: 9, data: [UInt8](repeating: 0, count: 2000)))
        let (stream, response) = try await readResponse(channel)
        #expect(stream == 9 && response.status.code == RPCStatusCode.resourceExhausted.rawValue)
        try await channel.writeInbound(try requestFrame(stream: 11, method: "Echo"))
        #expect(try await readResponse(channel).response.status.code == 0)
    }

    @Test func unknownMessageTypesAreIgnored() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(frame(stream: 1, type: 0x3, data: [1, 2, 3]))
        try await channel.writeInbound(frame(stream: 3, type: 0x7F, data: []))
        try await channel.writeInbound(try requestFrame(stream: 5, method: "Echo"))
        let (stream, response) = try await readResponse(channel)
        #expect(stream == 5 && response.status.code == 0)
    }

    @Test func deadlinesAreHonoured() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 1, method: "Sleep", timeoutNano: 50_000_000))
        // NIOAsyncTestingChannel's loop has a manual clock: advance past the deadline.
        await channel.testingEventLoop.advanceTime(by: .milliseconds(60))
        let (stream, response) = try await readResponse(channel)
        #expect(stream == 1 && response.status.code == RPCStatusCode.deadlineExceeded.rawValue)
    }

    @Test func manyRequestsInFlightAnswerIndependently() async throws {
        let channel = try await makeChannel()
        // Stream 1 sleeps; 3 is answered meanwhile; 5 exceeds the in-flight limit of 2... after 3 completes it fits.
        try await channel.writeInbound(try requestFrame(stream: 1, method: "Sleep", timeoutNano: 1_000_000_000))
        try await channel.writeInbound(try requestFrame(stream: 3, method: "Echo", value: "b"))
        let answer = try await readResponse(channel)
        #expect(answer.stream == 3 && answer.response.status.code == 0)
        try await channel.writeInbound(try requestFrame(stream: 5, method: "Sleep", timeoutNano: 1_000_000_000))
        try await channel.writeInbound(try requestFrame(stream: 7, method: "Echo"))
        let refused = try await readResponse(channel)
        #expect(refused.stream == 7 && refused.response.status.code == RPCStatusCode.resourceExhausted.rawValue)
        await channel.testingEventLoop.advanceTime(by: .seconds(2))
        let timedOut = [try await readResponse(channel), try await readResponse(channel)]
        #expect(Set(timedOut.map(\.stream)) == [1, 5])
    }

    @Test func computeHandlersLeaveTheLoopOnlyForRequestsTheyPick() async throws {
        let channel = try await makeChannel()
        try await channel.writeInbound(try requestFrame(stream: 1, method: "Where", value: "short"))
        let short = try await readResponse(channel)
        #expect(try Ttrpc_KeyValue(serializedBytes: Array(short.response.payload)).value == "loop")
        try await channel.writeInbound(try requestFrame(stream: 3, method: "Where", value: "long"))
        let long = try await readResponse(channel)
        #expect(try Ttrpc_KeyValue(serializedBytes: Array(long.response.payload)).value == "elsewhere")
    }
}
