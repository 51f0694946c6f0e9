import Foundation
import GGUF
import ModelLoading
import TensorCore
import TestSupport
import Testing

@testable import Verification

/// The element rules and statistics of `ModelDiff`, on values built here.
@Suite struct ModelDiffTests {
    /// `values` as little-endian f32 bytes.
    static func bytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    static func compare(
        _ a: [Float], _ b: [Float], tolerance: ModelDiff.Tolerance = .standard, threads: Int = 1
    ) throws -> ModelDiff.Compared {
        let rawA = bytes(a), rawB = bytes(b)
        return try rawA.withUnsafeBytes { a in
            try rawB.withUnsafeBytes { b in
                try ModelDiff.compare(
                    .init(raw: a, dtype: .f32), .init(raw: b, dtype: .f32), count: rawA.count / 4, tolerance: tolerance, threads: threads,
                    name: "t")
            }
        }
    }

    /// One pair of values and what numpy's `isclose(a, b, rtol, atol)` says of it (with identical
    /// bits counting as equal, NaN included).
    struct Pair: Sendable, CustomStringConvertible {
        var a: Float
        var b: Float
        var atol: Double
        var rtol: Double
        var identical: Bool
        var within: Bool
        var description: String { "\(a) vs \(b) (atol \(atol), rtol \(rtol))" }
    }

    static let pairs: [Pair] = [
        Pair(a: 1, b: 1, atol: 0, rtol: 0, identical: true, within: true),
        Pair(a: 0, b: -0.0, atol: 0, rtol: 0, identical: false, within: true),
        Pair(a: 1, b: 1.5, atol: 0.5, rtol: 0, identical: false, within: true),
        Pair(a: 1, b: Float(1.5).nextUp, atol: 0.5, rtol: 0, identical: false, within: false),
        // The relative term scales |b|, not |a|: numpy's asymmetric rule.
        Pair(a: 10, b: 1, atol: 0, rtol: 9, identical: false, within: true),
        Pair(a: 10, b: 1, atol: 0, rtol: 8.9, identical: false, within: false),
        Pair(a: 1, b: 10, atol: 0, rtol: 0.9, identical: false, within: true),
        Pair(a: .nan, b: .nan, atol: 1, rtol: 1, identical: true, within: true),
        Pair(a: .nan, b: 1, atol: 1, rtol: 1, identical: false, within: false),
        Pair(a: Float(nan: 1, signaling: false), b: .nan, atol: 1, rtol: 1, identical: false, within: false),
        Pair(a: .infinity, b: .infinity, atol: 0, rtol: 0, identical: true, within: true),
        Pair(a: .infinity, b: -.infinity, atol: 1, rtol: 1, identical: false, within: false),
        Pair(a: 3e38, b: .infinity, atol: 1, rtol: 1, identical: false, within: false),
    ]

