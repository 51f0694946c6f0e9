/// `ScaleSearch`'s symmetric and affine searches run on every sub-block of a super-block at once:
/// sub-block j sits in lane j of a SIMD vector, so element i of every sub-block is one vector
/// (`x[i][j]` is value i of sub-block j). Each lane does exactly the scalar C code's operations in
/// its order — the per-sub-block sums still add element 0, 1, 2… in turn, only eight or sixteen
/// sub-blocks advance together — so the bytes equal ggml's. Branches become lane masks; a lane
/// whose C code would `continue` or return early keeps its values through the mask.
///
/// Kernel file: raw pointers stay inside these functions. Same exactness rules as `ScaleSearch`
/// (`docs/formats.md` §4.6): no fused multiply-add (Swift's SIMD `*` and `+` never contract),
/// products in C's order, C's `MIN`/`MAX` as strict comparisons.
extension SIMD8 where Scalar == Float {
    /// The lanes' bits as a mask vector, whose `.&`, `.|`, `.!` are single vector instructions
    /// (the integer vectors' bitwise operators are generic lane loops).
    private typealias Bits = SIMDMask<SIMD8<Int32>>

    @inline(__always) private static func bits(_ pattern: UInt32) -> Bits {
        unsafeBitCast(SIMD8<UInt32>(repeating: pattern), to: Bits.self)
    }

    /// ggml's `nearest_int` in every lane (the int it returns, as an exact float).
    @inline(__always) func nearestInts() -> Self {
        // C's magic-number trick bit for bit, out-of-range values included: it returns the low 23
        // bits of v + 1.5·2²³ minus 2²²; 2²³ + those bits, less 1.5·2²³, is that int, exact in f32.
        let shifted = unsafeBitCast(self + 12_582_912, to: Bits.self)
        return unsafeBitCast((shifted .& Self.bits(0x007F_FFFF)) .| Self.bits(0x4B00_0000), to: Self.self) - 12_582_912
    }

    /// C's unary minus in every lane: the sign bit flipped, so 0 gives −0 (the SIMD protocol's
    /// prefix `-` computes 0 − x, which gives +0).
    @inline(__always) func negated() -> Self {
        unsafeBitCast(unsafeBitCast(self, to: Bits.self) .^ Self.bits(0x8000_0000), to: Self.self)
    }

    /// `fabsf` in every lane: the sign bit cleared, so −0 gives +0 as in C.
    @inline(__always) func magnitudes() -> Self {
        unsafeBitCast(unsafeBitCast(self, to: Bits.self) .& Self.bits(0x7FFF_FFFF), to: Self.self)
    }

    /// `other` in the lanes where `mask` holds, `self` in the others, as one bitwise blend: the
    /// SIMD protocol's `replacing(with:where:)` becomes a branch per lane when the mask outlives
    /// a loop.
    @inline(__always) func replacingLanes(with other: Self, where mask: SIMDMask<SIMD8<Int32>>) -> Self {
        let kept = unsafeBitCast(self, to: Bits.self) .& .!mask
        return unsafeBitCast(kept .| (unsafeBitCast(other, to: Bits.self) .& mask), to: Self.self)
    }

    @inline(__always) mutating func replaceLanes(with other: Self, where mask: SIMDMask<SIMD8<Int32>>) {
        self = replacingLanes(with: other, where: mask)
    }
}

/// The same operations on 16 lanes, spelled out again rather than written once over `SIMD`:
/// generic code gets the protocol's lane-by-lane operators (see `LaneSearch`), which is what
/// these helpers exist to avoid.
extension SIMD16 where Scalar == Float {
    /// The lanes' bits as a mask vector, whose `.&`, `.|`, `.!` are single vector instructions
    /// (the integer vectors' bitwise operators are generic lane loops).
    private typealias Bits = SIMDMask<SIMD16<Int32>>

    @inline(__always) private static func bits(_ pattern: UInt32) -> Bits {
        unsafeBitCast(SIMD16<UInt32>(repeating: pattern), to: Bits.self)
    }

