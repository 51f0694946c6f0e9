#if arch(x86_64) && LLAMAKIT_AVX2
    import TensorCore
    import TestSupport
    import Testing

    @testable import Llama

    /// The AVX2 block dots (`QuantizedKernels.AVX2`, in builds with `LLAMAKIT_AVX2`) against their
    /// portable twins on random bytes: every bit pattern of levels and packed scales, activations
    /// over the whole int8 range. The integer sums must be equal, since the float combination after
    /// them is shared, so a token step gives bit-identical results in a portable and a native build.
    @Suite struct AVX2KernelTests {
        static let blocks = 2000

        /// `blocks` random blocks of `dtype` and random int8 activations with their group sums (per 16
        /// for the K types, Q8_K's `bsums`; per 32 for the others).
        static func inputs(_ dtype: DType, seed: UInt64) -> (weights: [UInt8], q: [Int8], sums: [Int32]) {
            var rng = SplitMix64(seed: seed)
            let n = blocks * dtype.layout.elements
            let weights = (0..<(blocks * dtype.layout.bytes)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let q = (0..<n).map { _ in Int8.random(in: -128...127, using: &rng) }
            let group = groupSize(dtype)
            let sums = stride(from: 0, to: n, by: group).map { start in q[start..<(start + group)].reduce(Int32(0)) { $0 + Int32($1) } }
            return (weights, q, sums)
        }

        static func groupSize(_ dtype: DType) -> Int { dtype.layout.elements == 256 ? 16 : 32 }

        static func both(_ sums: (total: Int32, minimum: Int32)) -> [Int32] { [sums.total, sums.minimum] }

        typealias Kernel = (UnsafePointer<UInt8>, UnsafePointer<Int8>, UnsafePointer<Int32>) -> [Int32]

        /// The AVX2 kernel of `dtype` and its portable twin, on one block, its activations and their group sums.
        static func kernels(_ dtype: DType) -> (avx2: Kernel, portable: Kernel) {
            typealias K = QuantizedKernels
            func int8(_ block: UnsafePointer<UInt8>) -> UnsafePointer<Int8> {
                UnsafeRawPointer(block + 2).assumingMemoryBound(to: Int8.self)
            }
            switch dtype {
            case .q4_K: return ({ both(K.AVX2.q4KSums($0, $1, $2)) }, { both(K.affineKSums(false, $0, $1, $2)) })
            case .q5_K: return ({ both(K.AVX2.q5KSums($0, $1, $2)) }, { both(K.affineKSums(true, $0, $1, $2)) })
            case .q6_K: return ({ [K.AVX2.q6KTotal($0, $1, $2)] }, { w, q, _ in [K.q6KTotal(w, q)] })
            case .q8_0: return ({ w, q, _ in [K.AVX2.q8_0Dot(int8(w), q)] }, { w, q, _ in [K.q8_0Dot(int8(w), q)] })
            case .q4_0: return ({ [K.AVX2.q4_0Dot($0 + 2, $1, $2[0])] }, { w, q, _ in [K.q4_0Dot(w + 2, q)] })
            default: preconditionFailure("no AVX2 kernel for \(dtype)")
            }
        }

        @Test(arguments: [DType.q4_K, .q5_K, .q6_K, .q8_0, .q4_0])
        func integerSumsEqualPortable(_ dtype: DType) {
            let (weights, q, groupSums) = Self.inputs(dtype, seed: UInt64(dtype.layout.bytes))
            let (stride, n) = (dtype.layout.bytes, dtype.layout.elements)
            let (avx2, portable) = Self.kernels(dtype)
            let results = weights.withUnsafeBufferPointer { w in
                q.withUnsafeBufferPointer { q in
                    groupSums.withUnsafeBufferPointer { s in
                        (0..<Self.blocks).map { b in
                            let args = (w.baseAddress! + b * stride, q.baseAddress! + b * n, s.baseAddress! + b * n / Self.groupSize(dtype))
                            return (avx2: avx2(args.0, args.1, args.2), portable: portable(args.0, args.1, args.2))
                        }
                    }
                }
            }
            #expect(results.filter { $0.avx2 != $0.portable }.count == 0)
            #expect(Set(results.map(\.portable)).count > Self.blocks / 2, "random blocks, but few distinct sums")
        }
    }
#endif
