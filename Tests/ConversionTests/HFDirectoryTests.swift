import BinaryIO
import Foundation
import Llama
import LlamaTokenizers
import Safetensors
import TensorCore
import Testing
import Verification

@testable import Conversion
@testable import ModelLoading

/// Reading Hugging Face directories written by transformers (`fixtures/hf/make_hf_fixtures.py`).
@Suite struct HFDirectoryTests {
    static func hf(_ name: String) -> String { ConversionTests.fixtures.appendingPathComponent("hf/\(name)").path }
    static func meta(_ name: String) -> String { ConversionTests.fixtures.appendingPathComponent(name).path }

    static let pairs: [(hf: String, meta: String)] = [
        ("llama3-tiny-hf", "llama3-tiny"), ("llama31-tiny-hf", "llama31-tiny"), ("llama2-tiny-hf", "llama2-tiny"),
        ("llama3-tiny-tied-hf", "llama3-tiny"), ("llama2-tiny-bin-hf", "llama2-tiny"),
    ]

    static func bytes(_ source: any TensorSource, _ name: String) throws -> [UInt8] {
        try source.withBytes(of: name) { Array($0) }
    }

    /// Every tensor under Meta's name, q/k rows back in Meta's order: the same bytes as Meta's file
    /// (transformers' own permutation made the HF side, so this checks the inverse independently).
    @Test(arguments: pairs.indices)
    func tensorsEqualMetasByteForByte(_ i: Int) throws {
        let (hfName, metaName) = Self.pairs[i]
        let hf = try ModelFiles.openCheckpoint(Self.hf(hfName), requireTokenizer: false)
        let meta = try ModelFiles.openCheckpoint(Self.meta(metaName), requireTokenizer: false)
        #expect(hf.format == "hf")
        // transformers' converter drops rope.freqs, which old Llama 2 checkpoints carry.
        let metaInfos = meta.source.tensorInfos.filter { $0.name != "rope.freqs" }
        #expect(Set(hf.source.tensorInfos.map(\.name)) == Set(metaInfos.map(\.name)))
        let tied = hfName.contains("tied")
        for info in metaInfos {
            let hfInfo = try #require(hf.source.info(named: info.name))
            #expect((hfInfo.dtype, hfInfo.shape) == (info.dtype, info.shape), "\(info.name)")
            let expected = try Self.bytes(meta.source, tied && info.name == "output.weight" ? "tok_embeddings.weight" : info.name)
            #expect(try Self.bytes(hf.source, info.name) == expected, "\(info.name)")
        }
    }

    @Test(arguments: pairs.indices)
    func configEqualsMetas(_ i: Int) throws {
        let (hfName, metaName) = Self.pairs[i]
        var hf = try ModelFiles.openCheckpoint(Self.hf(hfName), requireTokenizer: false).config
        var meta = try ModelFiles.openCheckpoint(Self.meta(metaName), requireTokenizer: false).config
        if hfName.hasPrefix("llama2") {
            // Without a tokenizer the Meta side cannot tell Llama 2 from 3; the HF side has tokenizer.model.
            meta = try ModelFiles.openCheckpoint(Self.meta(metaName), requireTokenizer: true).config
        }
        hf.defaultedKeys = []
        meta.defaultedKeys = []
        #expect(hf == meta)
    }

    /// The forward pass on the HF directory gives the logits transformers computed on it.
    @Test(arguments: pairs.map(\.hf))
    func forwardPassMatchesTransformers(_ name: String) throws {
        let outcome = try Verifier.run(
            .init(model: Self.hf(name), reference: Self.hf(name) + "/reference/reference.pth", against: nil, tokens: nil, threads: 2))
        #expect(outcome.format == "hf")
        #expect(outcome.comparison.top1Agreement == 1)
        #expect(outcome.comparison.relativeMaxDiff <= 1e-5, "\(outcome.comparison.relativeMaxDiff)")
    }

    /// Converting the HF directory gives the very file converting Meta's gives: same tensors in the
    /// same order, same metadata (the tokenizer each directory carries).
    @Test(arguments: [("llama2-tiny-hf", "llama2-tiny"), ("llama31-tiny-hf", "llama31-tiny")])
    func ggufFromHFEqualsGGUFFromMeta(_ hfName: String, _ metaName: String) throws {
        var files: [Data] = []
        for path in [Self.hf(hfName), Self.meta(metaName)] {
            let checkpoint = try ModelFiles.openCheckpoint(path, requireTokenizer: false)
            let output = NSTemporaryDirectory() + "llamakit-hf-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let tokenizer = hfName == "llama2-tiny-hf" ? checkpoint.tokenizer : nil
            _ = try Converter.convert(
                source: checkpoint.source, config: checkpoint.config, tokenizer: tokenizer, options: .init(type: .q8_0, name: "tiny"),
                to: output)
            files.append(try Data(contentsOf: URL(fileURLWithPath: output)))
        }
        #expect(files[0] == files[1])
    }

