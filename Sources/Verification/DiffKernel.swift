/// The element loop of `ModelDiff`: two runs of f32 values compared.
///
/// Kernel file: raw pointers stay inside these functions. An element is *within tolerance* when
/// its two values are bit-identical, equal (±0, ±inf), or finite with |a − b| ≤ atol + rtol·|b|
/// in f32, as numpy's `isclose(a, b)` decides (NaN is within only when bit-identical). A
/// bit-identical pair counts as a difference of 0, so identical non-finite values do not poison
/// the sums. `exact` is the rule as written, one value at a time in f64; the vector paths give the
/// same verdicts for the values they accept and hand everything else to it.
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
    ///
    /// Identical runs (every run of a lossless conversion) cost one pass that checks bits and sums
    /// a². Others go through 8-wide lanes in blocks of 64 values with f32 sums per block, added
    /// into f64 sums (a block's rounding error is a few parts in 10⁷ of its own sum, not of the
    /// running total); a run holding an infinity or NaN, or whose squares overflow f32, is redone
    /// by `exact`. The first value beyond tolerance is then found by a scalar scan, only while the
    /// piece has none yet.
    static func compare(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int, atol: Float, rtol: Float, into partial: inout Partial) {
        var run: Partial
        if let squares = sumOfSquaresIfIdentical(a, b, count: count), squares.isFinite {
            run = Partial()
            run.count = count
            // Σa² is also Σb² and a·b.
            (run.dot, run.sumSquaresA, run.sumSquaresB) = (squares, squares, squares)
        } else {
            run = finite(a, b, count: count, atol: atol, rtol: rtol) ?? exact(a, b, count: count, atol: atol, rtol: rtol)
        }
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

    /// Two runs that are not identical, when every value and every f32 block sum is finite:
    /// then bit-identical pairs are equal pairs with a difference of 0, and `x == y` or
    /// |d| ≤ atol + rtol·|y| is the whole rule. nil when something was not finite.
    private static func finite(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int, atol: Float, rtol: Float) -> Partial? {
        var withinLanes = SIMD8<Int32>(repeating: 0)
        var maxBits = SIMD8<UInt32>(repeating: 0)
        var squares = SIMD8<Double>(repeating: 0), dot = SIMD8<Double>(repeating: 0)
        var squaresA = SIMD8<Double>(repeating: 0), squaresB = SIMD8<Double>(repeating: 0)
        let tolerance = SIMD8<Float>(repeating: atol), relative = SIMD8<Float>(repeating: rtol)
        let blocks = count / 64
        for block in 0..<blocks {
            var blockSquares = SIMD8<Float>(repeating: 0), blockDot = SIMD8<Float>(repeating: 0)
            var blockA = SIMD8<Float>(repeating: 0), blockB = SIMD8<Float>(repeating: 0)
            for offset in stride(from: block &* 256, to: (block &+ 1) &* 256, by: 32) {
                let x = a.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                let y = b.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                let d = x - y
                let magnitude = absolute(d)
                let within = (x .== y) .| (magnitude .<= tolerance + relative * absolute(y))
                // A true lane is −1: subtracting the mask counts the lanes within.
                withinLanes &-= unsafeBitCast(within, to: SIMD8<Int32>.self)
                // Magnitudes are ≥ 0, so their bits order as their values.
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
        }
        var run = exact(a + blocks * 256, b + blocks * 256, count: count - blocks * 64, atol: atol, rtol: rtol)
        run.count = count
        run.bitIdentical = false
        run.beyondTolerance += blocks * 64 - Int(withinLanes.wrappedSum())
        run.maxAbsDiff = max(run.maxAbsDiff, Float(bitPattern: maxBits.max()))
        run.sumSquaredDiff += squares.sum()
        run.dot += dot.sum()
        run.sumSquaresA += squaresA.sum()
        run.sumSquaresB += squaresB.sum()
        // An infinity or NaN anywhere makes a square, a product or a difference non-finite.
        let finite =
            run.maxAbsDiff.isFinite && run.sumSquaredDiff.isFinite && run.dot.isFinite && run.sumSquaresA.isFinite
            && run.sumSquaresB.isFinite
        return finite ? run : nil
    }

    /// The rule as written, one value at a time, sums in f64: the reference the vector paths
    /// agree with, and the path for runs that hold infinities or NaN.
    private static func exact(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int, atol: Float, rtol: Float) -> Partial {
        var run = Partial()
        run.count = count
        var maxAbs: Float = 0
        for index in 0..<count {
            let x = a.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let y = b.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
            let same = x.bitPattern == y.bitPattern
            let d: Float = same ? 0 : x - y
            if !within(x, y, atol: atol, rtol: rtol) { run.beyondTolerance += 1 }
            run.bitIdentical = run.bitIdentical && same
            // Bits of magnitudes order as their values, NaN above +inf.
            if abs(d).bitPattern > maxAbs.bitPattern { maxAbs = abs(d) }
            run.sumSquaredDiff += Double(d) * Double(d)
            run.dot += Double(x) * Double(y)
            run.sumSquaresA += Double(x) * Double(x)
            run.sumSquaresB += Double(y) * Double(y)
        }
        run.maxAbsDiff = maxAbs
        run.sawNaNDiff = maxAbs.isNaN
        return run
    }

    /// `fabsf` in every lane: the sign bit cleared, one vector AND.
    @inline(__always) private static func absolute(_ v: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: SIMD8<Float>.self)
    }
}
