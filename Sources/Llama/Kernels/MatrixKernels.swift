import Dispatch

/// `out[t] = W · x[t]` for a block of positions, over any weight type.
///
/// Kernel file. Each output row decodes its weight row to f32 once into a per-chunk scratch
/// buffer and dots it with every position of the block, so a prompt of T tokens reads the
/// weights once, not T times. Rows are split into one large chunk per thread
/// (`DispatchQueue.concurrentPerform` costs ≈ 27 µs a call, so small matrices stay on one
/// thread; `forward-and-verification.md` §9.7).
enum MatrixKernels {
    /// A pointer handed to worker threads; every chunk writes a disjoint set of output rows.
    struct SharedPointer<T>: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<T>
    }

    /// - Parameters:
    ///   - x: `positions × w.cols` activations, row-major.
    ///   - out: `positions × w.rows` results, row-major.
    static func matmul(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let work = w.rows * w.cols * max(positions, 1)
        let chunks = work < 1 << 18 ? 1 : max(1, min(threads, w.rows))
        let input = SharedPointer(pointer: UnsafeMutablePointer(mutating: x))
        let output = SharedPointer(pointer: out)
        let quantized = w.dtype == .q8_0 || w.dtype == .q4_0 ? QuantizedKernels.quantize(x, positions: positions, cols: w.cols) : nil
        @Sendable func run(_ range: Range<Int>) {
            if let quantized {
                QuantizedKernels.rows(w, range, quantized, positions, output.pointer)
            } else {
                rows(w, range, input.pointer, positions, output.pointer)
            }
        }
        if chunks == 1 {
            run(0..<w.rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            run((w.rows * chunk / chunks)..<(w.rows * (chunk + 1) / chunks))
        }
    }

    private static func rows(
        _ w: WeightMatrix, _ range: Range<Int>, _ x: UnsafePointer<Float>, _ positions: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let cols = w.cols
        if w.dtype == .f32 {
            let base = w.base.assumingMemoryBound(to: Float.self)
            for r in range {
                for t in 0..<positions { out[t * w.rows + r] = VectorKernels.dot(base + r * cols, x + t * cols, cols) }
            }
            return
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { scratch.deallocate() }
        for r in range {
            w.decodeRow(r, into: scratch)
            for t in 0..<positions { out[t * w.rows + r] = VectorKernels.dot(scratch, x + t * cols, cols) }
        }
    }
}
