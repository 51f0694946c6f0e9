/// ggml's super-block quantizers Q2_K…Q6_K and the Q8_K activation blocks, byte-identical to
/// `quantize_row_qN_K_ref` (no importance weights) and `quantize_row_qN_K_impl` (with them) of
/// ggml built with `-ffp-contract=off` (`docs/formats.md` §4.5–§4.7).
///
/// Kernel file: raw pointers stay inside these functions. `x` is one super-block of 256 values,
/// `y` its output block, `weights` the block's 256 importance weights or nil.
enum KQuantizers {
    static let superBlock = 256

    /// Per-call working memory, so no block allocates.
    struct Scratch {
        let levels = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        let auxiliary = UnsafeMutablePointer<UInt8>.allocate(capacity: 32)
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: 32)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        let mins = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        let scaleLevels = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
        let minLevels = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
        /// `LaneSearch.Buffers` of a super-block: arrays of 256 floats.
        let lanes = UnsafeMutableRawPointer.allocate(byteCount: LaneSearch.Buffers<SIMD8<Float>>.arrays * laneArrayBytes, alignment: 64)

        var signedLevels: UnsafeMutablePointer<Int8> { UnsafeMutableRawPointer(levels).assumingMemoryBound(to: Int8.self) }

        func deallocate() {
            levels.deallocate()
            auxiliary.deallocate()
            weights.deallocate()
            scales.deallocate()
            mins.deallocate()
            sums.deallocate()
            scaleLevels.deallocate()
            minLevels.deallocate()
            lanes.deallocate()
        }

        static let laneArrayBytes = 256 * MemoryLayout<Float>.stride

