import Dispatch

/// `out[t] = W · x[t]` for a block of positions, over any weight type.
///
/// Kernel file. A prompt (≥ `tiledMinimumPositions`) goes through `TileKernels` (weight rows
/// widened once per tile of 4 rows × 3 positions), or, over Q4_K/Q5_K/Q6_K rows in native builds,
/// through `QuantizedTileKernels` (integer block dots, bit-identical to a token step's). Fewer positions — a token step — take one
/// weight row at a time: block formats as integer block dots (`QuantizedKernels`), f16/bf16 widened
/// inside the dot product, f32 in place; either way every weight is read once per call. Rows
/// are split into one large chunk per thread (`DispatchQueue.concurrentPerform` costs ≈ 27 µs a
/// call, so small matrices stay on one thread; `docs/forward-pass.md` §8.7).
enum MatrixKernels {
    /// A pointer handed to worker threads; every chunk writes a disjoint set of output rows.
    struct SharedPointer<T>: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<T>
    }

    /// From this many positions on, products run through the register-tiled `TileKernels`
    /// (a prompt); below it, one row at a time (decoding a token reads each weight once anyway).
    static let tiledMinimumPositions = 4

    /// - Parameters:
    ///   - x: `positions × w.cols` activations, row-major.
    ///   - out: `positions × w.rows` results, row-major.
    static func matmul(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let work = w.rows * w.cols * max(positions, 1)
        let chunks = work < 1 << 18 ? 1 : max(1, min(threads, w.rows / TileKernels.rowsPerTile))
        let quantized = QuantizedKernels.activationFormat(for: w.dtype).map {
            QuantizedKernels.quantize(x, positions: positions, cols: w.cols, as: $0)
        }
        let prompt = positions >= tiledMinimumPositions
        // K-quant prompts in native builds: integer block dots, four positions per weight block.
        let integerTiled = prompt && quantized != nil && QuantizedTileKernels.supports(w.dtype)
        let tiled = prompt && !integerTiled && TileKernels.supports(w)
        let output = SharedPointer(pointer: out)
        func dispatch(_ x: UnsafePointer<Float>) {
            let input = SharedPointer(pointer: UnsafeMutablePointer(mutating: x))
            @Sendable func run(_ range: Range<Int>) {
                if integerTiled, let quantized {
                    #if arch(x86_64) && LLAMAKIT_AVX2
                        QuantizedTileKernels.rows(w, range, quantized, positions, output.pointer)
                    #endif
                } else if tiled {
                    TileKernels.rows(w, range, input.pointer, positions, output.pointer)
                } else if let quantized {
                    QuantizedKernels.rows(w, range, quantized, positions, output.pointer)
                } else {
                    rows(w, range, input.pointer, positions, output.pointer)
                }
            }
            // Chunk bounds fall on whole row tiles.
            @Sendable func bound(_ chunk: Int) -> Int {
                chunk == chunks ? w.rows : (w.rows * chunk / chunks) / TileKernels.rowsPerTile * TileKernels.rowsPerTile
            }
            if chunks == 1 {
                run(0..<w.rows)
            } else {
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in run(bound(chunk)..<bound(chunk + 1)) }
            }
        }
        if tiled, let quantized {
            // The f32 tiled product takes the quantized activations back to f32 (d · q), so a
            // prompt and a token step compute the same products (up to summation order).
            QuantizedKernels.dequantize(quantized, positions: positions).withUnsafeBufferPointer { dispatch($0.baseAddress!) }
        } else {
            dispatch(x)
        }
    }

    private static func rows(
        _ w: WeightMatrix, _ range: Range<Int>, _ x: UnsafePointer<Float>, _ positions: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let cols = w.cols
        // f32 rows are read in place and 16-bit rows widened inside the dot product (one pass
        // over the weights; f16 needs F16C); other types are widened into a scratch row first.
        @inline(__always) func eachRow(_ dot: (UnsafeRawPointer, UnsafePointer<Float>) -> Float) {
            for r in range {
                let row = w.base + r * w.rowBytes
                for t in 0..<positions { out[t * w.rows + r] = dot(row, x + t * cols) }
            }
        }
        switch w.dtype {
        case .f32: return eachRow { VectorKernels.dot($0.assumingMemoryBound(to: Float.self), $1, cols) }
        case .bf16: return eachRow { VectorKernels.dot(bf16: $0, $1, cols) }
        #if LLAMAKIT_F16C
            case .f16: return eachRow { VectorKernels.dot(f16: $0, $1, cols) }
        #endif
        default: break
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { scratch.deallocate() }
        for r in range {
            w.decodeRow(r, into: scratch)
            for t in 0..<positions { out[t * w.rows + r] = VectorKernels.dot(scratch, x + t * cols, cols) }
        }
    }
}