    /// ggml's `nearest_int` in every lane (the int it returns, as an exact float).
    @inline(__always) func nearestInts() -> Self {
        // C's magic-number trick bit for bit, out-of-range values included: it returns the low 23
        // bits of v + 1.5·2²³ minus 2²²; 2²³ + those bits, less 1.5·2²³, is that int, exact in f32.
        let shifted = unsafeBitCast(self + 12_582_912, to: Bits.self)
        return unsafeBitCast((shifted .& Self.bits(0x007F_FFFF)) .| Self.bits(0x4B00_0000), to: Self.self) - 12_582_912
    }

    /// C's unary minus in every lane: the sign bit flipped, so 0 gives −0 (the SIMD protocol's
    /// prefix `-` computes 0 − x, which gives +0).
    @inline(__always) func negated() -> Self {
        unsafeBitCast(unsafeBitCast(self, to: Bits.self) .^ Self.bits(0x8000_0000), to: Self.self)
    }

    /// `fabsf` in every lane: the sign bit cleared, so −0 gives +0 as in C.
    @inline(__always) func magnitudes() -> Self {
        unsafeBitCast(unsafeBitCast(self, to: Bits.self) .& Self.bits(0x7FFF_FFFF), to: Self.self)
    }

    /// `other` in the lanes where `mask` holds, `self` in the others, as one bitwise blend: the
    /// SIMD protocol's `replacing(with:where:)` becomes a branch per lane when the mask outlives
    /// a loop.
    @inline(__always) func replacingLanes(with other: Self, where mask: SIMDMask<SIMD16<Int32>>) -> Self {
        let kept = unsafeBitCast(self, to: Bits.self) .& .!mask
        return unsafeBitCast(kept .| (unsafeBitCast(other, to: Bits.self) .& mask), to: Self.self)
    }

    @inline(__always) mutating func replaceLanes(with other: Self, where mask: SIMDMask<SIMD16<Int32>>) {
        self = replacingLanes(with: other, where: mask)
    }
}

/// The searches are written for concrete vector types: in generic code Swift picks the SIMD
/// protocol's lane-by-lane comparison operators, which compile to a branch per lane.
enum LaneSearch {
    /// Q4_K/Q5_K: eight sub-blocks of 32.
    typealias Lanes8 = SIMD8<Float>
    /// Q6_K: sixteen sub-blocks of 16.
    typealias Lanes16 = SIMD16<Float>

    /// Working vectors of one super-block: n elements of `V.scalarCount` sub-blocks each.
    struct Buffers<V: SIMD> where V.Scalar == Float {
        let x: UnsafeMutablePointer<V>
        let weights: UnsafeMutablePointer<V>
        /// The chosen levels, as exact floats.
        let levels: UnsafeMutablePointer<V>
        /// One search step's levels.
        let candidate: UnsafeMutablePointer<V>
        /// w·x, the same in every step of the symmetric search.
        let weightedX: UnsafeMutablePointer<V>

        static var arrays: Int { 5 }

        /// Views `memory` (`arrays` × `bytesPerArray` bytes, 64-byte aligned) as the arrays.
        init(_ memory: UnsafeMutableRawPointer, bytesPerArray: Int) {
            func array(_ k: Int) -> UnsafeMutablePointer<V> {
                (memory + k * bytesPerArray).bindMemory(to: V.self, capacity: bytesPerArray / MemoryLayout<V>.stride)
            }
            (x, weights, levels, candidate, weightedX) = (array(0), array(1), array(2), array(3), array(4))
        }
    }

    /// `destination[i][j] = source[n·j + i]`: n consecutive values per sub-block into lanes.
    @inline(__always) static func gather<V: SIMD>(_ source: UnsafePointer<Float>, _ n: Int, into destination: UnsafeMutablePointer<V>)
    where V.Scalar == Float {
        for i in 0..<n {
            var v = V()
            for j in 0..<V.scalarCount { v[j] = source[n * j + i] }
            destination[i] = v
        }
    }

    /// The inverse of `gather` for levels (whole numbers 0…255): byte n·j + i is lane j of `levels[i]`.
    @inline(__always) static func scatter<V: SIMD>(_ levels: UnsafePointer<V>, _ n: Int, into bytes: UnsafeMutablePointer<UInt8>)
    where V.Scalar == Float {
        for i in 0..<n {
            let v = levels[i]
            // Levels are whole numbers 0…255: 2²³ + l holds l in its low mantissa bits, read
            // without the range checks of an Int conversion.
            for j in 0..<V.scalarCount { bytes[n * j + i] = UInt8(truncatingIfNeeded: (v[j] + 8_388_608).bitPattern) }
        }
    }