    /// A copy of an HF fixture with `edit` applied to its directory, opened.
    static func openEdited(_ name: String, _ edit: @Sendable (String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "llamakit-hf-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: hf(name), toPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try edit(directory)
        _ = try ModelFiles.openCheckpoint(directory, requireTokenizer: false)
    }

    static func editConfig(_ directory: String, _ change: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: directory + "/config.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    static let badDirectories:
        [(name: String, fixture: String, edit: @Sendable (String) throws -> Void, kind: InputError.Kind, says: String)] = [
            (
                "config contradicts the tensors", "llama3-tiny-hf", { try editConfig($0) { $0["intermediate_size"] = 256 } }, .mismatch,
                "tensor 'model.layers.0.mlp.gate_proj.weight': expected shape [256, 64]"
            ),
            (
                "unsupported architecture", "llama3-tiny-hf", { try editConfig($0) { $0["architectures"] = ["MistralForCausalLM"] } },
                .unsupported, "architecture MistralForCausalLM is not LlamaForCausalLM"
            ),
            (
                "unsupported rope", "llama31-tiny-hf",
                {
                    try editConfig($0) {
                        var rope = $0["rope_parameters"] as! [String: Any]
                        rope["rope_type"] = "yarn"
                        $0["rope_parameters"] = rope
                    }
                }, .unsupported, "rope type 'yarn' is not supported"
            ),
            (
                "missing shard", "llama2-tiny-hf", { try FileManager.default.removeItem(atPath: $0 + "/model-00002-of-00003.safetensors") },
                .missing, "shard 'model-00002-of-00003.safetensors' named by the index is missing"
            ),
            (
                "no config", "llama3-tiny-hf", { try FileManager.default.removeItem(atPath: $0 + "/config.json") }, .missing,
                "no consolidated.NN.pth"
            ),
        ]

    @Test(arguments: badDirectories.indices)
    func refusesBadDirectories(_ i: Int) throws {
        let bad = Self.badDirectories[i]
        let error = #expect(throws: InputError.self, "\(bad.name)") { try Self.openEdited(bad.fixture, bad.edit) }
        #expect(error?.kind == bad.kind, "\(bad.name): \(String(describing: error))")
        #expect(error.map { "\($0)".contains(bad.says) } == true, "\(bad.name): \(String(describing: error))")
    }
}

/// Writing Hugging Face directories (`convert --to hf`).
@Suite struct HFExportTests {
    static func export(_ meta: String, maxShardBytes: Int = 5_000_000_000, type: ConversionType = .bf16) throws -> String {
        let checkpoint = try ModelFiles.openCheckpoint(HFDirectoryTests.meta(meta), requireTokenizer: false)
        let directory = NSTemporaryDirectory() + "llamakit-export-\(UUID().uuidString)"
        _ = try HFExporter.export(
            source: checkpoint.source, config: checkpoint.config, tokenizer: checkpoint.tokenizer,
            options: .init(type: type, maxShardBytes: maxShardBytes), to: directory)
        return directory
    }

    /// The weights and index are the very bytes transformers' `save_pretrained` wrote for the same
    /// model (fixtures/hf, transformers 5.24): names, q/k permutation, dtype, shard boundaries.
    @Test(arguments: [
        ("llama3-tiny", "llama3-tiny-hf", 5_000_000_000), ("llama31-tiny", "llama31-tiny-hf", 200_000),
        ("llama2-tiny", "llama2-tiny-hf", 200_000),
    ])
    func weightsAreTheBytesTransformersWrites(_ meta: String, _ hf: String, _ maxShardBytes: Int) throws {
        let directory = try Self.export(meta, maxShardBytes: maxShardBytes)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let expected = try FileManager.default.contentsOfDirectory(atPath: HFDirectoryTests.hf(hf)).filter {
            $0.hasSuffix(".safetensors") || $0 == "model.safetensors.index.json"
        }
        #expect(!expected.isEmpty)
        for name in expected {
            let ours = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            #expect(ours == (try Data(contentsOf: URL(fileURLWithPath: HFDirectoryTests.hf(hf) + "/" + name))), "\(name)")
        }
    }

    /// config.json says what transformers' own says for the same model (the keys both write).
    @Test(arguments: [("llama31-tiny", "llama31-tiny-hf"), ("llama2-tiny", "llama2-tiny-hf")])
    func configAgreesWithTransformers(_ meta: String, _ hf: String) throws {
        let directory = try Self.export(meta)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ours = try HFConfig(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))))
        var theirs = try HFConfig(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: HFDirectoryTests.hf(hf) + "/config.json"))))
        // The fixtures write transformers' converter's base-model ids; the tiny tokenizers have their own.
        let checkpoint = try ModelFiles.openCheckpoint(HFDirectoryTests.meta(meta), requireTokenizer: true)
        theirs.bosTokenID = checkpoint.tokenizer?.bosID
        theirs.eosTokenIDs = [checkpoint.tokenizer!.eosID]
        #expect(ours == theirs)
    }

    /// Exported, read back, run: Meta's reference logits.
    @Test(arguments: [ConversionType.bf16, .f32, .f16])
    func exportedDirectoryVerifiesAgainstMeta(_ type: ConversionType) throws {
        let directory = try Self.export("llama31-tiny", maxShardBytes: 100_000, type: type)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome = try Verifier.run(
            .init(
                model: directory, reference: HFDirectoryTests.meta("llama31-tiny") + "/reference/reference.pth", against: nil, tokens: nil,
                threads: 2))
        #expect(outcome.comparison.top1Agreement == 1)
        // bf16 values are exact in f16 and f32, so every type gives the same logits.
        #expect(outcome.comparison.relativeMaxDiff <= 1e-5, "\(outcome.comparison.relativeMaxDiff)")
    }
}

