#if arch(x86_64) && LLAMAKIT_AVX2
    import TensorCore
    import Testing

    @testable import Llama

    /// The AVX2 block dots (`QuantizedKernels.AVX2`, in builds with `LLAMAKIT_AVX2`) against their
    /// portable twins on random bytes: every bit pattern of levels and packed scales, activations
    /// over the whole int8 range. The integer sums must be equal, since the float combination after
    /// them is shared, so a token step gives bit-identical results in a portable and a native build.
    @Suite struct AVX2KernelTests {
        static let blocks = 2000

        /// `blocks` random blocks of `dtype` and random int8 activations with their per-16 sums (Q8_K's `bsums`).
        static func inputs(_ dtype: DType, seed: UInt64) -> (weights: [UInt8], q: [Int8], sums: [Int32]) {
            var rng = SplitMix(seed)
            let n = blocks * dtype.layout.elements
            let weights = (0..<(blocks * dtype.layout.bytes)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let q = (0..<n).map { _ in Int8.random(in: -128...127, using: &rng) }
            let sums = stride(from: 0, to: n, by: 16).map { start in q[start..<(start + 16)].reduce(Int32(0)) { $0 + Int32($1) } }
            return (weights, q, sums)
        }

        /// `(avx2, portable)` of every block.
        static func eachBlock(
            _ dtype: DType, seed: UInt64,
            _ sums: (UnsafePointer<UInt8>, UnsafePointer<Int8>, UnsafePointer<Int32>) -> (avx2: [Int32], portable: [Int32])
        ) -> [(avx2: [Int32], portable: [Int32])] {
            let (weights, q, groupSums) = inputs(dtype, seed: seed)
            let (stride, n) = (dtype.layout.bytes, dtype.layout.elements)
            return weights.withUnsafeBufferPointer { w in
                q.withUnsafeBufferPointer { q in
                    groupSums.withUnsafeBufferPointer { s in
                        (0..<blocks).map { b in sums(w.baseAddress! + b * stride, q.baseAddress! + b * n, s.baseAddress! + b * n / 16) }
                    }
                }
            }
        }

        @Test func q4KSumsEqualPortable() {
            let results = Self.eachBlock(.q4_K, seed: 41) { w, q, s in
                let avx2 = QuantizedKernels.AVX2.q4KSums(w, q, s), portable = QuantizedKernels.affineKSums(false, w, q, s)
                return ([avx2.total, avx2.minimum], [portable.total, portable.minimum])
            }
            #expect(results.filter { $0.avx2 != $0.portable }.isEmpty)
            #expect(Set(results.map(\.portable)).count > Self.blocks / 2, "random blocks, but few distinct sums")
        }

        @Test func q6KTotalEqualsPortable() {
            let results = Self.eachBlock(.q6_K, seed: 61) { w, q, s in
                ([QuantizedKernels.AVX2.q6KTotal(w, q, s)], [QuantizedKernels.q6KTotal(w, q)])
            }
            #expect(results.filter { $0.avx2 != $0.portable }.isEmpty)
            #expect(Set(results.map(\.portable)).count > Self.blocks / 2, "random blocks, but few distinct sums")
        }
    }
#endif
