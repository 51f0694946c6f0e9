import Foundation
import Testing

/// Runs the real `llamakit` binary and checks what a user sees.
@Suite struct InspectCLITests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // Tests run from .build/<config>/; the executable sits beside the test bundle.
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        for directory in candidates {
            let url = directory.appendingPathComponent("llamakit")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return repo.appendingPathComponent(".build/debug/llamakit")
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], stdin: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = repo
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func tableShowsTensorsTotalsConfigAndTokenizer() throws {
        let run = try Self.run(["inspect", "fixtures/llama31-tiny"])
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty)
        #expect(run.stdout.contains("layers.0.attention.wk.weight     bf16   [32, 64]    2,048   4,096  data/2@"))
        #expect(run.stdout.contains("total       21  209,216  418,432  408.6 KiB"))
        #expect(run.stdout.contains("family        Llama 3.1"))
        #expect(run.stdout.contains("rope scaling  Llama 3.1 apply_scaling, factor 8"))
        #expect(run.stdout.contains("tiktoken BPE ranks (Llama 3)"))
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let run = try Self.run(["inspect", "fixtures/llama2-tiny-mp2", "--json"])
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "pytorch")
        #expect((object["files"] as? [[String: Any]])?.count == 2)
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.count == 22)
        let embedding = try #require(tensors.first { $0["name"] as? String == "tok_embeddings.weight" })
        #expect(embedding["dtype"] as? String == "bf16")
        #expect(embedding["shape"] as? [Int] == [1000, 64])  // merged from 2 × [1000, 32]
        #expect(embedding["bytes"] as? Int == 128_000)
        let config = try #require(object["config"] as? [String: Any])
        #expect(config["family"] as? String == "Llama 2")
        #expect(config["rope_theta"] as? Double == 10000)
        #expect(config["n_kv_heads"] as? Int == 4)
    }

    @Test func treePrintsLikePyTorch() throws {
        let run = try Self.run(["inspect", "fixtures/llama3-tiny", "--tree"])
        #expect(run.status == 0)
        #expect(run.stdout.hasPrefix("Transformer(\n  (tok_embeddings): Embedding(768, 64)"))
        #expect(run.stdout.contains("    (0-1): 2 x TransformerBlock("))
        #expect(run.stdout.contains("        (wk): Linear(in_features=64, out_features=32, bias=False)"))
    }

    @Test func nonLlamaFileStillListsItsTensors() throws {
        let run = try Self.run(["inspect", "fixtures/torch/views.pth", "--json"])
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let dtypes = Set(((object["tensors"] as? [[String: Any]]) ?? []).compactMap { $0["dtype"] as? String })
        #expect(dtypes.isSuperset(of: ["f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool"]))
        #expect(object["config"] == nil || object["config"] is NSNull)
    }

    static let badInputs: [(arguments: [String], message: String)] = [
        (
            ["inspect", "fixtures/hostile/global-os-system.pth"],
            "error: fixtures/hostile/global-os-system.pth: record 'archive/data.pkl': byte 2: global 'posix.system' is not allowed"
        ),
        (["inspect", "fixtures/torch/legacy.pth"], "legacy (torch < 1.6) checkpoint"),
        (["inspect", "no/such/dir"], "error: no/such/dir: no such file or directory"),
        (["inspect", "fixtures/hostile"], "no consolidated.NN.pth files, and"),
        (
            ["inspect", "fixtures/llama3-tiny/params.json"],
            "not a PyTorch zip checkpoint: expected the zip signature 50 4b 03 04, found 7b 22"
        ),
    ]

    @Test(arguments: badInputs)
    func badInputExitsTwoWithOneMessage(_ row: (arguments: [String], message: String)) throws {
        let run = try Self.run(row.arguments)
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(row.message), "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1)
    }

    /// Every crafted archive: exit 2, nothing on stdout, one line on stderr naming the file.
    @Test func everyHostileFixtureExitsTwoWithOneLine() throws {
        let directory = Self.repo.appendingPathComponent("fixtures/hostile")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".pth") && $0 != "valid-minimal.pth" && $0 != "cycle.pth" }.sorted()
        #expect(names.count >= 30)
        for name in names {
            let run = try Self.run(["inspect", "fixtures/hostile/\(name)"])
            #expect(run.status == 2, "\(name)")
            #expect(run.stdout.isEmpty, "\(name)")
            #expect(run.stderr.hasPrefix("error: fixtures/hostile/\(name): "), "\(name): \(run.stderr)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(name)")
        }
    }

    static let badUsage: [[String]] = [["inspect"], ["inspect", "a", "--json", "--tree"], ["frobnicate"], ["inspect", "a", "--bogus"]]

    @Test(arguments: badUsage)
    func badUsageExitsTwo(_ arguments: [String]) throws {
        let run = try Self.run(arguments)
        #expect(run.status == 2, "\(arguments): \(run.status)")
        #expect(run.stderr.contains("Error:") || run.stderr.contains("error:"), "\(run.stderr)")
    }

    @Test func helpExitsZero() throws {
        let run = try Self.run(["inspect", "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("USAGE: llamakit inspect <path> [--json] [--tree]"))
    }

    @Test func aTokenizerFromAnotherModelIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("llamakit-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, source) in [("consolidated.00.pth", "llama3-tiny"), ("params.json", "llama3-tiny"), ("tokenizer.model", "llama2-tiny")] {
            try FileManager.default.copyItem(
                at: Self.repo.appendingPathComponent("fixtures/\(source)/\(name)"), to: directory.appendingPathComponent(name))
        }
        let run = try Self.run(["inspect", directory.path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("tokenizer.model: defines 1000 ids but tok_embeddings.weight has 768 rows"), "\(run.stderr)")
    }

    @Test func paramsContradictingTensorsIsAnErrorAfterTheListing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("llamakit-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = Self.repo.appendingPathComponent("fixtures/llama3-tiny")
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("consolidated.00.pth"), to: directory.appendingPathComponent("consolidated.00.pth"))
        try Data(
            #"{"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 4, "vocab_size": 768, "multiple_of": 32, "ffn_dim_multiplier": 1.3, "rope_theta": 500000.0}"#
                .utf8
        )
        .write(to: directory.appendingPathComponent("params.json"))
        let run = try Self.run(["inspect", directory.path])
        #expect(run.status == 2)
        #expect(run.stdout.contains("tok_embeddings.weight"))
        #expect(run.stderr.contains("tensor 'layers.0.attention.wk.weight': expected shape [64, 64], found [32, 64]"), "\(run.stderr)")
    }

    @Test func showsAHuggingFaceDirectoryFileByFile() throws {
        let run = try Self.run(["inspect", "fixtures/hf/llama31-tiny-hf"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("fixtures/hf/llama31-tiny-hf/model-00001-of-00003.safetensors: safetensors, "))
        #expect(run.stdout.contains("model.layers.0.self_attn.k_proj.weight"))
        #expect(run.stdout.contains("config (fixtures/hf/llama31-tiny-hf/config.json):"))
        #expect(run.stdout.contains("rope scaling  Llama 3.1 apply_scaling, factor 8"))
        #expect(run.stdout.contains("context       131072 (max_position_embeddings)"))
    }

    @Test func jsonOfASafetensorsDirectory() throws {
        let run = try Self.run(["inspect", "fixtures/hf/llama3-tiny-tied-hf", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "safetensors")
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.count == 20)  // tied: no lm_head.weight
        #expect(!tensors.contains { $0["name"] as? String == "lm_head.weight" })
        let config = try #require(object["config"] as? [String: Any])
        #expect(config["family"] as? String == "Llama 3")
        #expect(config["n_kv_heads"] as? Int == 2)
    }

    @Test func aConfigContradictingTheTensorsNamesTheHFTensor() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("llamakit-cli-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.repo.appendingPathComponent("fixtures/hf/llama3-tiny-hf"), to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(
            of: "\"num_key_value_heads\": 2", with: "\"num_key_value_heads\": 4")
        try Data(text.utf8).write(to: config)
        let run = try Self.run(["inspect", directory.path])
        #expect(run.status == 2)
        #expect(run.stdout.contains("model.layers.0.self_attn.k_proj.weight"))
        #expect(
            run.stderr.contains(
                "tensor 'model.layers.0.self_attn.k_proj.weight': expected shape [64, 64], found [32, 64] (Meta's layers.0.attention.wk.weight)"
            ),
            "\(run.stderr)")
    }
}