extension HFExportTests {
    /// A tensor that cannot be converted (a NaN going to f16), late in the plan, after several
    /// shards were already written: the run fails naming it and leaves no file behind.
    @Test func aFailedExportLeavesNothing() throws {
        let source = NSTemporaryDirectory() + "llamakit-nan-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: HFDirectoryTests.hf("llama3-tiny-hf"), toPath: source)
        defer { try? FileManager.default.removeItem(atPath: source) }
        let file = source + "/model.safetensors"
        let range = try #require(try SafetensorsFile(path: file).storedRange(of: "model.norm.weight"))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try handle.seek(toOffset: UInt64(range.offset + 6))
        try handle.write(contentsOf: Data([0xC0, 0x7F]))  // bf16 NaN as element 3
        try handle.close()
        let checkpoint = try ModelFiles.openCheckpoint(source, requireTokenizer: false)
        let output = NSTemporaryDirectory() + "llamakit-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let error = #expect(throws: InputError.self) {
            try HFExporter.export(
                source: checkpoint.source, config: checkpoint.config, tokenizer: nil, options: .init(type: .f16, maxShardBytes: 50_000),
                to: output)
        }
        #expect(error?.location == .tensor("norm.weight"), "\(String(describing: error))")
        #expect(error?.description.contains("nan") == true, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output) == [])
    }
}

extension HFExportTests {
    static func exportWithTokenizer(_ meta: String, chat: Bool = false) throws -> String {
        let checkpoint = try ModelFiles.openCheckpoint(HFDirectoryTests.meta(meta), requireTokenizer: true)
        let directory = NSTemporaryDirectory() + "llamakit-export-\(UUID().uuidString)"
        let setup = try ChatSetup.resolve(choice: nil, instruct: chat, tokenizer: checkpoint.tokenizer)
        _ = try HFExporter.export(
            source: checkpoint.source, config: checkpoint.config, tokenizer: checkpoint.tokenizer,
            options: .init(chat: setup, sentencePieceModel: checkpoint.tokenizerPath), to: directory)
        return directory
    }

    static func gguf(_ path: String) throws -> Data {
        let checkpoint = try ModelFiles.openCheckpoint(path, requireTokenizer: true)
        let output = NSTemporaryDirectory() + "llamakit-hf-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: output) }
        _ = try Converter.convert(
            source: checkpoint.source, config: checkpoint.config, tokenizer: checkpoint.tokenizer, options: .init(type: .q8_0, name: "m"),
            to: output)
        return try Data(contentsOf: URL(fileURLWithPath: output))
    }

    /// Meta → HF → GGUF equals Meta → GGUF, tokenizer metadata included (Llama 3 through
    /// tokenizer.json; Llama 2 through the tokenizer.model copied beside it).
    @Test(arguments: ["llama2-tiny", "llama2-tiny-mp2", "llama3-tiny", "llama31-tiny", "demo"])
    func ggufThroughOurExportEqualsGGUFFromMeta(_ meta: String) throws {
        let directory = try Self.exportWithTokenizer(meta)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.gguf(directory) == Self.gguf(HFDirectoryTests.meta(meta)))
    }

    /// An instruct export: the chat template in tokenizer_config.json, end of turn as eos.
    @Test func chatExportCarriesTheTemplateAndEndOfTurn() throws {
        let directory = try Self.exportWithTokenizer("demo", chat: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/tokenizer_config.json"))))
        #expect(config.object?["chat_template"]?.string == ChatTemplate.llama3.text)
        #expect(config.object?["eos_token"]?.string == "<|eot_id|>")
        let model = try HFConfig(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))))
        let tokenizer = try #require(try ModelFiles.openCheckpoint(HFDirectoryTests.meta("demo"), requireTokenizer: true).tokenizer)
        #expect(model.eosTokenIDs.first == tokenizer.eosID)
        #expect(Set(model.eosTokenIDs) == tokenizer.stopIDs.union([tokenizer.eosID]))
        let read = try HFTokenizerJSON.load(directory: directory)
        #expect(read.chatTemplate == ChatTemplate.llama3.text)
    }
}