    /// C's `MAX(low, MIN(high, l))` in every lane.
    @inline(__always) static func clamp(_ l: Lanes8, _ low: Float, _ high: Float) -> Lanes8 {
        let upper = l.replacingLanes(with: Lanes8(repeating: high), where: l .> high)
        return upper.replacingLanes(with: Lanes8(repeating: low), where: upper .< low)
    }

    @inline(__always) static func clamp(_ l: Lanes16, _ low: Float, _ high: Float) -> Lanes16 {
        let upper = l.replacingLanes(with: Lanes16(repeating: high), where: l .> high)
        return upper.replacingLanes(with: Lanes16(repeating: low), where: upper .< low)
    }

    /// Σ x² per lane, element 0 first (ggml's `sum_x2` of one sub-block).
    @inline(__always) static func sumOfSquares(_ x: UnsafePointer<Lanes8>, _ n: Int) -> Lanes8 {
        var sum = Lanes8()
        for i in 0..<n { sum += x[i] * x[i] }
        return sum
    }

    /// The importance weights of every lane, `qw · sqrt(σ² + x²)`, written over the `qw` that
    /// `b.weights` holds.
    /// - Returns: their sums, added in order from element 0 as ggml sums them.
    @inline(__always) static func importance(_ b: Buffers<Lanes8>, _ n: Int, sigma2: Float) -> Lanes8 {
        var sum = Lanes8()
        for i in 0..<n {
            b.weights[i] = b.weights[i] * (sigma2 + b.x[i] * b.x[i]).squareRoot()
            sum += b.weights[i]
        }
        return sum
    }

    /// `ScaleSearch.affine` (`make_qkx2_quants` / `make_qkx3_quants` with explicit weights) on
    /// every lane: levels in `b.levels`, x and weights read from `b.x` and `b.weights`.
    /// - Returns: per lane (scale, the negated min that the block stores).
    @inline(__always) static func affine(
        _ n: Int, _ nmax: Int32, _ b: Buffers<Lanes8>, _ search: ScaleSearch.AffineSearch
    ) -> (scale: Lanes8, min: Lanes8) {
        typealias V = Lanes8
        let x = b.x, w = b.weights, levels = b.levels, candidate = b.candidate
        let top = Float(nmax)
        var min = x[0]
        var max = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            min.replaceLanes(with: x[i], where: x[i] .< min)
            max.replaceLanes(with: x[i], where: x[i] .> max)
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        min.replaceLanes(with: V(), where: min .> 0)
        // C returns at once for these lanes: levels 0, scale 0, min as it is.
        let flat = max .<= min
        var iscale = V(repeating: top) / (max - min)
        var scale = V(repeating: 1) / iscale
        var bestError = V()
        for i in 0..<n {
            let l = clamp((iscale * (x[i] - min)).nearestInts(), 0, top)
            levels[i] = l
            let diff = scale * l + min - x[i]
            bestError += w[i] * (search.absolute ? diff.magnitudes() : diff * diff)
        }
        if search.steps >= 1 {
            for step in 0...search.steps {
                iscale = V(repeating: search.rmin + search.rdelta * Float(step) + top) / (max - min)
                let fit = fitStep(n, top, iscale, min, sumW: sumW, sumX: sumX, b)
                let error = weightedError(n, fit.scale, fit.min, b, absolute: search.absolute)
                let better = .!flat .& fit.solvable .& (error .< bestError)
                guard any(better) else { continue }
                for i in 0..<n { levels[i].replaceLanes(with: candidate[i], where: better) }
                bestError.replaceLanes(with: error, where: better)
                scale.replaceLanes(with: fit.scale, where: better)
                min.replaceLanes(with: fit.min, where: better)
            }
        }
        for i in 0..<n { levels[i].replaceLanes(with: V(), where: flat) }
        scale.replaceLanes(with: V(), where: flat)
        return (scale, min.negated())
    }

