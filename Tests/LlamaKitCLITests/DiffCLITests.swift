import Foundation
import GGUF
import Testing

/// `llamakit diff` through the real binary: files made by `convert`, then copies changed in
/// known places.
@Suite struct DiffCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    /// `diff … --json`, parsed, with the exit status.
    static func json(_ arguments: [String]) throws -> (status: Int32, object: [String: Any], stderr: String) {
        let result = try run(["diff"] + arguments + ["--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
        return (result.status, object, result.stderr)
    }

    static func tensors(_ object: [String: Any]) throws -> [[String: Any]] { try #require(object["tensors"] as? [[String: Any]]) }

    /// Tensor name → status.
    static func statuses(_ object: [String: Any]) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try tensors(object).map { ($0["name"] as! String, $0["status"] as! String) })
    }

    static func convert(_ checkpoint: String, _ type: String, into directory: String, _ extra: [String] = []) throws -> String {
        let output = "\(directory)/\(URL(fileURLWithPath: checkpoint).lastPathComponent)-\(type).gguf"
        let result = try run(["convert", checkpoint, "-o", output, "--type", type, "--no-sync"] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        return output
    }

    /// The derived tensor each fixture family holds on one side only (Meta's Llama 2 `rope.freqs`,
    /// the GGUF's Llama 3.1 `rope_freqs.weight`).
    static let derived: [String: String] = [
        "fixtures/llama2-tiny-mp2": "rope.freqs", "fixtures/demo": "rope_freqs.weight", "fixtures/llama2-tiny": "rope.freqs",
    ]

    /// A lossless conversion differs in nothing: bf16 widened to f32 is bit-identical, names map
    /// back (shards merged on the Meta side), the derived tensor is set aside.
    @Test(arguments: ["fixtures/llama2-tiny-mp2", "fixtures/demo"])
    func metaAgainstItsOwnF32GGUFIsAllEqual(_ checkpoint: String) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gguf = try Self.convert(checkpoint, "f32", into: directory)
        let (status, object, stderr) = try Self.json([checkpoint, gguf])
        #expect(status == 0, "\(stderr)")
        #expect(object["match"] as? Bool == true)
        let statuses = try Self.statuses(object)
        let derived = try #require(Self.derived[checkpoint])
        #expect(statuses[derived] == "derived")
        #expect(statuses.filter { $0.key != derived }.allSatisfy { $0.value == "equal" }, "\(statuses)")
        #expect(statuses.count >= 21)
        for tensor in try Self.tensors(object) where tensor["status"] as? String == "equal" {
            #expect((tensor["dtype_a"] as? String, tensor["dtype_b"] as? String) == ("bf16", "f32"))
            #expect(tensor["max_abs_diff"] as? Double == 0)
        }
        let text = try Self.run(["diff", checkpoint, gguf])
        #expect(text.status == 0)
        let line = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("layers.0.attention.wq.weight ") })
        #expect(line.contains(" equal      bf16 vs f32 "), "\(line)")
        #expect(text.stdout.hasSuffix("\nMATCH\n"))
    }

    /// Meta's checkpoints against transformers' exports of them (q/k permuted, sharded, `.bin`,
    /// and one written by `convert --to hf`): every tensor equal under Meta's names.
    @Test(arguments: [
        ("fixtures/llama3-tiny", "fixtures/hf/llama3-tiny-hf"), ("fixtures/llama31-tiny", "fixtures/hf/llama31-tiny-hf"),
        ("fixtures/llama2-tiny", "fixtures/hf/llama2-tiny-hf"), ("fixtures/llama2-tiny-mp2", "fixtures/hf/llama2-tiny-bin-hf"),
        ("fixtures/llama2-tiny-mp2", "convert --to hf"),
    ])
    func metaAgainstItsHFExportIsEqual(_ meta: String, _ hf: String) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var hfPath = hf
        if hf == "convert --to hf" {
            hfPath = directory + "/hf"
            #expect(try Self.run(["convert", meta, "-o", hfPath, "--to", "hf", "--max-shard-size", "200KB", "--no-sync"]).status == 0)
        }
        let (status, object, stderr) = try Self.json([meta, hfPath])
        #expect(status == 0, "\(stderr)")
        let statuses = try Self.statuses(object)
        #expect(statuses["layers.1.attention.wq.weight"] == "equal")
        #expect(statuses["layers.1.attention.wk.weight"] == "equal")
        #expect(
            statuses.allSatisfy { $0.value == "equal" || ($0.key == "rope.freqs" && $0.value == "derived") }, "\(statuses)")
    }

    /// A tied model: the HF directory has no lm_head and the GGUF made from it no output.weight;
    /// both serve the embedding, so the two are equal and the line says why.
    @Test func tiedOutputsCompareAsTheEmbedding() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gguf = try Self.convert("fixtures/hf/llama3-tiny-tied-hf", "bf16", into: directory, ["--no-tokenizer"])
        let (status, object, _) = try Self.json(["fixtures/hf/llama3-tiny-tied-hf", gguf])
        #expect(status == 0)
        let output = try #require(try Self.tensors(object).first { $0["name"] as? String == "output.weight" })
        #expect(output["status"] as? String == "equal")
        #expect(output["note"] as? String == "tied to the embedding in A and B")
        // Meta's llama3-tiny has its own output matrix: that one tensor differs.
        let (untied, other, _) = try Self.json(["fixtures/llama3-tiny", gguf])
        #expect(untied == 1)
        #expect(try Self.statuses(other).filter { $0.value != "equal" } == ["output.weight": "different"])
    }

    /// Q8_0 rounds every matrix: each is `different`, with the error of an 8-bit block quantizer
    /// (max |Δ| at most half a step of the block's scale, cosine ≈ 1); 1-D tensors stay f32 and
    /// equal. Under a tolerance above a step, everything is close and the exit status is 0.
    @Test func metaAgainstQ8_0DiffersByQuantizationNoise() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gguf = try Self.convert("fixtures/llama3-tiny", "q8_0", into: directory)
        let (status, object, _) = try Self.json(["fixtures/llama3-tiny", gguf])
        #expect(status == 1)
        for tensor in try Self.tensors(object) {
            let name = tensor["name"] as! String
            if (tensor["shape_a"] as! [Int]).count == 1 {
                #expect(tensor["status"] as? String == "equal", "\(name)")
                continue
            }
            #expect(tensor["status"] as? String == "different", "\(name)")
            #expect(tensor["dtype_b"] as? String == "q8_0")
            let maxAbs = try #require(tensor["max_abs_diff"] as? Double), rmse = try #require(tensor["rmse"] as? Double)
            // The fixture's weights lie within ±0.6: a Q8_0 step (the block's max |w| / 127) is below 0.005.
            #expect(maxAbs > 0 && maxAbs < 0.005, "\(name) \(maxAbs)")
            #expect(rmse > 0 && rmse < maxAbs, "\(name)")
            #expect(try #require(tensor["cosine"] as? Double) > 0.9999, "\(name)")
            let elements = try #require(tensor["elements"] as? Int), beyond = try #require(tensor["beyond_tolerance"] as? Int)
            #expect(beyond > elements / 2 && beyond <= elements)
            let first = try #require(tensor["first_difference"] as? [String: Any])
            #expect(first["a"] as? Double != first["b"] as? Double)
        }
        let (looseStatus, loose, _) = try Self.json(["fixtures/llama3-tiny", gguf, "--atol", "0.005"])
        #expect(looseStatus == 0)
        #expect(try Self.statuses(loose).values.allSatisfy { $0 == "equal" || $0 == "close" })
        #expect((loose["summary"] as? [String: Any])?["tensors"] as? [String: Int] != nil)
    }

    /// Two different models: tensors of other shapes are reported with both shapes and not
    /// compared, tensors of the same shape are compared (unrelated random weights: cosine ≈ 0).
    @Test func differentModelsReportShapes() throws {
        let (status, object, _) = try Self.json(["fixtures/llama3-tiny", "fixtures/llama2-tiny"])
        #expect(status == 1)
        let tensors = try Self.tensors(object)
        let embedding = try #require(tensors.first { $0["name"] as? String == "tok_embeddings.weight" })
        #expect(embedding["status"] as? String == "shape_mismatch")
        #expect((embedding["shape_a"] as? [Int], embedding["shape_b"] as? [Int]) == ([768, 64], [1000, 64]))
        #expect(embedding["max_abs_diff"] == nil)
        let wq = try #require(tensors.first { $0["name"] as? String == "layers.0.attention.wq.weight" })
        #expect(wq["status"] as? String == "different")
        #expect(abs(try #require(wq["cosine"] as? Double)) < 0.1)
        let statuses = try Self.statuses(object)
        #expect(statuses["rope.freqs"] == "derived")
        #expect(statuses.values.filter { $0 == "shape_mismatch" }.count == 12)
        let text = try Self.run(["diff", "fixtures/llama3-tiny", "fixtures/llama2-tiny"])
        let line = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("tok_embeddings.weight ") })
        #expect(line.contains(" shape ") && line.hasSuffix("[768, 64] vs [1000, 64]"), "\(line)")
        #expect(text.stdout.contains("tensors: 9 different, 12 shape, 1 derived"))
    }

    /// Overwrites element `element` of tensor `name` in a GGUF file: f32 gets `value`; a Q8_0
    /// block's int8 for that element gets its value + 1.
    static func plant(in path: String, tensor name: String, element: Int, f32 value: Float) throws {
        let file = try GGUFFile(path: path)
        let tensor = try #require(file.tensors.first { $0.name == name })
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        switch tensor.type {
        case .f32:
            try handle.seek(toOffset: UInt64(file.dataOffset + tensor.offset + 4 * element))
            try handle.write(contentsOf: withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) })
        case .q8_0:
            // { f16 d; int8 qs[32] }: element j of block k is qs[j] of the k-th 34-byte block.
            let offset = UInt64(file.dataOffset + tensor.offset + element / 32 * 34 + 2 + element % 32)
            try handle.seek(toOffset: offset)
            let old = Int8(bitPattern: try #require(try handle.read(upToCount: 1)?.first))
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data([UInt8(bitPattern: old == 127 ? 126 : old + 1)]))
        default:
            Issue.record("cannot plant into \(tensor.type)")
        }
    }

    /// One value changed in one tensor — an f32 element, or one int8 of a Q8_0 block (found by
    /// dequantizing) — is found and named: exactly that tensor differs, at that flat index, with
    /// the original and the new value; exit 1. Both against the unchanged GGUF and against the
    /// Meta checkpoint it came from.
    @Test(arguments: [
        ("f32", "blk.1.ffn_down.weight", "layers.1.feed_forward.w2.weight", 1234),
        ("q8_0", "blk.0.attn_v.weight", "layers.0.attention.wv.weight", 777),
        ("f32", "output_norm.weight", "norm.weight", 63),
    ])
    func plantedElementIsFoundAndNamed(_ type: String, _ gguf: String, _ meta: String, _ element: Int) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try Self.convert("fixtures/llama3-tiny", type, into: directory)
        let planted = directory + "/planted.gguf"
        try FileManager.default.copyItem(atPath: original, toPath: planted)
        try Self.plant(in: planted, tensor: gguf, element: element, f32: 0.5)
        for base in [original, "fixtures/llama3-tiny"] where base == original || type == "f32" {
            let (status, object, stderr) = try Self.json([base, planted])
            #expect(status == 1, "\(stderr)")
            let statuses = try Self.statuses(object)
            #expect(statuses.filter { $0.key != meta }.allSatisfy { $0.value == "equal" }, "\(statuses)")
            #expect(statuses[meta] == "different")
            let tensor = try #require(try Self.tensors(object).first { $0["name"] as? String == meta })
            #expect(tensor["beyond_tolerance"] as? Int == 1)
            let first = try #require(tensor["first_difference"] as? [String: Any])
            #expect(first["index"] as? Int == element)
            let a = try #require(first["a"] as? Double), b = try #require(first["b"] as? Double)
            if type == "f32" {
                #expect(b == 0.5 && a != 0.5)
                #expect(tensor["max_abs_diff"] as? Double == abs(a - 0.5))
            } else {
                // One int8 step of the block's scale.
                #expect(abs(a - b) > 0 && abs(a - b) < 0.005)
            }
        }
        let text = try Self.run(["diff", original, planted])
        #expect(text.status == 1)
        let line = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix(meta + " ") })
        #expect(line.contains("different") && line.contains("1 of ") && line.contains("(index \(element))"), "\(line)")
        #expect(text.stdout.hasSuffix("\nDIFFERENT\n"))
    }

    /// A copy of a GGUF with one tensor left out, one added, one transposed, and keys changed (a
    /// value, a type with the same number, one dropped, one added), written by the GGUF writer.
    static func edited(_ path: String, to output: String) throws {
        let file = try GGUFFile(path: path)
        var writer = GGUFWriter(alignment: file.alignment)
        for (key, value) in file.metadata where key != "tokenizer.ggml.eot_token_id" {
            switch (key, value) {
            case ("general.name", _): writer.add(key, .string("renamed"))
            case ("llama.block_count", .u32(let count)): writer.add(key, .i32(Int32(count)))
            case ("tokenizer.ggml.token_type", .array(let type, var items)):
                items[5] = .i32(3)
                writer.add(key, .array(type, items))
            default: writer.add(key, value)
            }
        }
        writer.add("general.comment", .string("added"))
        let kept = file.tensors.filter { $0.name != "blk.0.attn_k.weight" }
        for tensor in kept {
            // The same values under the transposed shape: as many elements, another tensor.
            let shape = tensor.name == "blk.0.ffn_down.weight" ? tensor.shape.reversed() : tensor.shape
            try writer.addTensor(name: tensor.name, shape: shape, type: tensor.type)
        }
        try writer.addTensor(name: "extra.weight", shape: [32], type: .f32)
        try writer.write(to: output, sync: false) { index, sink in
            if index == kept.count {
                try [Float](repeating: 1, count: 32).withUnsafeBytes { try sink($0) }
            } else {
                try file.withBytes(of: kept[index].name) { try sink($0) }
            }
        }
    }

    /// Missing, extra and transposed tensors and every kind of key change are reported, and make
    /// the exit 1; `--metadata-only` reports the keys alone.
    @Test func missingTensorsAndChangedKeysAreReported() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try Self.convert("fixtures/llama3-tiny", "f32", into: directory)
        let edited = directory + "/edited.gguf"
        try Self.edited(original, to: edited)
        let (status, object, stderr) = try Self.json([original, edited])
        #expect(status == 1, "\(stderr)")
        let statuses = try Self.statuses(object)
        #expect(statuses["layers.0.attention.wk.weight"] == "only_in_a")
        #expect(statuses["extra.weight"] == "only_in_b")
        #expect(statuses["layers.0.feed_forward.w2.weight"] == "shape_mismatch")
        #expect(statuses.filter { $0.value != "equal" }.count == 3)
        let keys = try #require(object["metadata"] as? [[String: Any]])
        let byKey = Dictionary(uniqueKeysWithValues: keys.map { ($0["key"] as! String, $0) })
        #expect(byKey["general.name"]?["status"] as? String == "different")
        #expect(byKey["general.name"]?["value_b"] as? String == "renamed")
        let blockCount = try #require(byKey["llama.block_count"])
        #expect(blockCount["status"] as? String == "different")
        #expect((blockCount["type_a"] as? String, blockCount["type_b"] as? String) == ("u32", "i32"))
        #expect(byKey["tokenizer.ggml.token_type"]?["first_different_element"] as? Int == 5)
        #expect(byKey["tokenizer.ggml.eot_token_id"]?["status"] as? String == "only_in_a")
        #expect(byKey["general.comment"]?["status"] as? String == "only_in_b")
        #expect(keys.filter { $0["status"] as? String != "equal" }.count == 5)
        let summary = try #require(object["summary"] as? [String: Any])
        #expect((summary["metadata"] as? [String: Int])?["different"] == 3)

        let metadataOnly = try Self.run(["diff", original, edited, "--metadata-only"])
        #expect(metadataOnly.status == 1)
        #expect(!metadataOnly.stdout.contains("layers.0"))
        #expect(metadataOnly.stdout.contains("general.name"))
        #expect(metadataOnly.stdout.contains("(first at 5: 1 vs 3)"), "\(metadataOnly.stdout)")
        #expect(metadataOnly.stdout.contains("metadata keys: 20 equal, 3 different, 1 only in A, 1 only in B"), "\(metadataOnly.stdout)")
        let same = try Self.run(["diff", original, original, "--metadata-only"])
        #expect(same.status == 0, "\(same.stdout)")
    }

    /// Bad usage and bad input exit 2 with one line on stderr and nothing on stdout.
    @Test(arguments: [
        (["fixtures/demo/TRAINING.txt", "fixtures/demo"], "not a PyTorch zip checkpoint"),
        (["fixtures/demo", "fixtures/no-such-model"], "no such file or directory"),
        (["fixtures/demo", "fixtures/goldens"], "no consolidated.NN.pth files in this directory"),
        (["fixtures/demo", "fixtures/demo", "--metadata-only"], "--metadata-only compares GGUF metadata; this is not a GGUF file"),
    ])
    func badInputExitsTwo(_ arguments: [String], _ message: String) throws {
        let result = try Self.run(["diff"] + arguments)
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    /// A tolerance that is not a number ≥ 0 is bad usage: exit 2 before anything is read.
    @Test(arguments: ["--atol=-1", "--rtol=nan", "--atol=inf"])
    func badToleranceExitsTwo(_ option: String) throws {
        let result = try Self.run(["diff", "fixtures/demo", "fixtures/demo", option])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("must be a finite number ≥ 0"), "\(result.stderr)")
    }
}
