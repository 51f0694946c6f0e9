import BinaryIO
import Foundation
import Quantization
import TensorCore
import Testing

@testable import TorchCheckpoint

/// The layouts of Meta's biggest releases (`fixtures/make_layout_fixtures.py`, shards cut by
/// llama-models' own `reshard_mp`): KV heads repeated across shards, kept once only when the
/// bytes prove the copies equal; FP8 weights read as value × row scale.
@Suite struct ShardLayoutTests {
    static func bytes(_ source: any TensorSource, _ name: String) throws -> [UInt8] { try source.withBytes(of: name) { Array($0) } }

    /// 405B-MP16-style: ranks 2j and 2j+1 hold KV head j. The merged wk/wv are the even ranks'
    /// slices, in order; every other tensor takes all 16.
    @Test func repeatedKVHeadsAreKeptOnce() throws {
        let directory = try CheckpointDirectory.open(Fixtures.path("llama3-mp16-kvdup"))
        let set = try #require(directory.source as? ShardSet)
        #expect(set.kvCopies == 2)
        for name in ["layers.0.attention.wk.weight", "layers.1.attention.wv.weight"] {
            #expect(set.info(named: name)?.shape == [32, 64])
            let kept = try stride(from: 0, to: 16, by: 2).flatMap { try Self.bytes(directory.files[$0], name) }
            #expect(try Self.bytes(set, name) == kept, "\(name)")
        }
        #expect(set.info(named: "layers.0.attention.wq.weight")?.shape == [64, 64])
        #expect(try set.parts(of: "layers.1.attention.wk.weight")?.parts.count == 8)
    }

    /// `reshard_mp` from one shard tiles the heads ([h0 h1 h0 h1] over 4 ranks): neighbours
    /// differ, so nothing is dropped and the set keeps the 4 KV heads its params declare.
    @Test func tiledKVHeadsAreNotDeduplicated() throws {
        let set = try #require(try CheckpointDirectory.open(Fixtures.path("llama3-mp4-tiled")).source as? ShardSet)
        #expect(set.kvCopies == 1)
        #expect(set.info(named: "layers.0.attention.wk.weight")?.shape == [64, 64])
    }

    /// A copy that stops repeating its neighbour after the first layer is refused when read,
    /// naming the shard and the tensor.
    @Test func kvCopiesThatDifferAreRefused() throws {
        let path = try Self.copy("llama3-mp16-kvdup", replacing: "consolidated.03.pth", with: "layouts-bad/kvdiffer-consolidated.03.pth")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let set = try #require(try CheckpointDirectory.open(path).source as? ShardSet)
        #expect(set.kvCopies == 2)
        #expect(try Self.bytes(set, "layers.0.attention.wk.weight").count == 32 * 64 * 2)
        for read in [
            { _ = try Self.bytes(set, "layers.1.attention.wk.weight") }, { _ = try set.parts(of: "layers.1.attention.wk.weight") },
        ] {
            let error = #expect(throws: InputError.self) { try read() }
            #expect(error?.kind == .mismatch)
            #expect(
                error?.description.contains("consolidated.03.pth: tensor 'layers.1.attention.wk.weight'") == true,
                "\(String(describing: error))")
        }
    }

    /// Shards of two models with the same shapes: their replicated norms disagree.
    @Test func shardsOfDifferentModelsAreRefused() throws {
        let path = try Self.copy("llama3-tiny-mp2", replacing: "consolidated.01.pth", with: "layouts-bad/foreign-consolidated.01.pth")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: InputError.self) { _ = try CheckpointDirectory.open(path) }
        #expect(error?.description.contains("consolidated.01.pth: tensor 'norm.weight'") == true, "\(String(describing: error))")
        #expect(error?.description.contains("the shards come from different models") == true)
    }

    /// Every f8_e4m3fn bit pattern decodes to torch's value (NaN for S.1111.111).
    @Test func e4m3fnDecodesAsTorch() throws {
        struct Golden: Decodable { var values: [Double?] }
        let golden = try JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("goldens/e4m3fn.json")))
        #expect(golden.values.count == 256)
        for (bits, expected) in golden.values.enumerated() {
            let value = FloatConversion.float(e4m3fn: UInt8(bits))
            if let expected {
                #expect(Double(value) == expected && value.sign == (expected.sign), "bits \(bits)")
            } else {
                #expect(value.isNaN, "bits \(bits)")
            }
        }
    }

    /// FP8 weights are served as f32 value × the row scale of their own shard (w2 is split by
    /// columns, so each row of the merged matrix joins two shards' differently scaled halves).
    @Test func fp8WeightsAreValueTimesRowScale() throws {
        struct Golden: Decodable { var values: [Double?] }
        let table = try JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("goldens/e4m3fn.json"))
        )
        .values.map { Float($0 ?? .nan) }
        let directory = try CheckpointDirectory.open(Fixtures.path("llama3-fp8-mp2"))
        #expect(directory.storedTypes.count == 6)
        let name = "layers.2.feed_forward.w2.weight"
        let info = try #require(directory.source.info(named: name))
        #expect(info.dtype == .f32 && info.shape == [64, 224])
        var expected = [Float](repeating: 0, count: 64 * 224)
        for rank in 0..<2 {
            let scales = try PthFile(path: Fixtures.path("llama3-fp8-mp2/fp8_scales_\(rank).pt"))
            let scale = try scales.withBytes(of: "2_feed_forward.w2_\(rank)") { raw in
                (0..<64).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            let stored = try Self.bytes(directory.files[rank], name)
            #expect(stored.count == 64 * 112)
            for row in 0..<64 {
                for column in 0..<112 { expected[row * 224 + rank * 112 + column] = table[Int(stored[row * 112 + column])] * scale[row] }
            }
        }
        let served = try directory.source.withBytes(of: name) { raw in
            (0..<(64 * 224)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        #expect(served.count == expected.count)
        #expect(zip(served, expected).filter { $0.0 != $0.1 }.count == 0, "elements that differ from value × row scale")
    }

    /// An FP8 shard needs its scales file, and the scales file a key for every FP8 slice.
    @Test(
        arguments: [
            ("fp8_scales_1.pt", nil, "no fp8_scales_1.pt beside the shard", "layers.1.feed_forward.w1.weight"),
            (
                "fp8_scales_1.pt", "layouts-bad/fp8_scales_1-missing-key.pt", "fp8_scales_1.pt holds no '2_feed_forward.w2_1'",
                "layers.2.feed_forward.w2.weight"
            ),
        ] as [(String, String?, String, String)])
    func fp8WithoutItsScaleIsRefused(_ row: (file: String, replacement: String?, message: String, tensor: String)) throws {
        let path = try Self.copy("llama3-fp8-mp2", replacing: row.file, with: row.replacement)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: InputError.self) { _ = try CheckpointDirectory.open(path) }
        #expect(error?.kind == .missing)
        #expect(error?.description.contains("consolidated.01.pth: tensor '\(row.tensor)'") == true, "\(String(describing: error))")
        #expect(error?.description.contains(row.message) == true, "\(String(describing: error))")
    }

    /// A copy of fixture directory `fixture` with `file` replaced by `replacement` (or removed).
    static func copy(_ fixture: String, replacing file: String, with replacement: String?) throws -> String {
        let path = NSTemporaryDirectory() + "llamakit-layout-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Fixtures.path(fixture), toPath: path)
        try FileManager.default.removeItem(atPath: path + "/" + file)
        if let replacement { try FileManager.default.copyItem(atPath: Fixtures.path(replacement), toPath: path + "/" + file) }
        return path
    }
}
