/// Array-level entry points of the vector kernels, so `LlamaModel` never touches a pointer.
extension VectorKernels {
    /// `out[at ..< at + n] = RMSNorm(x[offset ..< offset + n]; weight)`; `at` defaults to `offset`.
    static func rmsNorm(_ x: [Float], _ offset: Int, _ weight: [Float], _ eps: Float, _ n: Int, into out: inout [Float], at: Int? = nil) {
        x.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    rmsNorm(x.baseAddress! + offset, weight: w.baseAddress!, eps: eps, n, into: o.baseAddress! + (at ?? offset))
                }
            }
        }
    }

    /// Interleaved RoPE on every head of `q` (`heads`) and `k` (`kvHeads`), position t using
    /// `cos/sin[t · hd/2 ..< (t + 1) · hd/2]`. `halfSplit` rotates (i, i + hd/2) instead — the
    /// HF layout, wrong for Meta's weights, used only to inject that bug in tests.
    static func rope(
        _ q: inout [Float], heads: Int, _ k: inout [Float], kvHeads: Int, headDim: Int, positions: Int, cos: [Float], sin: [Float],
        halfSplit: Bool = false
    ) {
        let rotate = halfSplit ? rotateHalves : rotatePairs
        let pairs = headDim / 2
        cos.withUnsafeBufferPointer { c in
            sin.withUnsafeBufferPointer { s in
                q.withUnsafeMutableBufferPointer { q in
                    k.withUnsafeMutableBufferPointer { k in
                        for t in 0..<positions {
                            let ct = c.baseAddress! + t * pairs, st = s.baseAddress! + t * pairs
                            for h in 0..<heads { rotate(q.baseAddress! + (t * heads + h) * headDim, ct, st, pairs) }
                            for h in 0..<kvHeads { rotate(k.baseAddress! + (t * kvHeads + h) * headDim, ct, st, pairs) }
                        }
                    }
                }
            }
        }
    }

    /// One query head over `visible` cached positions: s_t = q·k_t · scale, p = softmax(s),
    /// out = Σ p_t v_t. Keys/values of KV head g start at `kvOffset` in rows of `kvStride`.
    static func attend(
        query: [Float], at queryOffset: Int, keys: [Float], values: [Float], kvOffset: Int, kvStride: Int, headDim: Int,
        visible: Int, scale: Float, scores: inout [Float], into out: inout [Float], at outOffset: Int
    ) {
        query.withUnsafeBufferPointer { q in
            keys.withUnsafeBufferPointer { keys in
                values.withUnsafeBufferPointer { values in
                    scores.withUnsafeMutableBufferPointer { s in
                        out.withUnsafeMutableBufferPointer { out in
                            let qh = q.baseAddress! + queryOffset
                            for t in 0..<visible {
                                s[t] = dot(qh, keys.baseAddress! + t * kvStride + kvOffset, headDim) * scale
                            }
                            softmax(s.baseAddress!, visible)
                            let o = out.baseAddress! + outOffset
                            o.update(repeating: 0, count: headDim)
                            for t in 0..<visible { addScaled(values.baseAddress! + t * kvStride + kvOffset, s[t], into: o, headDim) }
                        }
                    }
                }
            }
        }
    }

    /// `gate = silu(gate) ⊙ up`, element-wise over the whole block.
    static func swiGLU(_ gate: inout [Float], _ up: [Float]) {
        precondition(gate.count == up.count)
        gate.withUnsafeMutableBufferPointer { g in
            up.withUnsafeBufferPointer { u in swiGLU(g.baseAddress!, u.baseAddress!, g.count) }
        }
    }
}
