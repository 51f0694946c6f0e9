import TensorCore

#if arch(x86_64) && LLAMAKIT_AVX2
    import _Builtin_intrinsics.intel
#endif

/// `out[t] = W · x[t]` for a prompt over Q4_K, Q5_K and Q6_K rows: the integer block dots of a
/// token step (`QuantizedKernels.AVX2`, `vpmaddubsw`/`vpmaddwd` over the Q8_K activations), with
/// each weight block's levels and group scales unpacked once for eight positions.
///
/// Kernel file. Per (row, block) the integer sums of eight positions come out of one unpacking
/// (eight 256-bit accumulators); their horizontal sums are taken together (`vphaddd`), and the
/// float combination is the token step's, `(d · d_x) · Σ − (dmin · d_x) · Σ_min` (Q6_K:
/// `(d · d_x) · Σ`) added block by block in the same order, one position per lane of element-wise
/// `vmulps`/`vsubps`/`vaddps` (IEEE, no fused multiply-add), so every output is bit-identical to
/// `QuantizedKernels.dot`: a prompt and a token-by-token pass compute the same products. The
/// integer sums are exact in any order. A last tile of 3–4 positions runs a four-position twin,
/// one of 1–2 positions the token step's kernel itself.
///
/// The activations are first laid out tile by tile (`Tiles`: per super-block the eight positions'
/// values, Int16 group sums and scales side by side), once per call. Rows go in bands of
/// `rowsPerBand`, so a band's weights stay in cache while every position tile passes over them.
/// Measured on the 1B-shaped Q4_K_M file, 65-token prompt, one thread: prefill 41 → 76 t/s
/// against widening rows to f32 for `TileKernels` (`Benchmarks/README.md`, Q4_K_M).
///
/// Built only with `LLAMAKIT_AVX2`; portable builds run the f32 `TileKernels` over the
/// activations taken back to f32 (`supports` is false there).
enum QuantizedTileKernels {
    static let positionsPerTile = 8
    static let rowsPerBand = 16

    static func supports(_ dtype: DType) -> Bool {
        #if arch(x86_64) && LLAMAKIT_AVX2
            return dtype == .q4_K || dtype == .q5_K || dtype == .q6_K
        #else
            return false
        #endif
    }

    #if arch(x86_64) && LLAMAKIT_AVX2
        typealias AVX2 = QuantizedKernels.AVX2

        /// Rows `range` of `w` (Q4_K, Q5_K or Q6_K) times every position of `x` (Q8_K) into `out`
        /// (`positions × w.rows`). Only rows in `range` are written.
        static func rows(
            _ w: WeightMatrix, _ range: Range<Int>, _ x: QuantizedKernels.QuantizedActivations, _ positions: Int,
            _ out: UnsafeMutablePointer<Float>
        ) {
            precondition(x.format == .q8_K && supports(w.dtype))
            let blocks = w.cols / 256
            let tiles = (positions + positionsPerTile - 1) / positionsPerTile
            let activations = Tiles(x, positions: positions, blocks: blocks, tiles: tiles)
            defer { activations.deallocate() }
            WeightMatrix.f16Table.withUnsafeBufferPointer { f16Table in
                x.values.withUnsafeBufferPointer { values in
                    x.scales.withUnsafeBufferPointer { scales in
                        x.sums.withUnsafeBufferPointer { sums in
                            let table = f16Table.baseAddress!
                            // A tail of one or two positions takes the token step's kernel (the same products).
                            @inline(__always) func token(_ p: Int) -> QuantizedKernels.Activation {
                                QuantizedKernels.Activation(
                                    q: values.baseAddress! + p * w.cols, d: scales.baseAddress! + p * blocks,
                                    sums: sums.baseAddress! + p * blocks * 16)
                            }
                            var band = range.lowerBound
                            while band < range.upperBound {
                                let bandEnd = min(band + rowsPerBand, range.upperBound)
                                for tile in 0..<tiles {
                                    let t = tile * positionsPerTile, valid = min(positionsPerTile, positions - t)
                                    let x = activations.tile(tile)
                                    for r in band..<bandEnd {
                                        let row = (w.base + r * w.rowBytes).assumingMemoryBound(to: UInt8.self)
                                        if valid > 4 {
                                            let result: SIMD8<Float>
                                            switch w.dtype {
                                            case .q4_K: result = affineRow8(row, x, blocks: blocks, five: false, table)
                                            case .q5_K: result = affineRow8(row, x, blocks: blocks, five: true, table)
                                            default: result = q6KRow8(row, x, blocks: blocks, table)
                                            }
                                            for i in 0..<valid { out[(t + i) * w.rows + r] = result[i] }
                                        } else if valid > 2 {
                                            let result: SIMD4<Float>
                                            switch w.dtype {
                                            case .q4_K: result = affineRow(row, x, blocks: blocks, five: false, table)
                                            case .q5_K: result = affineRow(row, x, blocks: blocks, five: true, table)
                                            default: result = q6KRow(row, x, blocks: blocks, table)
                                            }
                                            for i in 0..<valid { out[(t + i) * w.rows + r] = result[i] }
                                        } else {
                                            for p in t..<(t + valid) {
                                                out[p * w.rows + r] = QuantizedKernels.dot(
                                                    w.dtype, UnsafeRawPointer(row), token(p), blocks: blocks, table: table)
                                            }
                                        }
                                    }
                                }
                                band = bandEnd
                            }
                        }
                    }
                }
            }
        }

