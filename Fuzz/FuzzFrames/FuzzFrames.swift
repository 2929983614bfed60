import NIOCore
import TTRPC

/// The fuzz callback (LLVMFuzzerTestOneInput, passed to the driver in Driver.swift): arbitrary bytes through the ttrpc frame decoder, fed
/// in two pieces (the split point taken from the first byte) as a socket would.
/// Every frame it yields must respect the limit it was built with.

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzFrames(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: count)
    guard let first = bytes.first else { return 0 }
    let maxLength: UInt32 = 1 << 12
    var decoder = TTRPCFrameDecoder(maxLength: maxLength)
    let split = count > 1 ? Int(first) % count : count
    var buffer = ByteBufferAllocator().buffer(capacity: count)
    for range in [1..<max(split, 1), max(split, 1)..<count] {
        buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[range]))
        while true {
            let message: TTRPCInboundMessage?
            do { message = try decoder.decodeMessage(&buffer) } catch { break }
            guard let message else { break }
            switch message {
            case .frame(let frame):
                precondition(frame.header.length <= maxLength && frame.payload.readableBytes == Int(frame.header.length))
            case .oversized(let header):
                precondition(header.length > maxLength)
            }
        }
    }
    return 0
}
