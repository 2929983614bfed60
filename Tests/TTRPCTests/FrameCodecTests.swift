import NIOCore
import Testing
@testable import TTRPC

/// Byte vectors follow ttrpc's PROTOCOL.md: a 10-byte header (uint32 length of
/// the data, uint32 stream id, uint8 type, uint8 flags, all big-endian) and
/// then the data.
@Suite struct FrameCodecTests {
    private func decodeAll(_ bytes: [UInt8], maxLength: UInt32 = TTRPCFrameHeader.defaultMaxLength) throws -> (messages: [TTRPCInboundMessage], rest: Int) {
        var decoder = TTRPCFrameDecoder(maxLength: maxLength)
        var buffer = ByteBuffer(bytes: bytes)
        var messages: [TTRPCInboundMessage] = []
        while let message = try decoder.decodeMessage(&buffer) { messages.append(message) }
        return (messages, buffer.readableBytes)
    }

    @Test func decodesARequestFrame() throws {
        let bytes: [UInt8] = [0, 0, 0, 3, 0, 0, 0, 1, 0x01, 0x00, 0xAA, 0xBB, 0xCC]
        let (messages, rest) = try decodeAll(bytes)
        #expect(rest == 0)
        #expect(messages == [.frame(TTRPCFrame(header: TTRPCFrameHeader(length: 3, streamID: 1, type: 1, flags: 0),
                                               payload: ByteBuffer(bytes: [0xAA, 0xBB, 0xCC])))])
    }

    @Test func encodesExactlyTheProtocolLayout() {
        var out = ByteBuffer()
        TTRPCFrameEncoder.write(TTRPCFrame(streamID: 0x0102_0304, type: .response, flags: 0x04, payload: ByteBuffer(bytes: [9, 8])), to: &out)
        #expect(Array(out.readableBytesView) == [0, 0, 0, 2, 0x01, 0x02, 0x03, 0x04, 0x02, 0x04, 9, 8])
    }

    @Test func waitsForTruncatedFrames() throws {
        let whole: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 7, 0x01, 0x00, 1, 2, 3, 4]
        for cut in 0..<whole.count {
            let (messages, rest) = try decodeAll(Array(whole.prefix(cut)))
            #expect(messages.isEmpty, "cut at \(cut)")
            #expect(rest == cut)
        }
        // Split across reads: bytes kept, then completed.
        var decoder = TTRPCFrameDecoder()
        var buffer = ByteBuffer(bytes: whole.prefix(6))
        #expect(try decoder.decodeMessage(&buffer) == nil)
        buffer.writeBytes(whole.dropFirst(6))
        guard case .frame(let frame)? = try decoder.decodeMessage(&buffer) else {
            Issue.record("no frame after completion")
            return
        }
        #expect(frame.header.streamID == 7 && Array(frame.payload.readableBytesView) == [1, 2, 3, 4])
    }

    @Test func oversizedLengthIsReportedAndSkippedWithoutBuffering() throws {
        // Declares 5 bytes against a 4-byte limit; the next frame must still decode.
        let bytes: [UInt8] = [0, 0, 0, 5, 0, 0, 0, 3, 0x01, 0x00, 1, 2, 3, 4, 5,
                              0, 0, 0, 1, 0, 0, 0, 5, 0x01, 0x00, 42]
        let (messages, rest) = try decodeAll(bytes, maxLength: 4)
        #expect(rest == 0)
        #expect(messages.count == 2)
        #expect(messages.first == .oversized(TTRPCFrameHeader(length: 5, streamID: 3, type: 1, flags: 0)))
        // The default limit is PROTOCOL.md's 4 MiB: 4 MiB + 1 is refused, even with no data sent yet.
        let huge: [UInt8] = [0x00, 0x40, 0x00, 0x01, 0, 0, 0, 9, 0x01, 0x00]
        let (hugeMessages, _) = try decodeAll(huge)
        #expect(hugeMessages == [.oversized(TTRPCFrameHeader(length: (4 << 20) + 1, streamID: 9, type: 1, flags: 0))])
        let maxLength: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 11, 0x01, 0x00]
        #expect(try decodeAll(maxLength).messages.count == 1)
    }

    @Test func unknownMessageTypesAreDecodedForTheCallerToIgnore() throws {
        let bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x00]
        let (messages, _) = try decodeAll(bytes)
        guard case .frame(let frame)? = messages.first else {
            Issue.record("expected a frame")
            return
        }
        #expect(frame.header.messageType == nil && frame.header.type == 0x7F)
    }

    @Test func envelopeMatchesTheProtocolFieldNumbers() throws {
        var request = Ttrpc_Request()
        request.service = "s"
        request.method = "m"
        request.timeoutNano = 1000
        var pair = Ttrpc_KeyValue()
        pair.key = "k"
        pair.value = "v"
        request.metadata = [pair]
        // service=1, method=2, timeout_nano=4 (varint), metadata=5 {key=1, value=2}
        let expected: [UInt8] = [0x0A, 0x01, 0x73, 0x12, 0x01, 0x6D, 0x20, 0xE8, 0x07, 0x2A, 0x06, 0x0A, 0x01, 0x6B, 0x12, 0x01, 0x76]
        #expect(try request.serializedBytes() == expected)
        var response = Ttrpc_Response()
        response.status = RPCError(.notFound, "x").status
        // status=1 {code=1 (5), message=2 ("x")}
        #expect(try response.serializedBytes() == [0x0A, 0x05, 0x08, 0x05, 0x12, 0x01, 0x78] as [UInt8])
    }
}
