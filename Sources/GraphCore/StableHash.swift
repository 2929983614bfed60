/// 64-bit FNV-1a over UTF-8 bytes: the same value in every process and on every
/// run (Swift's `Hasher` is seeded per process), for keys derived from text.
public struct StableHash: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// The text's bytes alone (the derived router query keys depend on exactly this).
    public mutating func add(_ text: String) {
        for byte in text.utf8 { addByte(byte) }
    }

    /// The text as one field of several: "ab","c" and "a","bc" hash apart.
    public mutating func addField(_ text: String) {
        add(text)
        addByte(0xff)  // a byte no UTF-8 text holds
    }

    public mutating func addByte(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }

    /// The 8 little-endian bytes of `number`.
    public mutating func addWord(_ number: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { addByte(UInt8(truncatingIfNeeded: number >> UInt64(shift))) }
    }

    /// The bytes, then their count (so that fields of bytes hash apart).
    public mutating func addBytes(_ bytes: some Sequence<UInt8>) {
        var count: UInt64 = 0
        for byte in bytes {
            addByte(byte)
            count += 1
        }
        addWord(count)
    }
}
