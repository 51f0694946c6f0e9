import Foundation

/// RoPE frequencies and angles exactly as Meta's `precompute_freqs_cis` computes them, all in
/// float32 (`docs/forward-pass.md` §2): f_i = 1 / θ^(2i/hd),
/// optionally `apply_scaling`; angle = Float(m) · f_i; cos and sin of the float32 angle.
public struct RotaryEmbedding: Sendable, Equatable {
    /// One frequency per rotated pair (hd / 2 of them).
    public let frequencies: [Float]

    /// Meta's frequencies for `theta`, scaled by Llama 3.1's `apply_scaling` with `scalingFactor`
    /// (8 for 3.1, 32 for 3.2 1B/3B; nil = no scaling).
    public init(headDim: Int, theta: Double, scalingFactor: Double?) {
        var frequencies = (0..<headDim / 2).map { i -> Float in
            1 / powf(Float(theta), Float(2 * i) / Float(headDim))
        }
        if let scalingFactor {
            frequencies = frequencies.map { Self.applyScaling($0, factor: Float(scalingFactor)) }
        }
        self.frequencies = frequencies
    }

    /// llama.cpp's form: base frequencies divided by the GGUF `rope_freqs` factors.
    public init(headDim: Int, theta: Double, divisors: [Float]) {
        precondition(divisors.count == headDim / 2)
        frequencies = (0..<headDim / 2).map { i in
            (1 / powf(Float(theta), Float(2 * i) / Float(headDim))) / divisors[i]
        }
    }

    init(frequencies: [Float]) { self.frequencies = frequencies }

    /// Meta's `apply_scaling` (llama-models `model.py`): low_freq_factor 1, high_freq_factor 4,
    /// old context 8192; wavelengths above 8192 divided by the factor, below 2048 kept, smooth
    /// interpolation between.
    static func applyScaling(_ f: Float, factor: Float) -> Float {
        let lowFreqWavelen: Float = 8192 / 1
        let highFreqWavelen: Float = 8192 / 4
        let wavelen = 2 * Float.pi / f
        let scaled = wavelen > lowFreqWavelen ? f / factor : f
        guard wavelen >= highFreqWavelen && wavelen <= lowFreqWavelen else { return scaled }
        let smooth = (8192 / wavelen - 1) / (4 - 1)
        return (1 - smooth) * scaled / factor + smooth * scaled
    }

    /// cos and sin of every pair's angle at `position`, into `cos[0..<hd/2]`, `sin[0..<hd/2]`.
    func angles(at position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let m = Float(position)
        for (i, f) in frequencies.enumerated() {
            let angle = m * f
            cos[i] = cosf(angle)
            sin[i] = sinf(angle)
        }
    }
}
