/// The scale searches of ggml's K-quant and importance-weighted quantizers (`make_qx_quants`,
/// `make_q3_quants`, `make_qkx2_quants` / `make_qkx3_quants`, `make_qp_quants`;
/// `docs/formats.md` §4.6), with every float operation in the C source's order and rounding.
///
/// Kernel file: raw pointers stay inside these functions. Exactness rules (`docs/formats.md`
/// §4.6): no fused multiply-add (Swift never contracts, matching ggml built with
/// `-ffp-contract=off`); `a * b * c` is `(a * b) * c` as in C; an `int` stored into an
/// `int8_t`/`uint8_t` array keeps its low byte (`truncatingIfNeeded`); `MIN`/`MAX` are C's
/// `a < b ? a : b` and `a > b ? a : b`.
enum ScaleSearch {
    /// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// ggml's `nearest_int`: round to nearest (ties to even) through the float mantissa by adding
    /// 1.5·2²³. Defined for |value| ≤ 2²² − 1; beyond that it returns the same wrapped value
    /// as the C code, never traps.
    @inline(__always) static func nearestInt(_ value: Float) -> Int32 {
        let shifted = value + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) - 0x0040_0000
    }

    /// The first value of largest magnitude (strict `>`), or nil when the group is all zero
    /// (below `groupMaxEpsilon`).
    @inline(__always) static func largestMagnitude(_ n: Int, _ x: UnsafePointer<Float>) -> Float? {
        var max: Float = 0
        var amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            max = x[i]
        }
        return amax < groupMaxEpsilon ? nil : max
    }

    @inline(__always) static func clamp(_ value: Int32, _ low: Int32, _ high: Int32) -> Int32 {
        let upper = value < high ? value : high
        return low > upper ? low : upper
    }

    /// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw)`: a symmetric scale, searched over 18
    /// nearby inverse scales, minimising Σ w·(x − scale·l)² with w = `weights` or x².
    /// Writes levels `l + nmax` in [0, 2·nmax) to `levels`.
    static func symmetric(
        _ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>, weights: UnsafePointer<Float>?
    ) -> Float {
        guard let max = largestMagnitude(n, x) else {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        let weight: (Int) -> Float = { i in weights?[i] ?? x[i] * x[i] }
        var iscale = Float(-nmax) / max
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            levels[i] = Int8(truncatingIfNeeded: l + nmax)
            let w = weight(i)
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / max
            sumlx = 0
            suml2 = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
                let w = weight(i)
                sumlx += w * x[i] * Float(l)
                suml2 += w * Float(l) * Float(l)
            }
            if suml2 > 0 && sumlx * sumlx > best * suml2 {
                for i in 0..<n { levels[i] = Int8(truncatingIfNeeded: nmax + clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)) }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// `make_q3_quants(n, nmax, x, L, do_rmse = true)`: a symmetric scale refined by moving one
    /// level at a time (up to 5 passes) while Σ x²·(x − scale·l)² falls. Levels `l + nmax`.
    static func symmetricRefined(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>) -> Float {
        guard let max = largestMagnitude(n, x) else {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        let iscale = Float(-nmax) / max
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0..<n {
            let l = clamp(nearestInt(iscale * x[i]), -nmax, nmax - 1)
            levels[i] = Int8(truncatingIfNeeded: l)
            let w = x[i] * x[i]
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i]
                let current = Float(levels[i])
                var slx = sumlx - w * x[i] * current
                guard slx > 0 else { continue }
                var sl2 = suml2 - w * current * current
                let newL = clamp(nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
                guard newL != Int32(levels[i]) else { continue }
                slx += w * x[i] * Float(newL)
                sl2 += w * Float(newL) * Float(newL)
                if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                    levels[i] = Int8(truncatingIfNeeded: newL)
                    sumlx = slx
                    suml2 = sl2
                    changed += 1
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { levels[i] = levels[i] &+ Int8(truncatingIfNeeded: nmax) }
        return suml2 > 0 ? sumlx / suml2 : 0
    }

    /// The parameters of one affine search: inverse scales `(rmin + rdelta·k + nmax) / (max − min)`
    /// for k in 0...steps, error |Δ| (`absolute`) or Δ².
    struct AffineSearch {
        var rmin: Float
        var rdelta: Float
        var steps: Int
        var absolute: Bool
    }

    /// `make_qkx2_quants` / `make_qkx3_quants`: x ≈ scale·l − min with l in [0, nmax], the min
    /// clamped to ≤ 0 before negation, searched over `search`'s inverse scales by weighted least
    /// squares. Weights are `weights` or, when nil, x² (qkx3's default).
    /// - Returns: (scale, the negated min that the block stores).
    static func affine(
        _ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>?, _ levels: UnsafeMutablePointer<UInt8>,
        scratch: UnsafeMutablePointer<UInt8>, _ search: AffineSearch
    ) -> (scale: Float, min: Float) {
        let weight: (Int) -> Float = { i in weights?[i] ?? x[i] * x[i] }
        var min = x[0]
        var max = x[0]
        var sumW = weight(0)
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weight(i)
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if max <= min {
            for i in 0..<n { levels[i] = 0 }
            return (0, -min)
        }
        var iscale = Float(nmax) / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            levels[i] = UInt8(truncatingIfNeeded: clamp(nearestInt(iscale * (x[i] - min)), 0, nmax))
            var diff = scale * Float(levels[i]) + min - x[i]
            diff = search.absolute ? abs(diff) : diff * diff
            bestError += weight(i) * diff
        }
        if search.steps < 1 { return (scale, -min) }
        for step in 0...search.steps {
            iscale = (search.rmin + search.rdelta * Float(step) + Float(nmax)) / (max - min)
            var sumL: Float = 0
            var sumL2: Float = 0
            var sumXL: Float = 0
            for i in 0..<n {
                let l = clamp(nearestInt(iscale * (x[i] - min)), 0, nmax)
                scratch[i] = UInt8(truncatingIfNeeded: l)
                let w = weight(i)
                sumL += w * Float(l)
                sumL2 += w * Float(l) * Float(l)
                sumXL += w * Float(l) * x[i]
            }
            let determinant = sumW * sumL2 - sumL * sumL
            guard determinant > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / determinant
            var thisMin = (sumL2 * sumX - sumL * sumXL) / determinant
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                var diff = thisScale * Float(scratch[i]) + thisMin - x[i]
                diff = search.absolute ? abs(diff) : diff * diff
                error += weight(i) * diff
            }
            if error < bestError {
                for i in 0..<n { levels[i] = scratch[i] }
                bestError = error
                scale = thisScale
                min = thisMin
            }
        }
        return (scale, -min)
    }

    /// `make_qp_quants(n, nmax, x, L, quant_weights)`: a scale for non-negative values (the
    /// sub-block scales and mins of the importance-weighted K-quants), levels in [0, nmax].
    static func positive(
        _ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<UInt8>, weights: UnsafePointer<Float>
    ) -> Float {
        var max: Float = 0
        for i in 0..<n { max = max > x[i] ? max : x[i] }
        if max < groupMaxEpsilon {
            for i in 0..<n { levels[i] = 0 }
            return 0
        }
        var iscale = Float(nmax) / max
        for i in 0..<n { levels[i] = UInt8(truncatingIfNeeded: nearestInt(iscale * x[i])) }
        let scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let diff = x[i] - scale * Float(levels[i])
            bestError += weights[i] * diff * diff
        }
        for step in -4...4 where step != 0 {
            let trialInverse = (0.1 * Float(step) + Float(nmax)) / max
            let trialScale = 1 / trialInverse
            var error: Float = 0
            for i in 0..<n {
                let l = Swift.min(nmax, nearestInt(trialInverse * x[i]))
                let diff = x[i] - trialScale * Float(l)
                error += weights[i] * diff * diff
            }
            if error < bestError {
                bestError = error
                iscale = trialInverse
            }
        }
        var sumlx: Float = 0
        var suml2: Float = 0
        for i in 0..<n {
            let l = Swift.min(nmax, nearestInt(iscale * x[i]))
            levels[i] = UInt8(truncatingIfNeeded: l)
            let w = weights[i]
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = weights[i]
                let current = Float(levels[i])
                var slx = sumlx - w * x[i] * current
                var sl2 = suml2 - w * current * current
                guard slx > 0 && sl2 > 0 else { continue }
                let newL = Swift.min(nmax, nearestInt(x[i] * sl2 / slx))
                guard newL != Int32(levels[i]) else { continue }
                slx += w * x[i] * Float(newL)
                sl2 += w * Float(newL) * Float(newL)
                if slx * slx * suml2 > sumlx * sumlx * sl2 {
                    levels[i] = UInt8(truncatingIfNeeded: newL)
                    sumlx = slx
                    suml2 = sl2
                    changed += 1
                }
            }
            if changed == 0 { break }
        }
        return suml2 > 0 ? sumlx / suml2 : 0
    }
}
