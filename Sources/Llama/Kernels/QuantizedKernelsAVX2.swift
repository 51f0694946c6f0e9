#if arch(x86_64) && LLAMAKIT_AVX2
    import _Builtin_intrinsics.intel

    /// The integer parts of the block dots (Q4_K, Q5_K, Q6_K, Q8_0, Q4_0) in 256-bit AVX2, as ggml's
    /// `ggml_vec_dot_q4_K_q8_K` and its siblings compute them: `vpmaddubsw` multiplies 32 unsigned weight levels by 32 signed
    /// activations into 16 pairwise 16-bit sums, `vpmaddwd` multiplies those by the group scale into
    /// 8 32-bit sums. Swift's portable SIMD types compile the same loops to 128-bit vectors with
    /// 32-bit multiplies (`vpmulld`), ≈ 4× the instructions.
    ///
    /// Every function returns the same integers as its portable twin in `QuantizedKernels` (no step
    /// can overflow: a 16-bit pair sum is at most 2 · 63 · 128), so the float combination that
    /// follows, and with it every product, is bit-identical in both builds. Built only with
    /// `LLAMAKIT_AVX2` (`make release` on a CPU with AVX2).
    ///
    /// Kernel file: raw pointers stay inside these functions.
    extension QuantizedKernels {
        enum AVX2 {
            @inline(__always) static func load(_ p: UnsafeRawPointer) -> __m256i { p.loadUnaligned(as: __m256i.self) }

            @inline(__always) static func sum(_ v: __m256i) -> Int32 { unsafeBitCast(v, to: SIMD8<Int32>.self).wrappedSum() }

            /// Sixteen consecutive `Int32` group sums, pairwise added into eight, in order.
            @inline(__always) static func pairSums(_ sums: UnsafePointer<Int32>) -> __m256i {
                // hadd works within each 128-bit lane: [p0 p1 p4 p5 | p2 p3 p6 p7]; the permute puts them in order.
                let mixed = _mm256_hadd_epi32(load(sums), load(sums + 8))
                return _mm256_permutevar8x32_epi32(mixed, _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7))
            }

            /// Q4_K's 12 packed scale bytes as 8 scales then 8 mins, one byte each (ggml's `utmp`
            /// shuffle; the same values as `KQuantScales.k4`).
            @inline(__always) static func k4ScalesAndMins(_ packed: UnsafePointer<UInt8>) -> (scales: UInt64, mins: UInt64) {
                let raw = UnsafeRawPointer(packed)
                let u0 = raw.loadUnaligned(as: UInt32.self), u1 = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let u2 = raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
                let low6: UInt32 = 0x3F3F_3F3F, low4: UInt32 = 0x0F0F_0F0F, low2: UInt32 = 0x0303_0303
                // Sub-blocks 0–3 keep the low 6 bits of bytes 0–3 (scales) and 4–7 (mins); 4–7 take a
                // nibble of bytes 8–11 and the top 2 bits of bytes 0–3 (scales) or 4–7 (mins).
                let scales = UInt64(u0 & low6) | UInt64((u2 & low4) | (((u0 >> 6) & low2) << 4)) << 32
                let mins = UInt64(u1 & low6) | UInt64(((u2 >> 4) & low4) | (((u1 >> 6) & low2) << 4)) << 32
                return (scales, mins)
            }

            /// Q4_K: Σ_g scale_g · Σ_j nibble_j · q_j and Σ_g min_g · Σ_j q_j over one super-block.
            @inline(__always)
            static func q4KSums(_ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ bsums: UnsafePointer<Int32>)
                -> (total: Int32, minimum: Int32)
            {
                affineKSums(b, q, bsums) { pair in nibbles(load(b + 16 + 32 * pair)) }
            }

            /// Q5_K: as Q4_K with a fifth bit per value from qh (bit 2·pair for the low nibbles, 2·pair + 1 for the high).
            @inline(__always)
            static func q5KSums(_ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ bsums: UnsafePointer<Int32>)
                -> (total: Int32, minimum: Int32)
            {
                let qh = load(b + 16), one = _mm256_set1_epi8(1)
                @inline(__always) func fifthBit(_ bit: Int) -> __m256i {
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(bit)), one), 4)
                }
                return affineKSums(b, q, bsums) { pair in
                    let (low, high) = nibbles(load(b + 48 + 32 * pair))
                    return (_mm256_or_si256(low, fifthBit(2 * pair)), _mm256_or_si256(high, fifthBit(2 * pair + 1)))
                }
            }

            /// Low and high nibbles of 32 bytes, one level per byte.
            @inline(__always) static func nibbles(_ bits: __m256i) -> (low: __m256i, high: __m256i) {
                let lowNibble = _mm256_set1_epi8(0x0F)
                return (_mm256_and_si256(bits, lowNibble), _mm256_and_si256(_mm256_srli_epi16(bits, 4), lowNibble))
            }

            /// Q4_K/Q5_K: 8 groups of 32, `levels(pair)` the unsigned levels of groups 2·pair and 2·pair + 1.
            @inline(__always)
            static func affineKSums(
                _ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ bsums: UnsafePointer<Int32>,
                _ levels: (Int) -> (low: __m256i, high: __m256i)
            ) -> (total: Int32, minimum: Int32) {
                let (scales, mins) = k4ScalesAndMins(b + 4)
                // The 8 scales as 16-bit lanes, in both 128-bit halves, so one byte shuffle broadcasts any of them.
                let scaleLanes = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(Int64(bitPattern: scales))))
                @inline(__always) func scale(_ g: Int) -> __m256i {
                    _mm256_shuffle_epi8(scaleLanes, _mm256_set1_epi16(Int16(2 * g) | Int16(2 * g + 1) << 8))
                }
                var acc = _mm256_setzero_si256()
                for pair in 0..<4 {
                    let (low, high) = levels(pair)
                    let lowProducts = _mm256_maddubs_epi16(low, load(q + 64 * pair))
                    let highProducts = _mm256_maddubs_epi16(high, load(q + 64 * pair + 32))
                    let scaleLow = scale(2 * pair), scaleHigh = scale(2 * pair + 1)
                    let scaled = _mm256_add_epi32(_mm256_madd_epi16(lowProducts, scaleLow), _mm256_madd_epi16(highProducts, scaleHigh))
                    acc = _mm256_add_epi32(acc, scaled)
                }
                let minimum = _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(Int64(bitPattern: mins))), pairSums(bsums))
                return (sum(acc), sum(minimum))
            }

            /// Q6_K: Σ_g scale_g · Σ_j (level_j − 32) · q_j over one super-block, as
            /// Σ_g scale_g · Σ_j level_j · q_j − 32 · Σ_g scale_g · bsum_g (levels 0…63 fit `vpmaddubsw`'s
            /// unsigned operand; the offset comes out through the activations' group sums).
            @inline(__always)
            static func q6KTotal(_ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ bsums: UnsafePointer<Int32>) -> Int32 {
                let packedScales = UnsafeRawPointer(b + 192).loadUnaligned(as: __m128i.self)
                let lowNibble = _mm256_set1_epi8(0x0F), lowPair = _mm256_set1_epi8(3)
                var acc = _mm256_setzero_si256()
                for half in 0..<2 {
                    let ql = b + 64 * half, q8 = q + 128 * half
                    let first = load(ql), second = load(ql + 32), high = load(b + 128 + 32 * half)
                    // Quarter k: low nibbles of `first`/`second` (k = 0, 1) or their high nibbles (k = 2, 3),
                    // with bits 2k, 2k + 1 of qh on top.
                    for quarter in 0..<4 {
                        let nibbles = quarter % 2 == 0 ? first : second
                        let low = _mm256_and_si256(quarter < 2 ? nibbles : _mm256_srli_epi16(nibbles, 4), lowNibble)
                        let top = _mm256_and_si256(_mm256_srli_epi16(high, Int32(2 * quarter)), lowPair)
                        let levels = _mm256_or_si256(low, _mm256_slli_epi16(top, 4))
                        let products = _mm256_maddubs_epi16(levels, load(q8 + 32 * quarter))
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(products, groupScales(packedScales, 8 * half + 2 * quarter)))
                    }
                }
                let scales = _mm256_cvtepi8_epi32(packedScales)
                let scalesHigh = _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(packedScales, packedScales))
                let offsets = _mm256_add_epi32(
                    _mm256_mullo_epi32(scales, load(bsums)), _mm256_mullo_epi32(scalesHigh, load(bsums + 8)))
                return sum(acc) &- 32 &* sum(offsets)
            }

            /// Q8_0: Σ_j w_j · q_j over one block of 32. Both sides are sign-extended to 16 bits
            /// (`vpmaddubsw` would need an activation other than −128, which a subnormal block scale
            /// can produce), so every int8 pair is exact.
            @inline(__always) static func q8_0Dot(_ weights: UnsafePointer<Int8>, _ q: UnsafePointer<Int8>) -> Int32 {
                @inline(__always) func widened(_ p: UnsafePointer<Int8>) -> __m256i {
                    _mm256_cvtepi8_epi16(UnsafeRawPointer(p).loadUnaligned(as: __m128i.self))
                }
                let low = _mm256_madd_epi16(widened(weights), widened(q))
                let high = _mm256_madd_epi16(widened(weights + 16), widened(q + 16))
                return sum(_mm256_add_epi32(low, high))
            }

            /// Q4_0: Σ_j (nibble_j − 8) · q_j over one block of 32, as Σ_j nibble_j · q_j − 8 · Σ_j q_j.
            /// Low nibbles are values 0–15, high nibbles 16–31.
            @inline(__always) static func q4_0Dot(_ bytes: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ qSum: Int32) -> Int32 {
                let packed = UnsafeRawPointer(bytes).loadUnaligned(as: __m128i.self), lowNibble = _mm_set1_epi8(0x0F)
                let levels = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), lowNibble), _mm_and_si128(packed, lowNibble))
                let products = _mm256_maddubs_epi16(levels, load(q))
                return sum(_mm256_madd_epi16(products, _mm256_set1_epi16(1))) &- 8 &* qSum
            }

            /// 16-bit lanes 0–7 = int8 scale `g`, lanes 8–15 = scale `g + 1` (the two groups of 16 in 32 values).
            @inline(__always) static func groupScales(_ packed: __m128i, _ g: Int) -> __m256i {
                let first = Int64(g) &* 0x0101_0101_0101_0101, second = Int64(g + 1) &* 0x0101_0101_0101_0101
                return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(packed, _mm_set_epi64x(second, first)))
            }
        }
    }
#endif
