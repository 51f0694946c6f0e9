import BinaryIO
import TensorCore

/// Meta's Llama forward pass (`docs/forward-pass.md` §1–§2, mirroring
/// llama-models `llama3/model.py`), over any `TensorSource`, with a KV cache.
///
/// Read it top to bottom like llama2.c's `run.c`: `forward` embeds the tokens, runs every layer
/// (RMSNorm → q/k/v → RoPE → cache → causal attention with GQA → wo → residual; RMSNorm → SwiGLU
/// → residual) and returns f32 logits for every position of the block. Weights stay in the type
/// the file stores (f32, f16, bf16, Q8_0, Q4_0) and are decoded row by row inside the matmul
/// kernels. Activations, norms, RoPE, softmax and logits are f32.
public final class LlamaModel {
    public let config: LlamaConfig
    public let rope: RotaryEmbedding
    /// The largest number of positions the KV cache holds.
    public let maxSequenceLength: Int
    /// Worker threads for the matrix products.
    public var threads: Int
    /// The weight type of the big matrices (the first layer's wq), for gates and reports.
    public let weightType: DType
    /// Classic mistakes (`docs/forward-pass.md` §5), injected only by the
    /// tests that prove `verify` catches each of them.
    struct Faults {
        /// HF's half-split pairs (i, i + hd/2) applied to Meta's interleaved weights.
        var halfSplitRoPE = false
        /// Query head h reads KV head h mod KV instead of ⌊h / n_rep⌋.
        var moduloGQA = false
    }
    var faults = Faults()

    /// Positions already in the cache; the next `forward` starts here.
    public private(set) var position = 0

    struct Layer {
        let attentionNorm: [Float]
        let wq, wk, wv, wo: PartitionedMatrix
        let ffnNorm: [Float]
        let w1, w2, w3: PartitionedMatrix
    }

    private let store: WeightStore
    private let embedding: PartitionedMatrix
    private let layers: [Layer]
    private let norm: [Float]
    private let output: PartitionedMatrix
    /// Per layer, `maxSequenceLength × kvDim` keys and values.
    private var keyCache: [[Float]]
    private var valueCache: [[Float]]

    /// Bytes of weights read in place from the file, and bytes copied (records that cannot be
    /// used in place: deflated, strided, big-endian).
    public var residentWeightBytes: Int { store.residentBytes }
    public var copiedWeightBytes: Int { store.copiedBytes }
    /// How the weights are held: in place or copied, and from how many shards.
    public var weightResidency: WeightResidency {
        WeightResidency(
            residentBytes: store.residentBytes, copiedBytes: store.copiedBytes, copiedTensors: store.copiedTensors,
            shards: store.mostParts)
    }

