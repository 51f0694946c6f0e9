import TestSupport
import Testing

@testable import Quantization

/// The SIMD-lane scale searches (`LaneSearch`) against the scalar ports of ggml's
/// `make_qkx2/3_quants` and `make_qx_quants` (`ScaleSearch`, which `KQuantTests` pins to ggml's
/// own C code), sub-block for sub-block: scale, min and every level bit for bit, on
/// distributions chosen to reach every branch (flat and all-zero sub-blocks, ties, subnormals,
/// ±FLT_MAX, random bit patterns), with and without importance-like weights.
@Suite struct LaneSearchTests {
    enum Distribution: CaseIterable {
        case gaussianish, uniform, smallIntegers, constant, zerosAndNegativeZeros, negativeConstant, oneHuge, subnormal, extremes,
            randomBits
    }

    static func superBlock(_ kind: Distribution, _ rng: inout XorShift64Star) -> [Float] {
        let constant = Float.random(in: -2...2, using: &rng)
        return (0..<256).map { j -> Float in
            switch kind {
            case .gaussianish: return (0..<4).map { _ in Float.random(in: -0.02...0.02, using: &rng) }.reduce(0, +)
            case .uniform: return Float.random(in: -1...1, using: &rng)
            case .smallIntegers: return Float(Int.random(in: -8...8, using: &rng))
            case .constant: return j < 128 ? constant : Float.random(in: -1...1, using: &rng)
            case .zerosAndNegativeZeros: return j % 3 == 0 ? -0.0 : (j < 64 ? 0 : Float.random(in: -1e-3...1e-3, using: &rng))
            case .negativeConstant: return -abs(constant) - 0.5
            case .oneHuge: return j % 37 == 5 ? 3e38 : Float.random(in: -1e-3...1e-3, using: &rng)
            case .subnormal: return Float(bitPattern: UInt32.random(in: 0...0x007F_FFFF, using: &rng) | (j % 2 == 0 ? 0x8000_0000 : 0))
            case .extremes: return j % 2 == 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude
            case .randomBits:
                return Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng) | (Bool.random(using: &rng) ? 0x8000_0000 : 0))
            }
        }
    }

    /// Weights as the quantizers make them: x², or positive importance-like values.
    static func weights(_ x: [Float], squared: Bool, _ rng: inout XorShift64Star) -> [Float] {
        x.map { squared ? $0 * $0 : Float.random(in: 0.01...4, using: &rng) }
    }

    /// Runs `body` with lane buffers of `V` holding `x` and `w` gathered n per lane.
    static func withLanes<V: SIMD, R>(
        _: V.Type, _ x: [Float], _ w: [Float], _ n: Int, _ body: (LaneSearch.Buffers<V>) -> R
    ) -> R where V.Scalar == Float {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: LaneSearch.Buffers<V>.arrays * 1024, alignment: 64)
        defer { memory.deallocate() }
        let lanes = LaneSearch.Buffers<V>(memory, bytesPerArray: 1024)
        x.withUnsafeBufferPointer { LaneSearch.gather($0.baseAddress!, n, into: lanes.x) }
        w.withUnsafeBufferPointer { LaneSearch.gather($0.baseAddress!, n, into: lanes.weights) }
        return body(lanes)
    }

    static let affineSearches: [(nmax: Int32, search: ScaleSearch.AffineSearch)] = [
        (15, .init(rmin: -1, rdelta: 0.1, steps: 20, absolute: false)),
        (31, .init(rmin: -0.5, rdelta: 0.1, steps: 15, absolute: false)),
        (15, .init(rmin: -0.9, rdelta: 0.05, steps: 36, absolute: false)),
        (31, .init(rmin: -0.9, rdelta: 0.05, steps: 36, absolute: false)),
    ]

    @Test(arguments: Distribution.allCases)
    func affineMatchesScalar(_ kind: Distribution) {
        var rng = XorShift64Star(seed: 0x9E37_79B9_7F4A_7C15)
        for trial in 0..<40 {
            let x = Self.superBlock(kind, &rng)
            let w = Self.weights(x, squared: trial % 2 == 0, &rng)
            for (nmax, search) in Self.affineSearches {
                let (scale, min, levels) = Self.withLanes(SIMD8<Float>.self, x, w, 32) { lanes in
                    let found = LaneSearch.affine(32, nmax, lanes, search)
                    return (found.scale, found.min, (0..<32).map { lanes.levels[$0] })
                }
                for j in 0..<8 {
                    var expected = [UInt8](repeating: 0, count: 32)
                    var scratch = [UInt8](repeating: 0, count: 32)
                    let found = x.withUnsafeBufferPointer { xs in
                        w.withUnsafeBufferPointer { ws in
                            ScaleSearch.affine(
                                32, nmax, xs.baseAddress! + 32 * j, weights: ws.baseAddress! + 32 * j, &expected, scratch: &scratch, search)
                        }
                    }
                    #expect(scale[j].bitPattern == found.scale.bitPattern, "\(kind) trial \(trial) nmax \(nmax) sub-block \(j) scale")
                    #expect(min[j].bitPattern == found.min.bitPattern, "\(kind) trial \(trial) nmax \(nmax) sub-block \(j) min")
                    #expect((0..<32).map { UInt8(levels[$0][j]) } == expected, "\(kind) trial \(trial) nmax \(nmax) sub-block \(j) levels")
                }
            }
        }
    }

    @Test(arguments: Distribution.allCases)
    func symmetricMatchesScalar(_ kind: Distribution) {
        var rng = XorShift64Star(seed: 0x2545_F491_4F6C_DD1D)
        for trial in 0..<40 {
            let x = Self.superBlock(kind, &rng)
            let w = Self.weights(x, squared: trial % 2 == 0, &rng)
            let (scale, levels) = Self.withLanes(SIMD16<Float>.self, x, w, 16) { lanes in
                (LaneSearch.symmetric(16, 32, lanes), (0..<16).map { lanes.levels[$0] })
            }
            for j in 0..<16 {
                var expected = [Int8](repeating: 0, count: 16)
                let found = x.withUnsafeBufferPointer { xs in
                    w.withUnsafeBufferPointer { ws in
                        ScaleSearch.symmetric(16, 32, xs.baseAddress! + 16 * j, &expected, weights: ws.baseAddress! + 16 * j)
                    }
                }
                #expect(scale[j].bitPattern == found.bitPattern, "\(kind) trial \(trial) sub-block \(j) scale")
                #expect((0..<16).map { Int8(levels[$0][j]) } == expected, "\(kind) trial \(trial) sub-block \(j) levels")
            }
        }
    }
}
