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

    /// Whether one pair is within tolerance: the rule above, for one element.
    @inline(__always) static func within(_ x: Float, _ y: Float, atol: Float, rtol: Float) -> Bool {
        x.bitPattern == y.bitPattern || x == y || (abs(x - y) <= atol + rtol * abs(y) && abs(y) < .infinity)
    }

    /// Compares `count` f32 values at `a` and `b` (any alignment) and appends them to `partial`.
    /// Blocks of 64 values go through 8-wide lanes with f32 sums per block, added into f64 sums
    /// (a block's rounding error is a few parts in 10⁷ of its own sum, not of the running total);
    /// the rest, and the search for the first value beyond tolerance, run one value at a time.
    static func compare(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int, atol: Float, rtol: Float, into partial: inout Partial) {
        var run = Partial()
        run.count = count
        // Identical runs (every run of a lossless conversion) need only Σa², which is also Σb² and a·b.
        if let squares = sumOfSquaresIfIdentical(a, b, count: count) {
            (run.dot, run.sumSquaresA, run.sumSquaresB) = (squares, squares, squares)
            partial.append(run)
            return
        }
        var differing = SIMD8<Int32>(repeating: 0)
        var beyond = SIMD8<Int32>(repeating: 0)
        var maxBits = SIMD8<UInt32>(repeating: 0)
        var squares = SIMD8<Double>(repeating: 0), dot = SIMD8<Double>(repeating: 0)
        var squaresA = SIMD8<Double>(repeating: 0), squaresB = SIMD8<Double>(repeating: 0)
        let tolerance = SIMD8<Float>(repeating: atol), relative = SIMD8<Float>(repeating: rtol)
        let infinity = SIMD8<Float>(repeating: .infinity)
        var index = 0
        while index &+ 64 <= count {
            var blockSquares = SIMD8<Float>(repeating: 0), blockDot = SIMD8<Float>(repeating: 0)
            var blockA = SIMD8<Float>(repeating: 0), blockB = SIMD8<Float>(repeating: 0)
            for offset in stride(from: index &* 4, to: (index &+ 64) &* 4, by: 32) {
                let x = a.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                let y = b.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                let changed = unsafeBitCast(x, to: SIMD8<Int32>.self) ^ unsafeBitCast(y, to: SIMD8<Int32>.self)
                differing |= changed
                let same = changed .== SIMD8<Int32>(repeating: 0)
                let d = zeroing(x - y, where: same)
                let magnitude = absolute(d)
                let scale = absolute(y)
                // NaN is beyond (`<=` is false for it), and so is an unequal pair with an
                // infinity, whose tolerance would otherwise be infinite.
                let within = same .| (x .== y) .| ((magnitude .<= tolerance + relative * scale) .& (scale .< infinity))
                // A true lane is −1: subtracting the mask counts the lanes beyond.
                beyond &-= unsafeBitCast(.!within, to: SIMD8<Int32>.self)
                // Magnitudes are ≥ 0, so their bits order as their values, NaN above +inf.
                maxBits = pointwiseMax(maxBits, unsafeBitCast(magnitude, to: SIMD8<UInt32>.self))
                blockSquares += d * d
                blockDot += x * y
                blockA += x * x
                blockB += y * y
            }
            squares += SIMD8<Double>(blockSquares)
            dot += SIMD8<Double>(blockDot)
            squaresA += SIMD8<Double>(blockA)
            squaresB += SIMD8<Double>(blockB)
            index &+= 64
        }
        run.bitIdentical = differing == SIMD8(repeating: 0)
        run.beyondTolerance = Int(beyond.wrappedSum())
        var maxAbs = Float(bitPattern: maxBits.max())
        run.sumSquaredDiff = squares.sum()
        run.dot = dot.sum()
        run.sumSquaresA = squaresA.sum()
        run.sumSquaresB = squaresB.sum()
        while index < count {
            let x = a.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let y = b.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let same = x.bitPattern == y.bitPattern
            let d: Float = same ? 0 : x - y
            if !within(x, y, atol: atol, rtol: rtol) { run.beyondTolerance += 1 }
            run.bitIdentical = run.bitIdentical && same
            if abs(d).bitPattern > maxAbs.bitPattern { maxAbs = abs(d) }
            run.sumSquaredDiff += Double(d) * Double(d)
            run.dot += Double(x) * Double(y)
            run.sumSquaresA += Double(x) * Double(x)
            run.sumSquaresB += Double(y) * Double(y)
            index += 1
        }
        run.maxAbsDiff = maxAbs
        run.sawNaNDiff = maxAbs.isNaN
        if run.beyondTolerance > 0 && partial.firstBeyond == nil {
            run.firstBeyond = (0..<count).first { i in
                !within(
                    a.loadUnaligned(fromByteOffset: i &* 4, as: Float.self), b.loadUnaligned(fromByteOffset: i &* 4, as: Float.self),
                    atol: atol, rtol: rtol)
            }
        }
        partial.append(run)
    }

    /// Σa² when the two runs are bit-identical, nil as soon as a block of 64 shows they are not.
    private static func sumOfSquaresIfIdentical(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Double? {
        var squares = SIMD8<Double>(repeating: 0)
        var index = 0
        while index &+ 64 <= count {
            var changed = SIMD8<Int32>(repeating: 0)
            var block = SIMD8<Float>(repeating: 0)
            for offset in stride(from: index &* 4, to: (index &+ 64) &* 4, by: 32) {
                let x = a.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int32>.self)
                changed |= x ^ b.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int32>.self)
                let value = unsafeBitCast(x, to: SIMD8<Float>.self)
                block += value * value
            }
            if changed != SIMD8(repeating: 0) { return nil }
            squares += SIMD8<Double>(block)
            index &+= 64
        }
        var total = squares.sum()
        while index < count {
            let x = a.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            if x.bitPattern != b.loadUnaligned(fromByteOffset: index &* 4, as: Float.self).bitPattern { return nil }
            total += Double(x) * Double(x)
            index += 1
        }
        return total
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
