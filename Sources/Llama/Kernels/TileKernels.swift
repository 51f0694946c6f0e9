/// `out[t] = W · x[t]` for a prompt-sized block of positions: a register-tiled f32 product.
///
/// Kernel file. Four weight rows are decoded to f32 once (`WeightMatrix.decodeRow`; f32 rows are
/// used in place), then every group of three positions is multiplied against them in a 4 × 3
/// tile of `SIMD8<Float>` accumulators: per 8 columns, 7 loads feed 12 multiply-adds, where the
/// row-at-a-time dot product (`VectorKernels.dot`) needs 2 loads per multiply-add and is bound
/// by loads. Measured on a 8192 × 2048 Q8_0 matrix × 65 positions (one thread, AVX2/FMA build):
/// 16.6 → 40.8 G multiply-adds/s; llama.cpp's CPU backend tiles the same way for prompts
/// (llamafile `tinyBLAS`).
///
/// Q8_0/Q4_0 callers pass activations already rounded through Q8_0 (`QuantizedKernels`), so a
/// product here equals the integer block sums of the one-position kernel up to f32 rounding:
/// `(d_w·q_w)·(d_x·q_x)` is exact in f32 (an f16 scale times an int8 needs 19 bits), only the
/// summation order differs.
///
/// Columns must be a multiple of 8 (`supports`); the multiply-add is fused only in builds for a
/// CPU with FMA (`LLAMAKIT_FMA`), since the baseline x86-64 target would call libm per lane
/// (`docs/forward-pass.md` §8.2).
enum TileKernels {
    static let rowsPerTile = 4
    static let positionsPerTile = 3

    static func supports(_ w: WeightMatrix) -> Bool { w.cols % 8 == 0 }

    /// Rows `range` of `w` times every position of `x` (`positions × w.cols`, row-major) into
    /// `out` (`positions × w.rows`). Only rows in `range` are written.
    static func rows(
        _ w: WeightMatrix, _ range: Range<Int>, _ x: UnsafePointer<Float>, _ positions: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let cols = w.cols
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerTile * cols)
        defer { scratch.deallocate() }
        var r = range.lowerBound
        while r < range.upperBound {
            let count = min(rowsPerTile, range.upperBound - r)
            // A short last tile repeats its last row; only `count` rows are stored.
            @inline(__always) func row(_ i: Int) -> UnsafePointer<Float> {
                let row = r + min(i, count - 1)
                if w.dtype == .f32 { return w.base.assumingMemoryBound(to: Float.self) + row * cols }
                w.decodeRow(row, into: scratch + i * cols)
                return UnsafePointer(scratch + i * cols)
            }
            let tile = (row(0), row(1), row(2), row(3))
            var t = 0
            while t < positions {
                let valid = min(positionsPerTile, positions - t)
                multiply(
                    tile, x + t * cols, validPositions: valid, cols: cols,
                    into: out + t * w.rows + r, outStride: w.rows, validRows: count)
                t += positionsPerTile
            }
            r += rowsPerTile
        }
    }

    /// One 4 × 3 tile: `out[p · outStride + i] = Σ_k w_i[k] · x_p[k]` for the valid rows and positions.
    @inline(__always)
    private static func multiply(
        _ w: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
        _ x: UnsafePointer<Float>, validPositions: Int, cols: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
        validRows: Int
    ) {
        // Missing positions of a short tile reread position 0; their sums are dropped.
        let x0 = UnsafeRawPointer(x)
        let x1 = validPositions > 1 ? x0 + cols * 4 : x0
        let x2 = validPositions > 2 ? x0 + cols * 8 : x0
        let w0 = UnsafeRawPointer(w.0), w1 = UnsafeRawPointer(w.1), w2 = UnsafeRawPointer(w.2), w3 = UnsafeRawPointer(w.3)
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
        var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
        var a30 = SIMD8<Float>(), a31 = SIMD8<Float>(), a32 = SIMD8<Float>()
        let end = cols &* 4
        var k = 0
        while k < end {
            let v0 = x0.loadUnaligned(fromByteOffset: k, as: SIMD8<Float>.self)
            let v1 = x1.loadUnaligned(fromByteOffset: k, as: SIMD8<Float>.self)
            let v2 = x2.loadUnaligned(fromByteOffset: k, as: SIMD8<Float>.self)
            // One weight row's 8 columns against the three positions.
            @inline(__always) func step(_ w: UnsafeRawPointer, _ s0: inout SIMD8<Float>, _ s1: inout SIMD8<Float>, _ s2: inout SIMD8<Float>)
            {
                let r = w.loadUnaligned(fromByteOffset: k, as: SIMD8<Float>.self)
                VectorKernels.madd(&s0, r, v0)
                VectorKernels.madd(&s1, r, v1)
                VectorKernels.madd(&s2, r, v2)
            }
            step(w0, &a00, &a01, &a02)
            step(w1, &a10, &a11, &a12)
            step(w2, &a20, &a21, &a22)
            step(w3, &a30, &a31, &a32)
            k &+= 32
        }
        @inline(__always) func store(_ i: Int, _ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>) {
            guard i < validRows else { return }
            out[i] = s0.sum()
            if validPositions > 1 { out[outStride + i] = s1.sum() }
            if validPositions > 2 { out[2 * outStride + i] = s2.sum() }
        }
        store(0, a00, a01, a02)
        store(1, a10, a11, a12)
        store(2, a20, a21, a22)
        store(3, a30, a31, a32)
    }
}