        /// The Q8_K activations laid out tile by tile, super-block by super-block, so one tile's
        /// operands for one weight block are contiguous and reached from three pointers: per block
        /// the eight positions' 256 values, their 16 group sums as Int16 (|Σ| ≤ 16 · 128, so
        /// `vpmaddwd` weighs 16 at once), and their eight scales.
        /// A short last tile repeats its last position.
        struct Tiles {
            let q: UnsafeMutablePointer<Int8>
            let sums: UnsafeMutablePointer<Int16>
            let scales: UnsafeMutablePointer<SIMD8<Float>>
            let blocks: Int

            init(_ x: QuantizedKernels.QuantizedActivations, positions: Int, blocks: Int, tiles: Int) {
                self.blocks = blocks
                let count = tiles * blocks
                q = .allocate(capacity: count * positionsPerTile * 256)
                sums = .allocate(capacity: count * positionsPerTile * 16)
                scales = .allocate(capacity: count)
                x.values.withUnsafeBufferPointer { values in
                    x.sums.withUnsafeBufferPointer { groupSums in
                        x.scales.withUnsafeBufferPointer { d in
                            for tile in 0..<tiles {
                                for b in 0..<blocks {
                                    let at = tile * blocks + b
                                    var scale = SIMD8<Float>()
                                    for i in 0..<positionsPerTile {
                                        let p = min(tile * positionsPerTile + i, positions - 1)
                                        let slot = at * positionsPerTile + i
                                        (q + 256 * slot).update(from: values.baseAddress! + (p * blocks + b) * 256, count: 256)
                                        for g in 0..<16 {
                                            sums[16 * slot + g] = Int16(truncatingIfNeeded: groupSums[(p * blocks + b) * 16 + g])
                                        }
                                        scale[i] = d[p * blocks + b]
                                    }
                                    scales[at] = scale
                                }
                            }
                        }
                    }
                }
            }

            func deallocate() {
                q.deallocate()
                sums.deallocate()
                scales.deallocate()
            }

            func tile(_ tile: Int) -> Tile {
                let at = tile * blocks
                return Tile(q: q + at * positionsPerTile * 256, sums: sums + at * positionsPerTile * 16, scales: scales + at)
            }
        }

        /// One tile of `Tiles`: block b's values of position i at `q + 2048 b + 256 i`, its sums at
        /// `sums + 128 b + 16 i`, the scales at `scales[b]`.
        struct Tile {
            let q: UnsafePointer<Int8>
            let sums: UnsafePointer<Int16>
            let scales: UnsafePointer<SIMD8<Float>>

            init(q: UnsafeMutablePointer<Int8>, sums: UnsafeMutablePointer<Int16>, scales: UnsafeMutablePointer<SIMD8<Float>>) {
                self.q = UnsafePointer(q)
                self.sums = UnsafePointer(sums)
                self.scales = UnsafePointer(scales)
            }
        }

        /// A Q4_K/Q5_K super-block unpacked for `vpmaddubsw`/`vpmaddwd`: its levels 32 at a time,
        /// its group scales as 16-bit lanes and its minimums, as `QuantizedKernels.affineK` reads them.
        struct AffineBlock {
            let block: UnsafePointer<UInt8>
            let five: Bool
            let scaleLanes: __m256i
            let mins: UInt64
            let qh: __m256i

