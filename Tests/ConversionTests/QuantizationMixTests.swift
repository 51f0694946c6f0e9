import BinaryIO
import Foundation
import GGUF
import Testing

@testable import Conversion

/// `QuantizationMix.plan` against llama.cpp's own llama-quantize: fixtures/kquants/mixes.json
/// (fixtures/kquants/make_mix_goldens.py) holds the type llama-quantize gave every tensor of
/// synthetic llama models for every preset and override variant.
@Suite struct QuantizationMixTests {
    struct Golden: Decodable {
        struct Tensor: Decodable, Sendable {
            let name: String
            let shape: [Int]

            init(from decoder: any Decoder) throws {
                var row = try decoder.unkeyedContainer()
                name = try row.decode(String.self)
                shape = try row.decode([Int].self)
            }
        }

        struct Config: Decodable, Sendable {
            let layers: Int
            let heads: Int
            let kvHeads: Int
            let tensors: [Tensor]

            enum CodingKeys: String, CodingKey {
                case layers, heads, tensors
                case kvHeads = "kv_heads"
            }
        }

        struct Case: Decodable, Sendable, CustomTestStringConvertible {
            let id: String
            let config: String
            let ftype: String
            let flags: [String]
            let fileType: UInt32?
            let types: [String]?
            let error: String?

            enum CodingKeys: String, CodingKey {
                case id, config, ftype, flags, types, error
                case fileType = "file_type"
            }

            var testDescription: String { id }
        }

        let configs: [String: Config]
        let cases: [Case]
    }

    static let golden: Golden = {
        let url = ConversionTests.fixtures.appendingPathComponent("kquants/mixes.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// llama-quantize's flags as `TensorTypeOverrides`.
    static func overrides(_ flags: [String]) throws -> TensorTypeOverrides {
        var overrides = TensorTypeOverrides()
        var rest = flags[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--pure": overrides.pure = true
            case "--output-tensor-type": overrides.outputType = try TensorTypeOverrides.type(named: try value(&rest))
            case "--token-embedding-type": overrides.tokenEmbeddingType = try TensorTypeOverrides.type(named: try value(&rest))
            case "--tensor-type": overrides.patterns.append(try TensorTypeOverrides.pattern(parsing: try value(&rest)))
            default: Issue.record("unknown flag \(flag)")
            }
        }
        return overrides
    }

    static func value(_ rest: inout ArraySlice<String>) throws -> String {
        let value = rest.popFirst()
        return try #require(value)
    }

    static func plan(_ row: Golden.Case) throws -> MixPlan {
        let config = try #require(golden.configs[row.config])
        let preset = try #require(ConversionType(rawValue: row.ftype))
        return try QuantizationMix.plan(
            tensors: config.tensors.map { ($0.name, $0.shape) }, preset: preset,
            model: MixModelFacts(blockCount: config.layers, headCount: config.heads, headCountKV: config.kvHeads),
            overrides: try overrides(row.flags))
    }

    @Test(arguments: golden.cases)
    func planPicksLlamaQuantizesTypes(_ row: Golden.Case) throws {
        if let error = row.error {
            // llama-quantize refused (its last words: `error`); the planner must refuse too.
            #expect(throws: InputError.self, "llama-quantize: \(error)") { try Self.plan(row) }
            return
        }
        let plan = try Self.plan(row)
        let config = try #require(Self.golden.configs[row.config])
        let expected = try #require(row.types)
        #expect(plan.fileType == row.fileType)
        #expect(plan.tensors.map(\.name) == config.tensors.map(\.name))
        let wrong = zip(plan.tensors, expected).filter { $0.type.name != $1 }.map { "\($0.name): \($0.type.name), llama.cpp \($1)" }
        #expect(wrong.isEmpty, "\(wrong.count) of \(expected.count) tensors differ:\n\(wrong.prefix(12).joined(separator: "\n"))")
        // A fallback is reported exactly where the type is not the one the rows refused.
        for tensor in plan.fallbacks {
            let fallback = try #require(tensor.fallback)
            #expect(!fallback.wanted.layout.holdsWholeBlocks(fallback.rowLength) && tensor.type != fallback.wanted)
        }
    }

    /// Every preset is in the goldens, with llama.cpp's file type and default type.
    @Test(arguments: ConversionType.allCases)
    func presetMatchesLlamaCppsFtype(_ preset: ConversionType) throws {
        let pure = try #require(Self.golden.cases.first { $0.ftype == preset.rawValue && $0.flags.isEmpty && $0.config == "dense4" })
        #expect(pure.fileType == preset.fileType)
        // blk.0.attn_q of dense4 has rows of 256 and no mix rule touches attn_q in these presets.
        let config = try #require(Self.golden.configs["dense4"])
        let index = try #require(config.tensors.firstIndex { $0.name == "blk.0.attn_q.weight" })
        #expect(pure.types?[index] == preset.ggmlType.name)
    }

    @Test func fallbackSaysWhy() throws {
        let plan = try QuantizationMix.plan(
            tensors: [("blk.0.ffn_down.weight", [320, 864]), ("blk.0.attn_q.weight", [48, 48]), ("blk.0.attn_norm.weight", [48])],
            preset: .q4_K_M, model: MixModelFacts(blockCount: 1, headCount: 1, headCountKV: 1))
        #expect(plan.tensors.map(\.type) == [.q8_0, .f16, .f32])
        #expect(plan.tensors[0].fallback == .init(wanted: .q6_K, rowLength: 864))
        #expect(plan.tensors[0].fallback?.description == "rows of 864 are not whole q6_k blocks of 256")
        #expect(plan.tensors[1].fallback == .init(wanted: .q4_K, rowLength: 48))
        #expect(plan.tensors[2].fallback == nil)
        #expect(plan.fallbacks.map(\.name) == ["blk.0.ffn_down.weight", "blk.0.attn_q.weight"])
    }

    @Test(arguments: ["attn_v", "=q8_0", "attn_v=", "attn_v=q9_0", "attn_v=iq4_nl", "attn_v=q8_k", "attn_[v=q8_0", "(=q4_0", "a=b=bf16"])
    func badTensorTypeIsMalformed(_ argument: String) {
        #expect {
            try TensorTypeOverrides.pattern(parsing: argument)
        } throws: { ($0 as? InputError)?.kind == .malformed }
    }

