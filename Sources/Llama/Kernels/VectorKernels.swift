import Foundation

/// The f32 vector operations of the forward pass.
///
/// Kernel file: raw pointers live only inside these functions. Reductions use four `SIMD8`
/// accumulators with unfused multiply-add (the baseline x86-64 target has no FMA, so
/// `addingProduct` would call libm per lane; `forward-and-verification.md` §9.1–9.2), then a
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
    /// (Meta's interleaved RoPE, `forward-and-verification.md` §2).
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
