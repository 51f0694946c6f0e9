import Quantization

/// Q8_0 and Q4_0 matrix products the way llama.cpp computes them on CPU: the activations are
/// quantized to Q8_0 blocks (32 values, scale d = max|x| / 127 stored as f16, q = round(x / d)),
/// then each block's dot product is an integer sum scaled once:
/// `Σ_b (d_w · d_x) · Σ_j q_w[j] · q_x[j]` (ggml `ggml_vec_dot_q8_0_q8_0`, `…_q4_0_q8_0`).
///
/// Kernel file. Swift never reassociates a float reduction, but integer loops do vectorize
/// (`docs/forward-pass.md` §8.1, §8.4), so the 32-element block loop is a plain `Int32`
/// loop and the float work is one multiply-add per block.
enum QuantizedKernels {
    /// Activations of a block of positions as Q8_0: `positions × blocks` scales and `positions × cols` int8.
    struct QuantizedActivations: Sendable {
        var scales: [Float]
        var values: [Int8]
        let cols: Int
    }

    /// The activations quantized by the Q8_0 quantizer that writes files, then split into scales
    /// and values so the dot products read each as a plain array.
    static func quantize(_ x: UnsafePointer<Float>, positions: Int, cols: Int) -> QuantizedActivations {
        let format = BlockFormat.q8_0
        let n = format.elementsPerBlock, stride = format.bytesPerBlock
        let blocks = positions * cols / n
        var encoded = [UInt8](repeating: 0, count: blocks * stride)
        _ = encoded.withUnsafeMutableBytes {
            BlockQuantizer.quantize(UnsafeBufferPointer(start: x, count: positions * cols), as: format, into: $0)
        }
        var scales = [Float](repeating: 0, count: blocks)
        var values = [Int8](repeating: 0, count: positions * cols)
        encoded.withUnsafeBytes { raw in
            values.withUnsafeMutableBytes { values in
                for b in 0..<blocks {
                    scales[b] = FloatConversion.float(
                        f16: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: b * stride, as: UInt16.self)))
                    values.baseAddress!.advanced(by: b * n).copyMemory(
                        from: raw.baseAddress! + b * stride + BlockFormat.valuesOffset, byteCount: n)
                }
            }
        }
        return QuantizedActivations(scales: scales, values: values, cols: cols)
    }

    /// The activations as f32 again, `d · q` (exact: an f16-valued scale times an int8).
    static func dequantize(_ x: QuantizedActivations, positions: Int) -> [Float] {
        let cols = x.cols, n = BlockFormat.q8_0.elementsPerBlock, blocks = cols / n
        var out = [Float](repeating: 0, count: positions * cols)
        out.withUnsafeMutableBufferPointer { out in
            x.values.withUnsafeBufferPointer { values in
                x.scales.withUnsafeBufferPointer { scales in
                    for i in 0..<(positions * blocks) {
                        let d = scales[i]
                        for j in (i * n)..<(i * n + n) { out[j] = Float(values[j]) * d }
                    }
                }
            }
        }
        return out
    }

    /// One Q8_0 row (`blocks` blocks at `row`) · one quantized activation vector.
    @inline(__always)
    static func dotQ8_0(
        _ row: UnsafeRawPointer, _ q: UnsafePointer<Int8>, _ scales: UnsafePointer<Float>, blocks: Int, table: UnsafePointer<Float>
    )
        -> Float
    {
        var sum: Float = 0
        let stride = BlockFormat.q8_0.bytesPerBlock
        for b in 0..<blocks {
            let block = row + b * stride
            let weights = (block + BlockFormat.valuesOffset).assumingMemoryBound(to: Int8.self)
            let activations = q + b * 32
            var integer: Int32 = 0
            for j in 0..<32 { integer &+= Int32(weights[j]) &* Int32(activations[j]) }
            sum += Float(integer) * (table[Int(block.loadUnaligned(as: UInt16.self))] * scales[b])
        }
        return sum
    }

    /// One Q4_0 row · one quantized activation vector; nibble j is element j (low) or j + 16 (high), minus 8.
    @inline(__always)
    static func dotQ4_0(
        _ row: UnsafeRawPointer, _ q: UnsafePointer<Int8>, _ scales: UnsafePointer<Float>, blocks: Int, table: UnsafePointer<Float>
    )
        -> Float
    {
        var sum: Float = 0
        let stride = BlockFormat.q4_0.bytesPerBlock
        for b in 0..<blocks {
            let block = row + b * stride
            let nibbles = (block + BlockFormat.valuesOffset).assumingMemoryBound(to: UInt8.self)
            let activations = q + b * 32
            var integer: Int32 = 0
            for j in 0..<16 {
                integer &+= (Int32(nibbles[j] & 0x0F) &- 8) &* Int32(activations[j])
                integer &+= (Int32(nibbles[j] >> 4) &- 8) &* Int32(activations[j + 16])
            }
            sum += Float(integer) * (table[Int(block.loadUnaligned(as: UInt16.self))] * scales[b])
        }
        return sum
    }

    /// Rows `range` of a Q8_0/Q4_0 matrix times every position of `x`.
    static func rows(
        _ w: WeightMatrix, _ range: Range<Int>, _ x: QuantizedActivations, _ positions: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let blocks = w.cols / BlockFormat.q8_0.elementsPerBlock
        WeightMatrix.f16Table.withUnsafeBufferPointer { table in
            x.values.withUnsafeBufferPointer { values in
                x.scales.withUnsafeBufferPointer { scales in
                    for r in range {
                        let row = w.base + r * w.rowBytes
                        for t in 0..<positions {
                            let q = values.baseAddress! + t * w.cols
                            let s = scales.baseAddress! + t * blocks
                            out[t * w.rows + r] =
                                w.dtype == .q8_0
                                ? dotQ8_0(row, q, s, blocks: blocks, table: table.baseAddress!)
                                : dotQ4_0(row, q, s, blocks: blocks, table: table.baseAddress!)
                        }
                    }
                }
            }
        }
    }
}