            @inline(__always) init(_ row: UnsafePointer<UInt8>, _ b: Int, five: Bool) {
                block = row + b * (five ? 176 : 144)
                self.five = five
                let (scales, mins) = AVX2.k4ScalesAndMins(block + 4)
                scaleLanes = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(Int64(bitPattern: scales))))
                self.mins = mins
                qh = AVX2.load(block + 16)
            }

            /// Group g's scale in every 16-bit lane.
            @inline(__always) func scale(_ g: Int) -> __m256i {
                _mm256_shuffle_epi8(scaleLanes, _mm256_set1_epi16(Int16(2 * g) | Int16(2 * g + 1) << 8))
            }

            /// The levels of groups 2·pair (low) and 2·pair+1 (high), with Q5_K's fifth bit.
            @inline(__always) func levels(_ pair: Int) -> (low: __m256i, high: __m256i) {
                var (low, high) = AVX2.nibbles(AVX2.load(block + (five ? 48 : 16) + 32 * pair))
                if five {
                    low = _mm256_or_si256(low, fifthBit(2 * pair))
                    high = _mm256_or_si256(high, fifthBit(2 * pair + 1))
                }
                return (low, high)
            }

            @inline(__always) private func fifthBit(_ bit: Int) -> __m256i {
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(bit)), _mm256_set1_epi8(1)), 4)
            }

            /// Σ_g min_g · (bsum_2g + bsum_2g+1) of one position: each min twice, against its 16 group sums.
            @inline(__always) func minimum(_ sums: UnsafePointer<Int16>) -> __m256i {
                let minBytes = _mm_cvtsi64_si128(Int64(bitPattern: mins))
                return _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(minBytes, minBytes)), AVX2.load(UnsafeRawPointer(sums)))
            }

            /// Σ over one position's 256 values (`q`) of level × value × group scale, for one pair of groups.
            @inline(__always) func products(_ levels: (low: __m256i, high: __m256i), _ pair: Int, _ q: UnsafePointer<Int8>) -> __m256i {
                let lowProducts = _mm256_maddubs_epi16(levels.low, AVX2.load(q + 64 * pair))
                let highProducts = _mm256_maddubs_epi16(levels.high, AVX2.load(q + 64 * pair + 32))
                return _mm256_add_epi32(
                    _mm256_madd_epi16(lowProducts, scale(2 * pair)), _mm256_madd_epi16(highProducts, scale(2 * pair + 1)))
            }
        }

        /// A Q6_K super-block unpacked for `vpmaddubsw`/`vpmaddwd`, as `QuantizedKernels.q6K` reads it.
        struct Q6KBlock {
            let block: UnsafePointer<UInt8>
            let packedScales: __m128i

            @inline(__always) init(_ row: UnsafePointer<UInt8>, _ b: Int) {
                block = row + b * 210
                packedScales = UnsafeRawPointer(block + 192).loadUnaligned(as: __m128i.self)
            }

            /// The unsigned levels (0…63) of the 32 values at `128 · half + 32 · quarter`.
            @inline(__always) func levels(_ half: Int, _ quarter: Int) -> __m256i {
                let nibbles = AVX2.load(block + 64 * half + 32 * (quarter % 2))
                let low = _mm256_and_si256(quarter < 2 ? nibbles : _mm256_srli_epi16(nibbles, 4), _mm256_set1_epi8(0x0F))
                let high = AVX2.load(block + 128 + 32 * half)
                let top = _mm256_and_si256(_mm256_srli_epi16(high, Int32(2 * quarter)), _mm256_set1_epi8(3))
                return _mm256_or_si256(low, _mm256_slli_epi16(top, 4))
            }

            @inline(__always) func groupScale(_ half: Int, _ quarter: Int) -> __m256i {
                AVX2.groupScales(packedScales, 8 * half + 2 * quarter)
            }

            /// Σ over the 32 values at `128 · half + 32 · quarter` of one position (`q`: its 256
            /// values) of level × value × group scale.
            @inline(__always) func products(
                _ levels: __m256i, _ groupScale: __m256i, _ half: Int, _ quarter: Int, _ q: UnsafePointer<Int8>
            ) -> __m256i {
                _mm256_madd_epi16(_mm256_maddubs_epi16(levels, AVX2.load(q + 128 * half + 32 * quarter)), groupScale)
            }

            /// One position's integer sum less the − 32 offset, taken through its group sums:
            /// Σ_j (l_j − 32) q_j = Σ_j l_j q_j − 32 · bsum.
            @inline(__always) func withoutOffset(_ acc: __m256i, _ sums: UnsafePointer<Int16>) -> __m256i {
                let weighted = _mm256_madd_epi16(_mm256_cvtepi8_epi16(packedScales), AVX2.load(UnsafeRawPointer(sums)))
                return _mm256_sub_epi32(acc, _mm256_slli_epi32(weighted, 5))
            }

            @inline(__always) func d(_ table: UnsafePointer<Float>) -> Float { QuantizedKernels.f16(block, 208, table) }
        }

        /// Lane i (0…7) = the wrapping sum of the 8 lanes of vector i.
        @inline(__always)
        static func sums(
            _ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i, _ v4: __m256i, _ v5: __m256i, _ v6: __m256i, _ v7: __m256i
        ) -> __m256i {
            // Within each 128-bit half: [Σlo v0…v3 | Σhi v0…v3] (lanes 0–3, 4–7); adding the halves gives the totals.
            let a = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3))
            let b = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7))
            let halves = (unsafeBitCast(a, to: SIMD8<Int32>.self), unsafeBitCast(b, to: SIMD8<Int32>.self))
            let total = SIMD8(
                lowHalf: halves.0.lowHalf &+ halves.0.highHalf, highHalf: halves.1.lowHalf &+ halves.1.highHalf)
            return unsafeBitCast(total, to: __m256i.self)
        }

        /// Lane i (0…3) = the wrapping sum of the 8 lanes of vector i.
        @inline(__always) static func sums(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i) -> __m128i {
            let a = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3))
            let halves = unsafeBitCast(a, to: SIMD8<Int32>.self)
            return unsafeBitCast(halves.lowHalf &+ halves.highHalf, to: __m128i.self)
        }

        /// Q4_K/Q5_K: one row · the first four positions of a tile, block by block as `QuantizedKernels.affineK`.
        @inline(__always)
        static func affineRow(
            _ row: UnsafePointer<UInt8>, _ x: Tile, blocks: Int, five: Bool, _ table: UnsafePointer<Float>
        ) -> SIMD4<Float> {
            var total = _mm256_setzero_ps()  // lanes 0–3 used
            for b in 0..<blocks {
                let block = AffineBlock(row, b, five: five)
                let q = x.q + 2048 * b, s = x.sums + 128 * b
                var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0
                for pair in 0..<4 {
                    let levels = block.levels(pair)
                    a0 = _mm256_add_epi32(a0, block.products(levels, pair, q))
                    a1 = _mm256_add_epi32(a1, block.products(levels, pair, q + 256))
                    a2 = _mm256_add_epi32(a2, block.products(levels, pair, q + 512))
                    a3 = _mm256_add_epi32(a3, block.products(levels, pair, q + 768))
                }
                // Totals in lanes 0–3, minimum sums in 4–7 (`__m256` is `SIMD8<Float>`).
                let integer = _mm256_cvtepi32_ps(
                    sums(a0, a1, a2, a3, block.minimum(s), block.minimum(s + 16), block.minimum(s + 32), block.minimum(s + 48)))
                // Lanes 0–3 d · d_x · Σ, lanes 4–7 dmin · d_x · Σ_min, as the token step rounds them.
                let d = QuantizedKernels.f16(block.block, 0, table), dmin = QuantizedKernels.f16(block.block, 2, table)
                // The tile's first four scales, twice.
                let dx = _mm256_permutevar8x32_ps(x.scales[b], _mm256_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3))
                let scaled = _mm256_mul_ps(_mm256_set_m128(_mm_set1_ps(dmin), _mm_set1_ps(d)), dx)
                let parts = _mm256_mul_ps(scaled, integer)
                // Lanes 0–3 − lanes 4–7 (`vpermps` moves the upper half down; the upper lanes of `total` are unused).
                let upper = _mm256_permutevar8x32_ps(parts, _mm256_setr_epi32(4, 5, 6, 7, 4, 5, 6, 7))
                total = _mm256_add_ps(total, _mm256_sub_ps(parts, upper))
            }
            return total.lowHalf
        }

        /// Q6_K: one row · the first four positions of a tile, block by block as `QuantizedKernels.q6K`.
        @inline(__always)
        static func q6KRow(_ row: UnsafePointer<UInt8>, _ x: Tile, blocks: Int, _ table: UnsafePointer<Float>) -> SIMD4<Float> {
            var total = _mm_setzero_ps()
            for b in 0..<blocks {
                let block = Q6KBlock(row, b)
                let q = x.q + 2048 * b, s = x.sums + 128 * b
                var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0
                for half in 0..<2 {
                    for quarter in 0..<4 {
                        let levels = block.levels(half, quarter), groupScale = block.groupScale(half, quarter)
                        @inline(__always) func step(_ acc: inout __m256i, _ i: Int) {
                            acc = _mm256_add_epi32(acc, block.products(levels, groupScale, half, quarter, q + 256 * i))
                        }
                        step(&a0, 0)
                        step(&a1, 1)
                        step(&a2, 2)
                        step(&a3, 3)
                    }
                }
                let integer = _mm_cvtepi32_ps(
                    sums(
                        block.withoutOffset(a0, s), block.withoutOffset(a1, s + 16), block.withoutOffset(a2, s + 32),
                        block.withoutOffset(a3, s + 48)))
                let scaled = _mm_mul_ps(_mm_set1_ps(block.d(table)), _mm256_castps256_ps128(x.scales[b]))
                total = _mm_add_ps(total, _mm_mul_ps(scaled, integer))
            }
            return total
        }

        /// Q4_K/Q5_K: one row · eight positions, block by block as `QuantizedKernels.affineK`.
        @inline(__always)
        static func affineRow8(
            _ row: UnsafePointer<UInt8>, _ x: Tile, blocks: Int, five: Bool, _ table: UnsafePointer<Float>
        ) -> SIMD8<Float> {
            var total = _mm256_setzero_ps()
            for b in 0..<blocks {
                let block = AffineBlock(row, b, five: five)
                let q = x.q + 2048 * b, s = x.sums + 128 * b
                var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
                for pair in 0..<4 {
                    let levels = block.levels(pair)
                    a0 = _mm256_add_epi32(a0, block.products(levels, pair, q))
                    a1 = _mm256_add_epi32(a1, block.products(levels, pair, q + 256))
                    a2 = _mm256_add_epi32(a2, block.products(levels, pair, q + 512))
                    a3 = _mm256_add_epi32(a3, block.products(levels, pair, q + 768))
                    a4 = _mm256_add_epi32(a4, block.products(levels, pair, q + 1024))
                    a5 = _mm256_add_epi32(a5, block.products(levels, pair, q + 1280))
                    a6 = _mm256_add_epi32(a6, block.products(levels, pair, q + 1536))
                    a7 = _mm256_add_epi32(a7, block.products(levels, pair, q + 1792))
                }
                let totals = _mm256_cvtepi32_ps(sums(a0, a1, a2, a3, a4, a5, a6, a7))
                let minima = _mm256_cvtepi32_ps(
                    sums(
                        block.minimum(s), block.minimum(s + 16), block.minimum(s + 32), block.minimum(s + 48), block.minimum(s + 64),
                        block.minimum(s + 80), block.minimum(s + 96), block.minimum(s + 112)))
                let d = QuantizedKernels.f16(block.block, 0, table), dmin = QuantizedKernels.f16(block.block, 2, table)
                let dx = x.scales[b]
                let parts = _mm256_sub_ps(
                    _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(d), dx), totals),
                    _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(dmin), dx), minima))
                total = _mm256_add_ps(total, parts)
            }
            return total
        }

        /// Q6_K: one row · eight positions, block by block as `QuantizedKernels.q6K`.
        @inline(__always)
        static func q6KRow8(_ row: UnsafePointer<UInt8>, _ x: Tile, blocks: Int, _ table: UnsafePointer<Float>) -> SIMD8<Float> {
            var total = _mm256_setzero_ps()
            for b in 0..<blocks {
                let block = Q6KBlock(row, b)
                let q = x.q + 2048 * b, s = x.sums + 128 * b
                var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
                for half in 0..<2 {
                    for quarter in 0..<4 {
                        let levels = block.levels(half, quarter), groupScale = block.groupScale(half, quarter)
                        @inline(__always) func step(_ acc: inout __m256i, _ i: Int) {
                            acc = _mm256_add_epi32(acc, block.products(levels, groupScale, half, quarter, q + 256 * i))
                        }
                        step(&a0, 0)
                        step(&a1, 1)
                        step(&a2, 2)
                        step(&a3, 3)
                        step(&a4, 4)
                        step(&a5, 5)
                        step(&a6, 6)
                        step(&a7, 7)
                    }
                }
                let integer = _mm256_cvtepi32_ps(
                    sums(
                        block.withoutOffset(a0, s), block.withoutOffset(a1, s + 16), block.withoutOffset(a2, s + 32),
                        block.withoutOffset(a3, s + 48), block.withoutOffset(a4, s + 64), block.withoutOffset(a5, s + 80),
                        block.withoutOffset(a6, s + 96), block.withoutOffset(a7, s + 112)))
                let scaled = _mm256_mul_ps(_mm256_set1_ps(block.d(table)), x.scales[b])
                total = _mm256_add_ps(total, _mm256_mul_ps(scaled, integer))
            }
            return total
        }
    #endif
}
