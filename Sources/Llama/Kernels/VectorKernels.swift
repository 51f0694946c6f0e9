import Foundation

/// The f32 vector operations of the forward pass.
///
/// Kernel file: raw pointers live only inside these functions. Reductions use four `SIMD8`
/// accumulators with unfused multiply-add (the baseline x86-64 target has no FMA, so
/// `addingProduct` would call libm per lane; `docs/forward-pass.md` §8.1–8.2), then a
/// scalar tail. The summation order differs from a strict scalar loop by a few ulp.
enum VectorKernels {
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 32 <= n {
            let o = i * 4
            s0 += ra.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            s1 +=
                ra.loadUnaligned(fromByteOffset: o + 32, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: o + 32, as: SIMD8<Float>.self)
            s2 +=
                ra.loadUnaligned(fromByteOffset: o + 64, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: o + 64, as: SIMD8<Float>.self)
            s3 +=
                ra.loadUnaligned(fromByteOffset: o + 96, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: o + 96, as: SIMD8<Float>.self)
            i += 32
        }
        while i + 8 <= n {
            s0 +=
                ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var sum = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// `acc += a · b`, fused in builds for a CPU with FMA (`LLAMAKIT_FMA`, and arm64); the
    /// baseline x86-64 target would call libm per lane for a fused one (`docs/forward-pass.md` §8.2).
    @inline(__always)
    static func madd(_ acc: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
        #if LLAMAKIT_FMA || arch(arm64)
            acc.addProduct(a, b)
        #else
            acc += a * b
        #endif
    }

    /// `Σ w[i] · x[i]` with `w` widened 8 values at a time by `widen(i)` (`scalar(i)` for a
    /// tail), so a token step reads a 16-bit weight row once instead of widening it into a
    /// scratch row first (measured on the 1B-shaped F16 file, one thread: 4.3 → 7.9 tokens/s).
    @inline(__always)
    private static func dot(
        _ n: Int, _ x: UnsafePointer<Float>, widen: (Int) -> SIMD8<Float>, scalar: (Int) -> Float
    ) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        let rx = UnsafeRawPointer(x)
        @inline(__always) func v(_ i: Int) -> SIMD8<Float> { rx.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self) }
        var i = 0
        while i &+ 32 <= n {
            madd(&s0, widen(i), v(i))
            madd(&s1, widen(i &+ 8), v(i &+ 8))
            madd(&s2, widen(i &+ 16), v(i &+ 16))
            madd(&s3, widen(i &+ 24), v(i &+ 24))
            i &+= 32
        }
        while i &+ 8 <= n {
            madd(&s0, widen(i), v(i))
            i &+= 8
        }
        var sum = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            sum += scalar(i) * x[i]
            i += 1
        }
        return sum
    }

    /// bf16 weights: widening is a 16-bit shift, a plain integer vector operation on any target.
    static func dot(bf16 h: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        dot(
            n, x,
            widen: { i in
                let bits = SIMD8<UInt32>(truncatingIfNeeded: h.loadUnaligned(fromByteOffset: i &* 2, as: SIMD8<UInt16>.self))
                return unsafeBitCast(bits &<< 16, to: SIMD8<Float>.self)
            },
            scalar: { i in Float(bitPattern: UInt32(h.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) << 16) })
    }

    #if LLAMAKIT_F16C
        /// f16 weights, in builds for a CPU with F16C: widening is one instruction per 8 values
        /// (without it, a software conversion per value; `WeightMatrix` uses a table then).
        static func dot(f16 h: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
            dot(
                n, x, widen: { i in SIMD8<Float>(h.loadUnaligned(fromByteOffset: i &* 2, as: SIMD8<Float16>.self)) },
                scalar: { i in Float(h.loadUnaligned(fromByteOffset: i &* 2, as: Float16.self)) })
        }
    #endif

    /// `out = w ⊙ (x / √(mean(x²) + eps))`, the statistic in f32 (Meta's `RMSNorm`).
    static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, _ n: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let meanSquare = dot(x, x, n) / Float(n)
        let scale = 1 / (meanSquare + eps).squareRoot()
        for i in 0..<n { out[i] = (x[i] * scale) * weight[i] }
    }

    /// In place, max-subtracted (Meta's `F.softmax(scores.float())`).
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n { maximum = max(maximum, x[i]) }
        var sum: Float = 0
        for i in 0..<n {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<n { x[i] *= inverse }
    }

    /// `gate[i] = silu(gate[i]) · up[i]`, silu(z) = z / (1 + e^(−z)) (Meta's SwiGLU).
    static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let z = gate[i]
            gate[i] = (z / (1 + expf(-z))) * up[i]
        }
    }

    /// `out[i] += x[i] · a` over `n` values.
    @inline(__always)
    static func addScaled(_ x: UnsafePointer<Float>, _ a: Float, into out: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { out[i] += x[i] * a }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) by the angles whose cos/sin are given
    /// (Meta's interleaved RoPE, `docs/forward-pass.md` §2.1).
    static func rotatePairs(_ x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, pairs: Int) {
        for i in 0..<pairs {
            let a = x[2 * i], b = x[2 * i + 1]
            x[2 * i] = a * cos[i] - b * sin[i]
            x[2 * i + 1] = a * sin[i] + b * cos[i]
        }
    }

    /// The half-split layout: pairs (x[i], x[i + hd/2]).
    static func rotateHalves(_ x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, pairs: Int) {
        for i in 0..<pairs {
            let a = x[i], b = x[i + pairs]
            x[i] = a * cos[i] - b * sin[i]
            x[i + pairs] = a * sin[i] + b * cos[i]
        }
    }
}
