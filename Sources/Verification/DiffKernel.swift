/// The element loop of `ModelDiff`: two runs of f32 values compared eight at a time.
///
/// Kernel file: raw pointers stay inside these functions. An element is *within tolerance* when
/// its two values are bit-identical, equal (±0, ±inf), or finite with |a − b| ≤ atol + rtol·|b|
/// in f32, as numpy's `isclose(a, b)` decides (NaN is within only when bit-identical). The sums that
/// decide RMSE and cosine similarity are accumulated in f64; a bit-identical pair counts as a
/// difference of 0, so identical non-finite values do not poison them.
enum DiffKernel {
    /// What a run of elements holds; runs are merged in order, so the totals do not depend on
    /// how a tensor was split among threads.
    struct Partial: Sendable {
        var count = 0
        var bitIdentical = true
        var beyondTolerance = 0
        /// The first element beyond tolerance, counted from the start of the run.
        var firstBeyond: Int?
        var maxAbsDiff: Float = 0
        var sawNaNDiff = false
        var sumSquaredDiff = 0.0
        var dot = 0.0
        var sumSquaresA = 0.0
        var sumSquaresB = 0.0

        /// `self` followed by `next`, which starts `count` elements later.
        mutating func append(_ next: Partial) {
            if firstBeyond == nil, let first = next.firstBeyond { firstBeyond = count + first }
            count += next.count
            bitIdentical = bitIdentical && next.bitIdentical
            beyondTolerance += next.beyondTolerance
            maxAbsDiff = max(maxAbsDiff, next.maxAbsDiff)
            sawNaNDiff = sawNaNDiff || next.sawNaNDiff
            sumSquaredDiff += next.sumSquaredDiff
            dot += next.dot
            sumSquaresA += next.sumSquaresA
            sumSquaresB += next.sumSquaresB
        }
    }

    /// Compares `count` f32 values at `a` and `b` (any alignment) and appends them to `partial`.
    static func compare(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int, atol: Float, rtol: Float, into partial: inout Partial) {
        var run = Partial()
        run.count = count
        var identical = SIMDMask<SIMD8<Int32>>(repeating: true)
        var nanDiff = SIMDMask<SIMD8<Int32>>(repeating: false)
        var beyond = SIMD8<Int32>(repeating: 0)
        var maxAbs = SIMD8<Float>(repeating: 0)
        var squares = SIMD8<Double>(repeating: 0), dot = SIMD8<Double>(repeating: 0)
        var squaresA = SIMD8<Double>(repeating: 0), squaresB = SIMD8<Double>(repeating: 0)
        let tolerance = SIMD8<Float>(repeating: atol), relative = SIMD8<Float>(repeating: rtol)
        let infinity = SIMD8<Float>(repeating: .infinity)
        var index = 0
        while index + 8 <= count {
            let x = a.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
            let y = b.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
            let same = unsafeBitCast(x, to: SIMD8<UInt32>.self) .== unsafeBitCast(y, to: SIMD8<UInt32>.self)
            identical = identical .& same
            let d = zeroing(x - y, where: same)
            let magnitude = absolute(d)
            // Written so that NaN is beyond (`<=` is false for it) and so is any unequal pair with
            // an infinity, whose tolerance would otherwise be infinite.
            let scale = absolute(y)
            let within = same .| (x .== y) .| ((magnitude .<= tolerance + relative * scale) .& (scale .< infinity))
            if !all(within) {
                if run.firstBeyond == nil {
                    run.firstBeyond = index + (0..<8).first { !within[$0] }!
                }
                // A true lane is −1: subtracting the mask counts the lanes beyond.
                beyond &-= unsafeBitCast(.!within, to: SIMD8<Int32>.self)
                nanDiff = nanDiff .| (d .!= d)
            }
            maxAbs = pointwiseMax(maxAbs, magnitude)
            let dd = SIMD8<Double>(d), xd = SIMD8<Double>(x), yd = SIMD8<Double>(y)
            squares += dd * dd
            dot += xd * yd
            squaresA += xd * xd
            squaresB += yd * yd
            index &+= 8
        }
        run.bitIdentical = all(identical)
        run.sawNaNDiff = any(nanDiff)
        run.beyondTolerance = Int(beyond.wrappedSum())
        run.maxAbsDiff = maxAbs.max()
        run.sumSquaredDiff = squares.sum()
        run.dot = dot.sum()
        run.sumSquaresA = squaresA.sum()
        run.sumSquaresB = squaresB.sum()
        while index < count {
            let x = a.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let y = b.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let same = x.bitPattern == y.bitPattern
            let d: Float = same ? 0 : x - y
            if !(same || x == y || (abs(d) <= atol + rtol * abs(y) && abs(y) < .infinity)) {
                if run.firstBeyond == nil { run.firstBeyond = index }
                run.beyondTolerance += 1
                if d.isNaN { run.sawNaNDiff = true }
            }
            run.bitIdentical = run.bitIdentical && same
            run.maxAbsDiff = max(run.maxAbsDiff, abs(d))
            run.sumSquaredDiff += Double(d) * Double(d)
            run.dot += Double(x) * Double(y)
            run.sumSquaresA += Double(x) * Double(x)
            run.sumSquaresB += Double(y) * Double(y)
            index += 1
        }
        partial.append(run)
    }

    /// `fabsf` in every lane: the sign bit cleared, one vector AND.
    @inline(__always) private static func absolute(_ v: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: SIMD8<Float>.self)
    }

    /// `v` with the lanes of `mask` set to 0, one vector AND-NOT.
    @inline(__always) private static func zeroing(_ v: SIMD8<Float>, where mask: SIMDMask<SIMD8<Int32>>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<Int32>.self) & ~unsafeBitCast(mask, to: SIMD8<Int32>.self), to: SIMD8<Float>.self)
    }
}
