import NIOCore

/// ttrpc message types (PROTOCOL.md, "Message Types").
public enum TTRPCMessageType: UInt8, Sendable {
    case request = 0x1
    case response = 0x2
    case data = 0x3
}

/// The fixed 10-byte, big-endian message header:
/// length (4) | stream id (4) | type (1) | flags (1).
/// `length` counts the payload only, not the header.
public struct TTRPCFrameHeader: Sendable, Equatable {
    public static let byteCount = 10
    /// PROTOCOL.md's maximum message length (4 MiB).
    public static let defaultMaxLength: UInt32 = 4 << 20

    public var length: UInt32
    public var streamID: UInt32
    /// Raw type byte: unknown types are kept so the caller can ignore them.
    public var type: UInt8
    public var flags: UInt8

    public init(length: UInt32, streamID: UInt32, type: UInt8, flags: UInt8 = 0) {
        self.length = length
        self.streamID = streamID
        self.type = type
        self.flags = flags
    }

    public var messageType: TTRPCMessageType? { TTRPCMessageType(rawValue: type) }
}

/// One ttrpc message: header plus payload.
public struct TTRPCFrame: Sendable, Equatable {
    public var header: TTRPCFrameHeader
    public var payload: ByteBuffer

    public init(streamID: UInt32, type: TTRPCMessageType, flags: UInt8 = 0, payload: ByteBuffer) {
        self.header = TTRPCFrameHeader(
            length: UInt32(payload.readableBytes), streamID: streamID, type: type.rawValue, flags: flags)
        self.payload = payload
    }

    public init(header: TTRPCFrameHeader, payload: ByteBuffer) {
        self.header = header
        self.payload = payload
    }
}

/// What the decoder yields: a whole frame, or notice of a frame whose declared
/// length exceeded the limit (its payload is skipped without being buffered, so
/// the connection stays usable and the peer can be told RESOURCE_EXHAUSTED).
public enum TTRPCInboundMessage: Sendable, Equatable {
    case frame(TTRPCFrame)
    case oversized(TTRPCFrameHeader)
}

/// Splits a byte stream into ttrpc frames.
public struct TTRPCFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = TTRPCInboundMessage

    public let maxLength: UInt32
    /// Payload bytes of an oversized frame still to be skipped.
    private var bytesToDiscard: Int = 0

    public init(maxLength: UInt32 = TTRPCFrameHeader.defaultMaxLength) {
        self.maxLength = maxLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try decodeMessage(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated trailing frame is dropped: the peer went away mid-message.
        try decode(context: context, buffer: &buffer)
    }

    /// The codec itself, free of NIO's pipeline, so it can be tested byte by byte.
    public mutating func decodeMessage(_ buffer: inout ByteBuffer) throws -> TTRPCInboundMessage? {
        while bytesToDiscard > 0 {
            let skip = min(bytesToDiscard, buffer.readableBytes)
            if skip == 0 { return nil }
            buffer.moveReaderIndex(forwardBy: skip)
            bytesToDiscard -= skip
        }
        guard buffer.readableBytes >= TTRPCFrameHeader.byteCount,
              let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self),
              let streamID = buffer.getInteger(at: buffer.readerIndex + 4, endianness: .big, as: UInt32.self),
              let type = buffer.getInteger(at: buffer.readerIndex + 8, as: UInt8.self),
              let flags = buffer.getInteger(at: buffer.readerIndex + 9, as: UInt8.self)
        else { return nil }
        let header = TTRPCFrameHeader(length: length, streamID: streamID, type: type, flags: flags)
        if length > maxLength {
            buffer.moveReaderIndex(forwardBy: TTRPCFrameHeader.byteCount)
            bytesToDiscard = Int(length)
            let skip = min(bytesToDiscard, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: skip)
            bytesToDiscard -= skip
            return .oversized(header)
        }
        guard buffer.readableBytes >= TTRPCFrameHeader.byteCount + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: TTRPCFrameHeader.byteCount)
        guard let payload = buffer.readSlice(length: Int(length)) else { return nil }
        return .frame(TTRPCFrame(header: header, payload: payload))
    }
}

/// Writes ttrpc frames: header then payload.
public struct TTRPCFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = TTRPCFrame

    public init() {}

    public func encode(data: TTRPCFrame, out: inout ByteBuffer) throws {
        Self.write(data, to: &out)
    }

    public static func write(_ frame: TTRPCFrame, to out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: TTRPCFrameHeader.byteCount + frame.payload.readableBytes)
        out.writeInteger(UInt32(frame.payload.readableBytes), endianness: .big)
        out.writeInteger(frame.header.streamID, endianness: .big)
        out.writeInteger(frame.header.type)
        out.writeInteger(frame.header.flags)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}
