/// Seeded generators for test data: the same values on every run, so a failure reproduces.
/// Each test keeps the algorithm its data was drawn with.

/// SplitMix64 (Steele, Lea, Flood).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xorshift64* (Vigna).
public struct XorShift64Star: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        precondition(seed != 0, "xorshift needs a nonzero state")
        state = seed
    }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