        func laneBuffers<V: SIMD>(_: V.Type) -> LaneSearch.Buffers<V> where V.Scalar == Float {
            .init(lanes, bytesPerArray: Self.laneArrayBytes)
        }
    }

    @inline(__always) static func storeF16(_ value: Float, _ y: UnsafeMutableRawPointer, _ offset: Int) {
        y.storeBytes(of: FloatConversion.f16Bits(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always) static func loadF16(_ y: UnsafeRawPointer, _ offset: Int) -> Float {
        FloatConversion.float(f16: UInt16(littleEndian: y.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always) static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var sum: Float = 0
        for i in 0..<n { sum += x[i] * x[i] }
        return sum
    }

    /// The importance weights of one group, `qw · sqrt(σ² + x²)`.
    /// - Returns: their sum, added in order from 0 as ggml sums them for the super-block scales.
    @discardableResult @inline(__always) static func importance(
        _ qw: UnsafePointer<Float>, _ x: UnsafePointer<Float>, sigma2: Float, _ n: Int, into weights: UnsafeMutablePointer<Float>
    ) -> Float {
        var sum: Float = 0
        for l in 0..<n {
            weights[l] = qw[l] * (sigma2 + x[l] * x[l]).squareRoot()
            sum += weights[l]
        }
        return sum
    }

    /// Packs 2-bit levels: byte `j/4 + l` of each 128-value half holds values l, l+32, l+64, l+96.
    @inline(__always) static func packTwoBit(_ levels: UnsafePointer<UInt8>, into qs: UnsafeMutablePointer<UInt8>) {
        for j in stride(from: 0, to: superBlock, by: 128) {
            for l in 0..<32 {
                qs[j / 4 + l] = levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6)
            }
        }
    }

    // MARK: Q2_K — scales[16] qs[64] d dmin

    static func q2K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights qw: UnsafePointer<Float>?, _ s: Scratch) {
        let scalesOut = y.assumingMemoryBound(to: UInt8.self)
        let levels = s.levels
        let d: Float
        let dmin: Float
        if let qw {
            let sigma2 = sumOfSquares(x, superBlock) / Float(superBlock)
            for j in 0..<16 {
                s.sums[j] = importance(qw + 16 * j, x + 16 * j, sigma2: sigma2, 16, into: s.weights)
                let found = ScaleSearch.affine(
                    16, 3, x + 16 * j, weights: s.weights, levels + 16 * j, scratch: s.auxiliary,
                    .init(rmin: -0.9, rdelta: 0.05, steps: 36, absolute: false))
                s.scales[j] = found.scale
                s.mins[j] = found.min
            }
            let dm = ScaleSearch.positive(16, 15, s.scales, s.scaleLevels, weights: s.sums)
            let mm = ScaleSearch.positive(16, 15, s.mins, s.minLevels, weights: s.sums)
            storeF16(dm, y, 80)
            storeF16(mm, y, 82)
            for j in 0..<16 { scalesOut[j] = s.scaleLevels[j] | (s.minLevels[j] << 4) }
        } else {
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0..<16 {
                for l in 0..<16 { s.weights[l] = abs(x[16 * j + l]) }
                let found = ScaleSearch.affine(
                    16, 3, x + 16 * j, weights: s.weights, levels + 16 * j, scratch: s.auxiliary,
                    .init(rmin: -0.5, rdelta: 0.1, steps: 15, absolute: true))
                s.scales[j] = found.scale
                s.mins[j] = found.min
                if found.scale > maxScale { maxScale = found.scale }
                if found.min > maxMin { maxMin = found.min }
            }
            if maxScale > 0 {
                let iscale = 15 / maxScale
                for j in 0..<16 { scalesOut[j] = UInt8(truncatingIfNeeded: ScaleSearch.nearestInt(iscale * s.scales[j])) }
                storeF16(maxScale / 15, y, 80)
            } else {
                for j in 0..<16 { scalesOut[j] = 0 }
                storeF16(0, y, 80)
            }
            if maxMin > 0 {
                let iscale = 15 / maxMin
                for j in 0..<16 {
                    scalesOut[j] |= UInt8(truncatingIfNeeded: ScaleSearch.nearestInt(iscale * s.mins[j]) << 4)
                }
                storeF16(maxMin / 15, y, 82)
            } else {
                storeF16(0, y, 82)
            }
        }
        d = loadF16(y, 80)
        dmin = loadF16(y, 82)
        for j in 0..<16 {
            let scale = d * Float(scalesOut[j] & 0xF)
            if scale == 0 { continue }
            let offset = dmin * Float(scalesOut[j] >> 4)
            for i in 0..<16 {
                levels[16 * j + i] = UInt8(ScaleSearch.clamp(ScaleSearch.nearestInt((x[16 * j + i] + offset) / scale), 0, 3))
            }
        }
        packTwoBit(levels, into: scalesOut + 16)
    }

    // MARK: Q3_K — hmask[32] qs[64] scales[12] d

    static func q3K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights qw: UnsafePointer<Float>?, _ s: Scratch) {
        let bytes = y.assumingMemoryBound(to: UInt8.self)
        let levels = s.signedLevels
        let packed = bytes + 96
        for j in 0..<12 { packed[j] = 0 }
        // Each 6-bit scale: low 4 bits in bytes 0–7 (two per byte), high 2 bits in bytes 8–11.
        func pack(_ j: Int, _ level: Int8) {
            let l = UInt8(bitPattern: level)
            if j < 8 { packed[j] = l & 0xF } else { packed[j - 8] |= (l & 0xF) << 4 }
            packed[j % 4 + 8] |= UInt8(bitPattern: level >> 4) << (2 * (j / 4))
        }
        if let qw {
            let sigma2 = 2 * sumOfSquares(x, superBlock) / Float(superBlock)
            for j in 0..<16 {
                s.sums[j] = importance(qw + 16 * j, x + 16 * j, sigma2: sigma2, 16, into: s.weights)
                s.scales[j] = ScaleSearch.symmetric(16, 4, x + 16 * j, levels + 16 * j, weights: s.weights)
            }
            let scaleLevels = UnsafeMutableRawPointer(s.scaleLevels).assumingMemoryBound(to: Int8.self)
            let dBlock = ScaleSearch.symmetric(16, 32, s.scales, scaleLevels, weights: s.sums)
            for j in 0..<16 { pack(j, scaleLevels[j]) }
            storeF16(dBlock, y, 108)
        } else {
            var maxScale: Float = 0
            var amax: Float = 0
            for j in 0..<16 {
                s.scales[j] = ScaleSearch.symmetricRefined(16, 4, x + 16 * j, levels + 16 * j)
                if abs(s.scales[j]) > amax {
                    amax = abs(s.scales[j])
                    maxScale = s.scales[j]
                }
            }
            if maxScale != 0 {
                let iscale = -32 / maxScale
                for j in 0..<16 {
                    let l = Int8(truncatingIfNeeded: ScaleSearch.nearestInt(iscale * s.scales[j]))
                    pack(j, Int8(ScaleSearch.clamp(Int32(l), -32, 31) + 32))
                }
                storeF16(1 / iscale, y, 108)
            } else {
                storeF16(0, y, 108)
            }
        }
        let d = loadF16(y, 108)
        for j in 0..<16 {
            let dj = d * Float(KQuantScales.q3K(j, packed))
            if dj == 0 { continue }
            for i in 0..<16 {
                levels[16 * j + i] = Int8(ScaleSearch.clamp(ScaleSearch.nearestInt(x[16 * j + i] / dj), -4, 3) + 4)
            }
        }
        let hmask = bytes
        for j in 0..<32 { hmask[j] = 0 }
        var m = 0
        var bit: UInt8 = 1
        for j in 0..<superBlock {
            if levels[j] > 3 {
                hmask[m] |= bit
                levels[j] -= 4
            }
            m += 1
            if m == 32 {
                m = 0
                bit <<= 1
            }
        }
        packTwoBit(s.levels, into: bytes + 32)
    }

    // MARK: Q4_K and Q5_K — d dmin scales[12] (Q5_K: qh[32]) qs[128]

    /// Packs 8 six-bit scales and mins into 12 bytes (ggml's `get_scale_min_k4` layout).
    @inline(__always) static func packScalesAndMins(_ ls: (Int) -> UInt8, _ lm: (Int) -> UInt8, into q: UnsafeMutablePointer<UInt8>) {
        for j in 0..<8 {
            if j < 4 {
                q[j] = ls(j)
                q[j + 4] = lm(j)
            } else {
                q[j + 4] = (ls(j) & 0xF) | ((lm(j) & 0xF) << 4)
                q[j - 4] |= (ls(j) >> 4) << 6
                q[j] |= (lm(j) >> 4) << 6
            }
        }
    }

    /// The shared body of Q4_K (`nmax` 15) and Q5_K (`nmax` 31): sub-block scales and mins of
    /// 32 values (the eight searched at once, one per lane), packed to 6 bits, then every value
    /// requantized against its packed scale.
    static func affineSuperBlock(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights qw: UnsafePointer<Float>?, _ s: Scratch, nmax: Int32
    ) {
        let packed = y.assumingMemoryBound(to: UInt8.self) + 4
        let lanes = s.laneBuffers(SIMD8<Float>.self)
        LaneSearch.gather(x, 32, into: lanes.x)
        if let qw {
            let sigma2 = 2 * sumOfSquares(x, superBlock) / Float(superBlock)
            LaneSearch.gather(qw, 32, into: lanes.weights)
            let sums = LaneSearch.importance(lanes, 32, sigma2: sigma2)
            let found = LaneSearch.affine(32, nmax, lanes, .init(rmin: -0.9, rdelta: 0.05, steps: 36, absolute: false))
            store(found, sums, s)
            let dBlock = ScaleSearch.positive(8, 63, s.scales, s.scaleLevels, weights: s.sums)
            let mBlock = ScaleSearch.positive(8, 63, s.mins, s.minLevels, weights: s.sums)
            // Q5_K's importance path clamps the levels to 63; Q4_K's does not (make_qp_quants keeps them ≤ 63).
            let cap: UInt8 = nmax == 31 ? 63 : 255
            packScalesAndMins({ min(cap, s.scaleLevels[$0]) }, { min(cap, s.minLevels[$0]) }, into: packed)
            storeF16(dBlock, y, 0)
            storeF16(mBlock, y, 2)
        } else {
            let search: ScaleSearch.AffineSearch =
                nmax == 15
                ? .init(rmin: -1, rdelta: 0.1, steps: 20, absolute: false) : .init(rmin: -0.5, rdelta: 0.1, steps: 15, absolute: false)
            let averageMagnitude = (LaneSearch.sumOfSquares(lanes.x, 32) / 32).squareRoot()
            for i in 0..<32 { lanes.weights[i] = averageMagnitude + lanes.x[i].magnitudes() }
            let found = LaneSearch.affine(32, nmax, lanes, search)
            store(found, nil, s)
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0..<8 {
                if s.scales[j] > maxScale { maxScale = s.scales[j] }
                if s.mins[j] > maxMin { maxMin = s.mins[j] }
            }
            let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
            for j in 0..<8 {
                s.scaleLevels[j] = min(63, UInt8(truncatingIfNeeded: ScaleSearch.nearestInt(inverseScale * s.scales[j])))
                s.minLevels[j] = min(63, UInt8(truncatingIfNeeded: ScaleSearch.nearestInt(inverseMin * s.mins[j])))
            }
            packScalesAndMins({ s.scaleLevels[$0] }, { s.minLevels[$0] }, into: packed)
            storeF16(maxScale / 63, y, 0)
            storeF16(maxMin / 63, y, 2)
        }
        requantizeAffine(lanes, packed, d: loadF16(y, 0), dmin: loadF16(y, 2), nmax: nmax)
        LaneSearch.scatter(lanes.levels, 32, into: s.levels)
    }

    /// Copies the lanes' scales, mins and (when given) weight sums to `s` for the scalar steps.
    @inline(__always) static func store(
        _ found: (scale: LaneSearch.Lanes8, min: LaneSearch.Lanes8), _ sums: LaneSearch.Lanes8?, _ s: Scratch
    ) {
        for j in 0..<8 {
            s.scales[j] = found.scale[j]
            s.mins[j] = found.min[j]
            if let sums { s.sums[j] = sums[j] }
        }
    }

    /// Every value of the sub-blocks whose stored scale is not 0 requantized against its stored
    /// scale and min, `(x + dmin·m) / (d·sc)`; the others keep the search's levels.
    @inline(__always) static func requantizeAffine(
        _ lanes: LaneSearch.Buffers<SIMD8<Float>>, _ packed: UnsafePointer<UInt8>, d: Float, dmin: Float, nmax: Int32
    ) {
        var scale = SIMD8<Float>()
        var offset = SIMD8<Float>()
        for j in 0..<8 {
            let (sc, m) = KQuantScales.k4(j, packed)
            scale[j] = d * Float(sc)
            offset[j] = dmin * Float(m)
        }
        let requantized = scale .!= 0
        for i in 0..<32 {
            let l = LaneSearch.clamp(((lanes.x[i] + offset) / scale).nearestInts(), 0, Float(nmax))
            lanes.levels[i].replaceLanes(with: l, where: requantized)
        }
    }

    static func q4K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights: UnsafePointer<Float>?, _ s: Scratch) {
        affineSuperBlock(x, y, weights: weights, s, nmax: 15)
        let q = y.assumingMemoryBound(to: UInt8.self) + 16
        for (n, j) in stride(from: 0, to: superBlock, by: 64).enumerated() {
            for l in 0..<32 { q[32 * n + l] = s.levels[j + l] | (s.levels[j + l + 32] << 4) }
        }
    }

    static func q5K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights: UnsafePointer<Float>?, _ s: Scratch) {
        affineSuperBlock(x, y, weights: weights, s, nmax: 31)
        let qh = y.assumingMemoryBound(to: UInt8.self) + 16
        let ql = qh + 32
        for j in 0..<32 { qh[j] = 0 }
        var m1: UInt8 = 1
        var m2: UInt8 = 2
        for (step, n) in stride(from: 0, to: superBlock, by: 64).enumerated() {
            for j in 0..<32 {
                var l1 = s.levels[n + j]
                if l1 > 15 {
                    l1 -= 16
                    qh[j] |= m1
                }
                var l2 = s.levels[n + j + 32]
                if l2 > 15 {
                    l2 -= 16
                    qh[j] |= m2
                }
                ql[32 * step + j] = l1 | (l2 << 4)
            }
            m1 <<= 2
            m2 <<= 2
        }
    }

    // MARK: Q6_K — ql[128] qh[64] scales[16] d

    static func q6K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights qw: UnsafePointer<Float>?, _ s: Scratch) {
        let bytes = y.assumingMemoryBound(to: UInt8.self)
        let lanes = s.laneBuffers(SIMD16<Float>.self)
        LaneSearch.gather(x, 16, into: lanes.x)
        if let qw {
            LaneSearch.gather(qw, 16, into: lanes.weights)
        } else {
            for i in 0..<16 { lanes.weights[i] = lanes.x[i] * lanes.x[i] }
        }
        let found = LaneSearch.symmetric(16, 32, lanes)
        var maxScale: Float = 0
        var maxAbsScale: Float = 0
        for ib in 0..<16 where abs(found[ib]) > maxAbsScale {
            maxAbsScale = abs(found[ib])
            maxScale = found[ib]
        }
        if maxAbsScale < ScaleSearch.groupMaxEpsilon {
            for j in 0..<210 { bytes[j] = 0 }
            return
        }
        let iscale = -128 / maxScale
        storeF16(1 / iscale, y, 208)
        let scales = UnsafeMutableRawPointer(bytes + 192).assumingMemoryBound(to: Int8.self)
        for ib in 0..<16 { scales[ib] = Int8(truncatingIfNeeded: min(127, ScaleSearch.nearestInt(iscale * found[ib]))) }
        let d = loadF16(y, 208)
        var scale = SIMD16<Float>()
        for j in 0..<16 { scale[j] = d * Float(scales[j]) }
        // Sub-blocks whose stored scale is 0 keep the search's levels.
        let requantized = scale .!= 0
        for i in 0..<16 {
            let l = LaneSearch.clamp((lanes.x[i] / scale).nearestInts(), -32, 31) + 32
            lanes.levels[i].replaceLanes(with: l, where: requantized)
        }
        LaneSearch.scatter(lanes.levels, 16, into: s.levels)
        let level = s.levels
        for (half, j) in stride(from: 0, to: superBlock, by: 128).enumerated() {
            let ql = bytes + 64 * half
            let qh = bytes + 128 + 32 * half
            for l in 0..<32 {
                let q1 = level[j + l] & 0xF
                let q2 = level[j + l + 32] & 0xF
                let q3 = level[j + l + 64] & 0xF
                let q4 = level[j + l + 96] & 0xF
                ql[l] = q1 | (q3 << 4)
                ql[l + 32] = q2 | (q4 << 4)
                qh[l] =
                    (level[j + l] >> 4) | ((level[j + l + 32] >> 4) << 2) | ((level[j + l + 64] >> 4) << 4)
                    | ((level[j + l + 96] >> 4) << 6)
            }
        }
    }

    // MARK: Q8_K — f32 d, qs[256], bsums[16] (activations of the K-type dot products)

    static func q8K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var max: Float = 0
        var amax: Float = 0
        for j in 0..<superBlock where abs(x[j]) > amax {
            amax = abs(x[j])
            max = x[j]
        }
        let qs = UnsafeMutableRawPointer(y + 4).assumingMemoryBound(to: Int8.self)
        if amax == 0 {
            y.storeBytes(of: Float(0).bitPattern.littleEndian, as: UInt32.self)
            for j in 0..<superBlock { qs[j] = 0 }
            for j in 0..<16 { y.storeBytes(of: Int16(0), toByteOffset: 260 + 2 * j, as: Int16.self) }
            return
        }
        let iscale = -127 / max
        for j in 0..<superBlock { qs[j] = Int8(truncatingIfNeeded: min(127, ScaleSearch.nearestInt(iscale * x[j]))) }
        for j in 0..<16 {
            var sum: Int32 = 0
            for i in 0..<16 { sum += Int32(qs[16 * j + i]) }
            y.storeBytes(of: Int16(truncatingIfNeeded: sum).littleEndian, toByteOffset: 260 + 2 * j, as: Int16.self)
        }
        y.storeBytes(of: (1 / iscale).bitPattern.littleEndian, as: UInt32.self)
    }
}