    /// - Parameters:
    ///   - sourceName: Meta tensor name → the name in `source` (identity for `.pth` checkpoints).
    ///   - rope: the frequencies (Meta's from `config`, or a GGUF file's `rope_freqs`).
    /// - Throws: `InputError` naming a missing or mis-shaped tensor.
    public init(
        config: LlamaConfig, source: any TensorSource, sourceName: @escaping (String) -> String = { $0 },
        rope: RotaryEmbedding? = nil, maxSequenceLength: Int, threads: Int = 1
    ) throws {
        precondition(maxSequenceLength > 0)
        self.config = config
        self.maxSequenceLength = maxSequenceLength
        self.threads = max(1, threads)
        self.rope =
            rope ?? RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, scalingFactor: config.ropeScalingFactor)
        let store = WeightStore(source: source, sourceName: sourceName)
        self.store = store
        let d = config.dim, kvDim = config.kvHeadCount * config.headDim, f = config.ffnHiddenSize
        embedding = try store.matrix("tok_embeddings.weight", rows: config.vocabSize, cols: d)
        layers = try (0..<config.layerCount).map { i in
            let p = "layers.\(i)."
            return Layer(
                attentionNorm: try store.vector(p + "attention_norm.weight", count: d),
                wq: try store.matrix(p + "attention.wq.weight", rows: d, cols: d),
                wk: try store.matrix(p + "attention.wk.weight", rows: kvDim, cols: d),
                wv: try store.matrix(p + "attention.wv.weight", rows: kvDim, cols: d),
                wo: try store.matrix(p + "attention.wo.weight", rows: d, cols: d),
                ffnNorm: try store.vector(p + "ffn_norm.weight", count: d),
                w1: try store.matrix(p + "feed_forward.w1.weight", rows: f, cols: d),
                w2: try store.matrix(p + "feed_forward.w2.weight", rows: d, cols: f),
                w3: try store.matrix(p + "feed_forward.w3.weight", rows: f, cols: d))
        }
        norm = try store.vector("norm.weight", count: d)
        // Llama 3.2 1B/3B tie the output to the embedding; converted files then omit output.weight.
        output = store.has("output.weight") ? try store.matrix("output.weight", rows: config.vocabSize, cols: d) : embedding
        weightType = layers.first?.wq.dtype ?? embedding.dtype
        keyCache = Array(repeating: [], count: config.layerCount)
        valueCache = Array(repeating: [], count: config.layerCount)
    }

    /// Forgets the cached positions.
    public func reset() { position = 0 }

    /// Keeps only the first `count` cached positions (a chat whose new prompt shares them).
    public func rewind(to count: Int) {
        precondition(count >= 0 && count <= position)
        position = count
    }

    /// Which positions of a block get logits.
    public enum Logits: Sendable { case all, last }

    /// Runs `tokens` at positions `position ..< position + tokens.count`, appends their keys and
    /// values to the cache, and returns f32 logits (`rows × vocabSize`, row-major).
    /// - Throws: `InputError` for a token id outside the vocabulary or a sequence longer than
    ///   `maxSequenceLength`.
    public func forward(_ tokens: [Int], logits which: Logits = .all) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        let x = try residualStream(tokens)
        let first = which == .all ? 0 : tokens.count - 1
        return outputLogits(x, rows: first..<tokens.count)
    }

    /// Like `forward`, but gives the logits of positions `first ..< tokens.count` of the block to
    /// `consume` a slice of at most `rowsPerSlice` rows at a time (the index of its first row in
    /// the block, then `rows × vocabSize` values), so a long block never holds all its logits:
    /// what perplexity needs, where only the second half of a window is scored.
    /// - Throws: as `forward`, and whatever `consume` throws.
    public func forward(
        _ tokens: [Int], logitsFrom first: Int, rowsPerSlice: Int = 64,
        consume: (Int, UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        precondition(first >= 0 && first <= tokens.count && rowsPerSlice > 0)
        guard !tokens.isEmpty else { return }
        let x = try residualStream(tokens)
        var row = first
        while row < tokens.count {
            let end = min(row + rowsPerSlice, tokens.count)
            let logits = outputLogits(x, rows: row..<end)
            try logits.withUnsafeBufferPointer { try consume(row, $0) }
            row = end
        }
    }

    /// Embeds `tokens`, runs every layer over them (extending the cache) and returns the
    /// residual stream, `tokens.count × dim`.
    private func residualStream(_ tokens: [Int]) throws -> [Float] {
        let n = tokens.count
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw InputError(
                .outOfRange, "token id \(tokens[bad]) at position \(position + bad) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        guard position + n <= maxSequenceLength else {
            throw InputError(.overLimit, "\(position + n) positions exceed the model's cache of \(maxSequenceLength)")
        }
        let start = position
        var s = Scratch(config, positions: n, visible: start + n)
        s.x.withUnsafeMutableBufferPointer { x in
            for (t, token) in tokens.enumerated() { embedding.decodeRow(token, into: x.baseAddress! + t * config.dim) }
        }
        let hd = config.headDim
        s.cos.withUnsafeMutableBufferPointer { c in
            s.sin.withUnsafeMutableBufferPointer { sin in
                for t in 0..<n { rope.angles(at: start + t, cos: c.baseAddress! + t * hd / 2, sin: sin.baseAddress! + t * hd / 2) }
            }
        }
        for (l, layer) in layers.enumerated() {
            attention(layer, cacheIndex: l, start: start, positions: n, &s)
            feedForward(layer, positions: n, &s)
        }
        position += n
        return s.x
    }

    /// The buffers of one forward call.
    private struct Scratch {
        var x: [Float]  // the residual stream
        var a: [Float]  // normed input of a sublayer
        var q, k, v: [Float]
        var o: [Float]  // attention output, all heads
        var h1, h3: [Float]
        var scores: [Float]
        var cos, sin: [Float]

        init(_ config: LlamaConfig, positions n: Int, visible: Int) {
            let d = config.dim, kvDim = config.kvHeadCount * config.headDim, f = config.ffnHiddenSize
            x = [Float](repeating: 0, count: n * d)
            a = [Float](repeating: 0, count: n * d)
            q = [Float](repeating: 0, count: n * d)
            k = [Float](repeating: 0, count: n * kvDim)
            v = [Float](repeating: 0, count: n * kvDim)
            o = [Float](repeating: 0, count: n * d)
            h1 = [Float](repeating: 0, count: n * f)
            h3 = [Float](repeating: 0, count: n * f)
            scores = [Float](repeating: 0, count: visible)
            cos = [Float](repeating: 0, count: n * config.headDim / 2)
            sin = [Float](repeating: 0, count: n * config.headDim / 2)
        }
    }

    /// x += Wo · attention(RoPE(Wq·a), RoPE(Wk·a), Wv·a), a = RMSNorm(x), with this block's
    /// keys and values appended to the cache of layer `l`.
    private func attention(_ layer: Layer, cacheIndex l: Int, start: Int, positions n: Int, _ s: inout Scratch) {
        let d = config.dim, hd = config.headDim, kvDim = config.kvHeadCount * hd
        let heads = config.headCount, repeats = config.headCount / config.kvHeadCount
        let scale = 1 / Float(hd).squareRoot()
        if keyCache[l].isEmpty {
            keyCache[l] = [Float](repeating: 0, count: maxSequenceLength * kvDim)
            valueCache[l] = [Float](repeating: 0, count: maxSequenceLength * kvDim)
        }
        for t in 0..<n { VectorKernels.rmsNorm(s.x, t * d, layer.attentionNorm, Float(config.normEps), d, into: &s.a) }
        matmul(layer.wq, s.a, n, into: &s.q)
        matmul(layer.wk, s.a, n, into: &s.k)
        matmul(layer.wv, s.a, n, into: &s.v)
        VectorKernels.rope(
            &s.q, heads: heads, &s.k, kvHeads: config.kvHeadCount, headDim: hd, positions: n, cos: s.cos, sin: s.sin,
            halfSplit: faults.halfSplitRoPE)
        keyCache[l].replaceSubrange((start * kvDim)..<((start + n) * kvDim), with: s.k)
        valueCache[l].replaceSubrange((start * kvDim)..<((start + n) * kvDim), with: s.v)
        // Causal attention: position start + t sees cached positions 0 ... start + t.
        // Query head h reads KV head ⌊h / n_rep⌋ (Meta's repeat_kv).
        for t in 0..<n {
            let visible = start + t + 1
            for h in 0..<heads {
                let g = faults.moduloGQA ? h % config.kvHeadCount : h / repeats
                VectorKernels.attend(
                    query: s.q, at: t * d + h * hd, keys: keyCache[l], values: valueCache[l], kvOffset: g * hd, kvStride: kvDim,
                    headDim: hd, visible: visible, scale: scale, scores: &s.scores, into: &s.o, at: t * d + h * hd)
            }
        }
        matmul(layer.wo, s.o, n, into: &s.a)
        for i in 0..<(n * d) { s.x[i] += s.a[i] }
    }

    /// x += W2·(silu(W1·b) ⊙ W3·b), b = RMSNorm(x).
    private func feedForward(_ layer: Layer, positions n: Int, _ s: inout Scratch) {
        let d = config.dim
        for t in 0..<n { VectorKernels.rmsNorm(s.x, t * d, layer.ffnNorm, Float(config.normEps), d, into: &s.a) }
        matmul(layer.w1, s.a, n, into: &s.h1)
        matmul(layer.w3, s.a, n, into: &s.h3)
        VectorKernels.swiGLU(&s.h1, s.h3)
        matmul(layer.w2, s.h1, n, into: &s.a)
        for i in 0..<(n * d) { s.x[i] += s.a[i] }
    }

    /// logits = Wout · RMSNorm(x) for the positions `rows` of the block.
    private func outputLogits(_ x: [Float], rows: Range<Int>) -> [Float] {
        let d = config.dim
        var normed = [Float](repeating: 0, count: rows.count * d)
        for t in rows { VectorKernels.rmsNorm(x, t * d, norm, Float(config.normEps), d, into: &normed, at: (t - rows.lowerBound) * d) }
        var logits = [Float](repeating: 0, count: rows.count * config.vocabSize)
        matmul(output, normed, rows.count, into: &logits)
        return logits
    }

    private func matmul(_ w: PartitionedMatrix, _ x: [Float], _ positions: Int, into out: inout [Float]) {
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                w.matmul(x.baseAddress!, positions: positions, into: out.baseAddress!, threads: threads)
            }
        }
    }
}
