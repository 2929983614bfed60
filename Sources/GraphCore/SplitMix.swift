/// SplitMix64: a small, fast, deterministic generator for synthetic graphs,
/// benchmark seeds and tests — the same sequence on every machine.
public struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n > 0), by modulo: fine for test data.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// Uniform in [−1, 1).
    public mutating func signedUnit() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}
