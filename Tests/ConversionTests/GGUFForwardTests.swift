import Foundation
import Llama
import ModelLoading
import TensorCore
import Testing
import Verification

@testable import Conversion

/// Every fixture with Meta's stored logits (fixtures/make_reference.py, llama-models' float32
/// `Transformer`), converted with each preset through the library and run from the GGUF file,
/// passes the gate `llamakit verify` applies to that file: f32/f16/bf16 exact (max |Δ| ≤ 1e-4 of
/// the logit range, top-1 100 %), the lossy presets a mean KLD from llama.cpp's published figures
/// (`VerificationGate.meanKLDLimits`).
@Suite struct GGUFForwardTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let fixture: String
        let type: ConversionType
        var testDescription: String { "\(fixture) as \(type.rawValue)" }
    }

    /// k256's rows are whole 256-value super-blocks, so every preset writes its real mix there;
    /// the smaller fixtures' rows make the K presets fall back to the 32-value types.
    static let cases =
        ["llama2-tiny", "llama3-tiny", "llama31-tiny", "demo"].flatMap { fixture in
            [ConversionType.f32, .f16, .bf16, .q8_0, .q4_0, .q5_1, .q4_K_M, .q2_K].map { Case(fixture: fixture, type: $0) }
        } + ConversionType.allCases.map { Case(fixture: "k256", type: $0) }

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
        #expect(opened.fileType == row.type.fileType)
        let comparison = Comparison(reference: logits, model: try opened.model.forward(tokens), tokens: tokens, vocab: vocab)

        let gate = VerificationGate.forFile(fileType: opened.fileType, weights: opened.model.weightType)
        #expect(gate == VerificationGate.forPreset(row.type))
        let figures =
            "max |Δ| \(comparison.maxAbsDiff) (\(comparison.relativeMaxDiff) of the range), top-1 \(comparison.top1Agreement), "
            + "mean KLD \(comparison.meanKLD)"
        // The figures of every case, so a drift towards a threshold shows in the log before it fails.
        print("gate \(gate.name), \(row.testDescription), \(comparison.positions) positions: \(figures)")
        let failures = gate.failures(comparison)
        #expect(failures.isEmpty, "\(failures.joined(separator: "; ")) — \(figures)")
    }

    /// The gate tells a wrong file from a right one: k256 as Q4_K_M passes, but fails with every
    /// weight Q2_K under the same file type (a wrong mix) or with Q4_K's nibbles swapped in every
    /// block (a broken block format).
    @Test func gateRejectsAWrongMixAndABrokenBlock() throws {
        let reference = ConversionTests.fixtures.appendingPathComponent("k256/reference")
        let tokens = try #require(try NumpyArray.load(path: reference.appendingPathComponent("tokens.npy").path).integers())
        let stored = try NumpyArray.load(path: reference.appendingPathComponent("logits.npy").path)
        let logits = try #require(stored.floats())
        func failures(_ path: String) throws -> [String] {
            let opened = try ModelFiles.open(path, maxSequenceLength: tokens.count, threads: 2)
            let comparison = Comparison(reference: logits, model: try opened.model.forward(tokens), tokens: tokens, vocab: stored.shape[1])
            return VerificationGate.forFile(fileType: opened.fileType, weights: opened.model.weightType).failures(comparison)
        }
        let (right, rightPath) = try ConversionTests.convert("k256", .q4_K_M)
        let everyWeightQ2K = TensorTypeOverrides(patterns: [.init(pattern: "weight", type: .q2_K)])
        let wrongMix = try ConversionTests.convert("k256", .q4_K_M, overrides: everyWeightQ2K)
        defer { for path in [rightPath, wrongMix.1] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(try failures(rightPath).isEmpty)
        #expect(wrongMix.0.tensors.allSatisfy { $0.type == .q2_K || $0.type == .f32 })
        #expect(try !failures(wrongMix.1).isEmpty)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: rightPath))
        for tensor in right.tensors where tensor.type == .q4_K {
            for block in stride(from: right.dataOffset + tensor.offset, to: right.dataOffset + tensor.offset + tensor.byteCount, by: 144) {
                for j in (block + 16)..<(block + 144) { bytes[j] = (bytes[j] << 4) | (bytes[j] >> 4) }
            }
        }
        let brokenPath = rightPath + ".broken.gguf"
        try bytes.write(to: URL(fileURLWithPath: brokenPath))
        defer { try? FileManager.default.removeItem(atPath: brokenPath) }
        #expect(try !failures(brokenPath).isEmpty)
    }
}