    @Test func tensorTypeIsReadAsLlamaQuantizeReadsIt() throws {
        #expect(try TensorTypeOverrides.pattern(parsing: "ATTN_V=Q8_0") == .init(pattern: "attn_v", type: .q8_0))
        #expect(try TensorTypeOverrides.pattern(parsing: #"blk\.1[0-9]\.ffn=q5_k"#) == .init(pattern: #"blk\.1[0-9]\.ffn"#, type: .q5_K))
    }

    @Test func badPatternGivenDirectlyIsMalformed() {
        #expect {
            try QuantizationMix.plan(
                tensors: [("blk.0.attn_v.weight", [256, 256])], preset: .q4_K_M, model: .init(blockCount: 1, headCount: 1, headCountKV: 1),
                overrides: .init(patterns: [.init(pattern: "attn_[v", type: .q8_0)]))
        } throws: { ($0 as? InputError)?.kind == .malformed }
    }

    @Test func llamaCppsLayerOrder() {
        #expect(QuantizationMix.layer(of: "blk.12.attn_v.weight") == 12)
        #expect(QuantizationMix.layer(of: "token_embd.weight") == -1)
        let names = ["blk.10.attn_v.weight", "output.weight", "blk.2.ffn_up.weight", "blk.2.attn_v.weight", "token_embd.weight"]
        #expect(
            names.sorted(by: QuantizationMix.processedBefore) == [
                "output.weight", "token_embd.weight", "blk.2.attn_v.weight", "blk.2.ffn_up.weight", "blk.10.attn_v.weight",
            ])
    }

    @Test func seventyBIsEightyLayersWithGQA() {
        #expect(MixModelFacts(blockCount: 80, headCount: 64, headCountKV: 8).is70B)
        #expect(!MixModelFacts(blockCount: 80, headCount: 64, headCountKV: 64).is70B)
        #expect(!MixModelFacts(blockCount: 32, headCount: 32, headCountKV: 8).is70B)
        #expect(MixModelFacts(blockCount: 32, headCount: 32, headCountKV: 8).gqa == 4)
        #expect(MixModelFacts(blockCount: 32, headCount: 6, headCountKV: 4).gqa == 1)
    }

    /// With an importance matrix, llama.cpp gives the first eighth of ffn_down the min-offset
    /// type in q4_0/q5_0 files. Expected types: `llama-quantize --imatrix` on the `gqa2-8l` golden
    /// model (8 layers), recorded in docs/quantization-mixes.md §6; without a matrix, none changes.
    @Test(arguments: [(ConversionType.q4_0, GGMLType.q4_1), (.q5_0, .q5_1)])
    func importanceBumpsTheFirstEighthOfFFNDown(_ row: (preset: ConversionType, bumped: GGMLType)) throws {
        let tensors = (0..<8).flatMap { layer in
            [("blk.\(layer).ffn_down.weight", [256, 512]), ("blk.\(layer).ffn_up.weight", [512, 256])]
        }
        let facts = MixModelFacts(blockCount: 8, headCount: 4, headCountKV: 2)
        let with = try QuantizationMix.plan(tensors: tensors, preset: row.preset, model: facts, withImportance: true)
        let without = try QuantizationMix.plan(tensors: tensors, preset: row.preset, model: facts)
        let down = { (plan: MixPlan) in plan.tensors.filter { $0.name.hasSuffix("ffn_down.weight") }.map(\.type) }
        #expect(down(with) == [row.bumped] + [GGMLType](repeating: row.preset.ggmlType, count: 7))
        #expect(down(without) == [GGMLType](repeating: row.preset.ggmlType, count: 8))
        #expect(with.tensors.filter { $0.name.hasSuffix("ffn_up.weight") }.allSatisfy { $0.type == row.preset.ggmlType })
    }
}