    /// Each pair planted among identical values at a position the vector loop handles and at one
    /// the scalar tail handles: the same verdict, index and counts from both paths.
    @Test(arguments: pairs)
    func elementRuleIsNumpysIsclose(_ pair: Pair) throws {
        // 100 values: one block of 64 for the vector loop, 36 for the scalar tail.
        for position in [5, 70] {
            var a = (0..<100).map { Float($0) * 0.25 - 3 }
            var b = a
            a[position] = pair.a
            b[position] = pair.b
            let result = try Self.compare(a, b, tolerance: .init(absolute: pair.atol, relative: pair.rtol))
            #expect(result.bitIdentical == pair.identical, "at \(position)")
            #expect(result.statistics.beyondTolerance == (pair.within ? 0 : 1), "at \(position)")
            #expect(result.statistics.firstDifference?.index == (pair.within ? nil : position), "at \(position)")
            if !pair.within, let first = result.statistics.firstDifference {
                #expect(first.a.bitPattern == pair.a.bitPattern && first.b.bitPattern == pair.b.bitPattern)
            }
            if pair.identical { #expect(result.statistics.maxAbsDiff == 0 && result.statistics.rmse == 0) }
        }
    }

    /// Max |Δ|, RMSE, cosine, the count beyond tolerance and the first index against a float64
    /// oracle, on seeded values long enough to span several pieces (and not a multiple of 8);
    /// every thread count gives the same numbers bit for bit.
    @Test func statisticsMatchAFloat64OracleForAnyThreadCount() throws {
        var generator = XorShift64Star(seed: 0x5EED_D1FF)
        let count = 2 * ModelDiff.pieceElements + 12_345
        let a = (0..<count).map { _ in Float.random(in: -0.1...0.1, using: &generator) }
        var b = a
        for _ in 0..<5000 {
            let index = Int.random(in: (ModelDiff.pieceElements + 100)..<count, using: &generator)
            b[index] += Float.random(in: -1e-3...1e-3, using: &generator)
        }
        let tolerance = ModelDiff.Tolerance(absolute: 1e-4, relative: 1e-3)
        var maxAbs = 0.0, squares = 0.0, dot = 0.0, normA = 0.0, normB = 0.0
        var beyond = 0
        var first: Int? = nil
        for i in 0..<count {
            let d = Float(a[i] - b[i])
            maxAbs = max(maxAbs, Double(abs(d)))
            squares += Double(d) * Double(d)
            dot += Double(a[i]) * Double(b[i])
            normA += Double(a[i]) * Double(a[i])
            normB += Double(b[i]) * Double(b[i])
            if !(abs(d) <= Float(tolerance.absolute) + Float(tolerance.relative) * abs(b[i])) {
                beyond += 1
                if first == nil { first = i }
            }
        }
        let one = try Self.compare(a, b, tolerance: tolerance, threads: 1)
        let s = one.statistics
        #expect(!one.bitIdentical)
        #expect(s.elements == count)
        #expect(s.maxAbsDiff == maxAbs)
        // f32 sums over blocks of 64 values, added up in f64: a few parts in 10⁷ at worst.
        #expect(abs(s.rmse - (squares / Double(count)).squareRoot()) <= 1e-6 * s.rmse)
        #expect(abs(try #require(s.cosine) - dot / (normA.squareRoot() * normB.squareRoot())) <= 1e-7)
        #expect(s.beyondTolerance == beyond && beyond > 100)
        #expect(s.firstDifference?.index == first)
        #expect(s.firstDifference.map { ($0.a, $0.b) } ?? (0, 0) == (a[first!], b[first!]))
        for threads in [2, 3, 8] {
            #expect(try Self.compare(a, b, tolerance: tolerance, threads: threads).statistics == s, "\(threads) threads")
        }
    }

    /// A side that is all zeros has no direction: no cosine, rather than a division by zero.
    @Test func allZeroSideHasNoCosine() throws {
        let zeros = [Float](repeating: 0, count: 40)
        let ones = [Float](repeating: 1, count: 40)
        #expect(try Self.compare(zeros, ones).statistics.cosine == nil)
        #expect(abs(try #require(try Self.compare(ones, ones.map { -$0 }).statistics.cosine) + 1) < 1e-15)
    }

    /// GGUF names map back to every Meta name of the model, and only those.
    @Test func ggufNamesMapBothWays() throws {
        let config = try ModelFiles.openCheckpoint(
            ConversionTests.fixtures.appendingPathComponent("llama3-tiny").path, requireTokenizer: false
        )
        .config
        for name in config.expectedShapes.map(\.name) {
            let gguf = try #require(GGUFNames.gguf(for: name))
            #expect(GGUFNames.meta(for: gguf) == name)
        }
        for stranger in ["rope_freqs.weight", "blk.x.attn_q.weight", "blk.01.attn_q.weight", "blk.1.attn_q.bias", "token_embd"] {
            #expect(GGUFNames.meta(for: stranger) == nil, "\(stranger)")
        }
    }
}
