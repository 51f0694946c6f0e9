import Foundation
import Llama
import ModelLoading
import TensorCore
import Testing
import Verification

@testable import Conversion

/// Every fixture with Meta's stored logits (fixtures/make_reference.py, llama-models' float32
/// `Transformer`), converted to each GGUF type through the library and run from the GGUF file,
/// passes the gate `llamakit verify` applies to that weight type: f32/f16/bf16 exact (max |Δ| ≤
/// 1e-4 of the logit range, top-1 100 %), Q8_0 mean KLD ≤ 2e-3, Q4_0 mean KLD ≤ 0.1.
@Suite struct GGUFForwardTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let fixture: String
        let type: ConversionType
        var testDescription: String { "\(fixture) as \(type.rawValue)" }
    }

    static let cases = ["llama2-tiny", "llama3-tiny", "llama31-tiny", "demo"].flatMap { fixture in
        ConversionType.encodable.map { Case(fixture: fixture, type: $0) }
    }

    @Test(arguments: cases)
    func forwardPassFromTheGGUFPassesItsGate(_ row: Case) throws {
        let reference = ConversionTests.fixtures.appendingPathComponent(row.fixture).appendingPathComponent("reference")
        let tokens = try #require(try NumpyArray.load(path: reference.appendingPathComponent("tokens.npy").path).integers())
        let stored = try NumpyArray.load(path: reference.appendingPathComponent("logits.npy").path)
        let logits = try #require(stored.floats())
        let vocab = stored.shape[1]

        let (_, path) = try ConversionTests.convert(row.fixture, row.type)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let opened = try ModelFiles.open(path, maxSequenceLength: tokens.count, threads: 2)
        #expect(opened.format == "gguf")
        #expect(opened.model.weightType.rawValue == row.type.rawValue)
        let comparison = Comparison(reference: logits, model: try opened.model.forward(tokens), tokens: tokens, vocab: vocab)

        let gate = VerificationGate.forWeights(opened.model.weightType)
        #expect(gate.name == ([.q8_0, .q4_0].contains(row.type) ? row.type.rawValue : "exact"))
        let figures =
            "max |Δ| \(comparison.maxAbsDiff) (\(comparison.relativeMaxDiff) of the range), top-1 \(comparison.top1Agreement), "
            + "mean KLD \(comparison.meanKLD)"
        // The figures of every case, so a drift towards a threshold shows in the log before it fails.
        print("gate \(gate.name), \(row.testDescription), \(comparison.positions) positions: \(figures)")
        let failures = gate.failures(comparison)
        #expect(failures.isEmpty, "\(failures.joined(separator: "; ")) — \(figures)")
    }
}
