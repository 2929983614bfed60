/// 64-bit FNV-1a over UTF-8 bytes: the same value in every process and on every
/// run (Swift's `Hasher` is seeded per process), for keys derived from text.
public struct StableHash: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add(_ text: String) {
        for byte in text.utf8 { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    }
}
