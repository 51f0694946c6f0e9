/// Σ (i + 1) · w_i mod 2⁶⁴ over the little-endian u64 words w_i of the bytes (the tail padded
/// with zeros): every byte is read, and a moved word changes the sum. bench_read.py computes
/// the same with numpy.
enum Checksum {
    static func weighted(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let words = bytes.count / 8
        var lanes = SIMD8<UInt64>(repeating: 0)
        var weights = SIMD8<UInt64>(1, 2, 3, 4, 5, 6, 7, 8)
        let step = SIMD8<UInt64>(repeating: 8)
        var index = 0
        guard let base = bytes.baseAddress else { return 0 }
        while index + 8 <= words {
            let chunk = base.loadUnaligned(fromByteOffset: index * 8, as: SIMD8<UInt64>.self)
            lanes &+= chunk &* weights
            weights &+= step
            index += 8
        }
        var sum = lanes.wrappedSum()
        while index < words {
            sum &+= base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) &* UInt64(index + 1)
            index += 1
        }
        let tail = bytes.count - words * 8
        if tail > 0 {
            var last: UInt64 = 0
            for byte in 0..<tail { last |= UInt64(bytes[words * 8 + byte]) << (8 * UInt64(byte)) }
            sum &+= last &* UInt64(words + 1)
        }
        return sum
    }
}

extension Checksum {
    /// Σ w_i mod 2⁶⁴: touches every byte with the cheapest reduction, for timing reads.
    static func plain(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        let words = bytes.count / 8
        var lanes = SIMD8<UInt64>(repeating: 0)
        var index = 0
        while index + 8 <= words {
            lanes &+= base.loadUnaligned(fromByteOffset: index * 8, as: SIMD8<UInt64>.self)
            index += 8
        }
        var sum = lanes.wrappedSum()
        for byte in (index * 8)..<bytes.count { sum &+= UInt64(bytes[byte]) }
        return sum
    }
}