    /// One step of the affine search: levels for `iscale` into `b.candidate`, and the weighted
    /// least-squares scale and min (min clamped to ≤ 0) of those levels, from the lanes' Σw and
    /// Σw·x. `solvable` is C's `D > 0`.
    @inline(__always) static func fitStep(
        _ n: Int, _ top: Float, _ iscale: Lanes8, _ min: Lanes8, sumW: Lanes8, sumX: Lanes8, _ b: Buffers<Lanes8>
    ) -> (scale: Lanes8, min: Lanes8, solvable: SIMDMask<SIMD8<Int32>>) {
        typealias V = Lanes8
        let x = b.x, w = b.weights
        var sumL = V(), sumL2 = V(), sumXL = V()
        for i in 0..<n {
            let l = clamp((iscale * (x[i] - min)).nearestInts(), 0, top)
            b.candidate[i] = l
            let wl = w[i] * l
            sumL += wl
            sumL2 += wl * l
            sumXL += wl * x[i]
        }
        let determinant = sumW * sumL2 - sumL * sumL
        var scale = (sumW * sumXL - sumX * sumL) / determinant
        var shift = (sumL2 * sumX - sumL * sumXL) / determinant
        let positive = shift .> 0
        shift.replaceLanes(with: V(), where: positive)
        scale.replaceLanes(with: sumXL / sumL2, where: positive)
        return (scale, shift, determinant .> 0)
    }

    /// Σ w·|Δ| or Σ w·Δ² per lane of `b.candidate` against x, Δ = scale·l + min − x.
    @inline(__always) static func weightedError(
        _ n: Int, _ scale: Lanes8, _ min: Lanes8, _ b: Buffers<Lanes8>, absolute: Bool
    ) -> Lanes8 {
        var error = Lanes8()
        for i in 0..<n {
            let diff = scale * b.candidate[i] + min - b.x[i]
            error += b.weights[i] * (absolute ? diff.magnitudes() : diff * diff)
        }
        return error
    }

    /// `ScaleSearch.symmetric` (`make_qx_quants`, rmse_type 1, with explicit weights) on every
    /// lane: levels `l + nmax` (0 for an all-zero lane) in `b.levels`.
    /// - Returns: per lane the scale (0 for an all-zero lane).
    @inline(__always) static func symmetric(_ n: Int, _ nmax: Int32, _ b: Buffers<Lanes16>) -> Lanes16 {
        typealias V = Lanes16
        let x = b.x, w = b.weights, levels = b.levels
        let top = Float(nmax)
        var max = V()
        var amax = V()
        for i in 0..<n {
            let ax = x[i].magnitudes()
            let larger = ax .> amax
            amax.replaceLanes(with: ax, where: larger)
            max.replaceLanes(with: x[i], where: larger)
        }
        let zero = amax .< ScaleSearch.groupMaxEpsilon
        var iscale = V(repeating: -top) / max
        var sumlx = V()
        var suml2 = V()
        for i in 0..<n {
            let l = clamp((iscale * x[i]).nearestInts(), -top, top - 1)
            levels[i] = l
            b.weightedX[i] = w[i] * x[i]
            sumlx += b.weightedX[i] * l
            suml2 += w[i] * l * l
        }
        var scale = (sumlx / suml2).replacingLanes(with: V(), where: suml2 .== 0)
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = V(repeating: -(top + 0.1 * Float(step))) / max
            sumlx = V()
            suml2 = V()
            for i in 0..<n {
                let l = clamp((iscale * x[i]).nearestInts(), -top, top - 1)
                b.candidate[i] = l
                sumlx += b.weightedX[i] * l
                suml2 += w[i] * l * l
            }
            let better = (suml2 .> 0) .& (sumlx * sumlx .> best * suml2)
            guard any(better) else { continue }
            for i in 0..<n { levels[i].replaceLanes(with: b.candidate[i], where: better) }
            let newScale = sumlx / suml2
            scale.replaceLanes(with: newScale, where: better)
            best.replaceLanes(with: newScale * sumlx, where: better)
        }
        for i in 0..<n { levels[i] = (levels[i] + top).replacingLanes(with: V(), where: zero) }
        return scale.replacingLanes(with: V(), where: zero)
    }
}
