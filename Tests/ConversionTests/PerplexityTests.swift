import BinaryIO
import Foundation
import Testing
import Verification

/// `llamakit perplexity` against golden figures that Meta's reference model and a numpy
/// transcription of llama-perplexity's method computed (`fixtures/make_perplexity_reference.py`).
@Suite struct PerplexityTests {
    static let text = ConversionTests.fixtures.appendingPathComponent("text/grammar.txt").path
    static func model(_ name: String) -> String { ConversionTests.fixtures.appendingPathComponent(name).path }

    struct Golden: Decodable {
        struct Run: Decodable {
            let chunk_ppl: [Double]
            let ppl: Double
            let ppl_error: Double
            let scored: Int
        }
        struct KLD: Decodable {
            let positions: Int
            let ppl: Double
            let ppl_base: Double
            let ln_ppl_ratio: [Double]
            let kld: [Double]
            let kld_percentiles: [Double]
            let delta_p: [Double]
            let delta_p_percentiles: [Double]
            let delta_p_rms: Double
            let same_top: Double
        }
        let ctx: Int
        let tokens: [Int]
        let chunks: Int
        let demo: Run
        let k256: Run
        let kld_k256_vs_demo: KLD
    }

    static let golden: Golden = {
        let url = ConversionTests.fixtures.appendingPathComponent("perplexity/golden.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    static func request(_ model: String, threads: Int = 2) throws -> Perplexity.Request {
        Perplexity.Request(
            model: Self.model(model), text: try FileSystem.readText(text, limit: 1 << 20), textLabel: text, context: golden.ctx,
            threads: threads)
    }

    /// Float32 forward passes against float32 torch: the logits agree to ~1e-6 of their range,
    /// so a perplexity agrees far inside 1e-4 relative; a wrong chunking or BOS rule moves it
    /// by percents.
    static func close(_ a: Double, _ b: Double, relative: Double = 1e-4, absolute: Double = 0) -> Bool {
        abs(a - b) <= absolute + relative * abs(b)
    }

    @Test(arguments: ["demo", "k256"])
    func perplexityEqualsMetasModel(_ name: String) throws {
        let expected = name == "demo" ? Self.golden.demo : Self.golden.k256
        let result = try Perplexity.run(Self.request(name))
        #expect(result.textTokens == Self.golden.tokens.count)
        #expect(result.chunks == Self.golden.chunks && result.scored == expected.scored)
        #expect(result.chunkPerplexities.count == expected.chunk_ppl.count)
        for (ours, theirs) in zip(result.chunkPerplexities, expected.chunk_ppl) {
            #expect(Self.close(ours, theirs), "\(ours) vs \(theirs)")
        }
        #expect(Self.close(result.perplexity, expected.ppl), "\(result.perplexity) vs \(expected.ppl)")
        #expect(
            Self.close(result.perplexityError, expected.ppl_error, relative: 1e-3), "\(result.perplexityError) vs \(expected.ppl_error)")
    }

    /// k256 against demo as the base, through the 16-bit stored rows: every statistic of
    /// llama.cpp's report. The stored levels can differ by one step (16 nats / 65535) where the
    /// two forward passes round differently, hence the small absolute allowances.
    @Test func klDivergenceEqualsTheReferenceStatistics() throws {
        var request = try Self.request("k256")
        request.klBaseModel = Self.model("demo")
        let k = try #require(try Perplexity.run(request).kld)
        let g = Self.golden.kld_k256_vs_demo
        #expect(k.positions == g.positions)
        #expect(Self.close(k.perplexity.mean, g.ppl) && Self.close(k.basePerplexity.mean, g.ppl_base, absolute: 1e-3))
        #expect(Self.close(k.logPerplexityRatio.mean, g.ln_ppl_ratio[0], absolute: 1e-4))
        #expect(Self.close(k.logPerplexityRatio.error, g.ln_ppl_ratio[1], relative: 1e-2))
        #expect(Self.close(k.kld.mean, g.kld[0], absolute: 1e-4), "\(k.kld.mean) vs \(g.kld[0])")
        #expect(Self.close(k.kld.error, g.kld[1], relative: 1e-2, absolute: 1e-5))
        for (ours, theirs) in zip(k.kldPercentiles.map(\.1), g.kld_percentiles) {
            #expect(Self.close(ours, theirs, absolute: 1e-4), "KLD percentile \(ours) vs \(theirs)")
        }
        #expect(Self.close(k.probabilityDelta.mean, g.delta_p[0], absolute: 1e-4))
        for (ours, theirs) in zip(k.probabilityDeltaPercentiles.map(\.1), g.delta_p_percentiles) {
            #expect(Self.close(ours, theirs, absolute: 1e-4), "Δp percentile \(ours) vs \(theirs)")
        }
        #expect(Self.close(k.probabilityDeltaRMS.mean, g.delta_p_rms, absolute: 1e-4))
        #expect(k.sameTop.mean == g.same_top)
    }

    /// Storing the base once and reading it back gives the very numbers of running it live.
    @Test func storedBaseEqualsLiveBase() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppl-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        defer { try? FileSystem.remove(directory) }
        let file = FileSystem.join(directory, "demo.logits")
        var save = try Self.request("demo")
        save.saveLogits = file
        save.sync = false
        let base = try Perplexity.run(save)
        #expect(Self.close(base.perplexity, Self.golden.demo.ppl))
        let stored = try LogitsFile(path: file)
        #expect(stored.tokens == Array(Self.golden.tokens.prefix(Self.golden.ctx * Self.golden.chunks)))
        #expect(stored.context == Self.golden.ctx && stored.vocab == 703 && stored.chunks == Self.golden.chunks)

        var fromFile = try Self.request("k256")
        fromFile.klBase = file
        var live = try Self.request("k256")
        live.klBaseModel = Self.model("demo")
        let a = try #require(try Perplexity.run(fromFile).kld)
        let b = try #require(try Perplexity.run(live).kld)
        #expect(a == b)
        #expect(a.kld.mean > 0.01)
        // Without the text, the tokens come from the file.
        fromFile.text = nil
        #expect(try Perplexity.run(fromFile).kld == a)
    }

    @Test func resultsDoNotDependOnTheThreadCount() throws {
        let one = try Perplexity.run(Self.request("demo", threads: 1))
        let two = try Perplexity.run(Self.request("demo", threads: 3))
        #expect(one.chunkPerplexities == two.chunkPerplexities && one.perplexityError == two.perplexityError)
    }

    @Test func aTextShorterThanTwoChunksIsRefused() throws {
        var request = try Self.request("demo")
        request.context = 512
        let error = try #require(throws: InputError.self) { try Perplexity.run(request) }
        #expect(error.kind == .missing && error.message.contains("needs at least 1024"))
    }
}

/// The stored base log-probabilities as hostile input: every size is checked against the file.
@Suite struct LogitsFileTests {
    /// A valid file: ctx 4 (one scored position per chunk), vocab 3, 2 chunks.
    static func valid() -> [UInt8] {
        var bytes = Array("_logits_".utf8)
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func f32(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        [4, 3, 2].forEach { i32(Int32($0)) }
        [0, 1, 2, 1, 0, 2, 2, 1].forEach { i32(Int32($0)) }
        for _ in 0..<2 {
            f32(0.001)
            f32(-3)
            bytes += [UInt8](repeating: 7, count: 2 * 4)  // 3 levels, rounded up to 4
        }
        return bytes
    }

    static func write(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("logits-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aValidFileReads() throws {
        let path = try Self.write(Self.valid())
        defer { try? FileSystem.remove(path) }
        let file = try LogitsFile(path: path)
        #expect(file.context == 4 && file.vocab == 3 && file.chunks == 2 && file.tokens == [0, 1, 2, 1, 0, 2, 2, 1])
        #expect(file.withRows(ofChunk: 1) { Array($0[4...]) } == [0x0707, 0x0707, 0x0707, 0x0707])
    }

    static let corruptions: [(String, @Sendable (inout [UInt8]) -> Void, InputError.Kind)] = [
        ("magic", { $0[0] = UInt8(ascii: "x") }, .malformed),
        ("empty", { $0 = [] }, .malformed),
        ("truncated", { $0.removeLast() }, .mismatch),
        ("trailing byte", { $0.append(0) }, .mismatch),
        ("context 1", { $0[8] = 1 }, .outOfRange),
        ("negative vocabulary", { $0[15] = 0xFF }, .outOfRange),
        ("huge chunk count", { $0[16...19] = [0xFF, 0xFF, 0xFF, 0x7F] }, .outOfRange),
        ("token outside the vocabulary", { $0[24] = 3 }, .outOfRange),
        ("NaN step", { $0[52...55] = [0, 0, 0xC0, 0x7F] }, .outOfRange),
        ("positive floor", { $0[56...59] = [0, 0, 0x80, 0x3F] }, .outOfRange),
    ]

    @Test(arguments: corruptions.indices)
    func corruptFilesAreRefusedWithTheirKind(_ i: Int) throws {
        let (name, corrupt, kind) = Self.corruptions[i]
        var bytes = Self.valid()
        corrupt(&bytes)
        let path = try Self.write(bytes)
        defer { try? FileSystem.remove(path) }
        let error = try #require(throws: InputError.self, "\(name)") { try LogitsFile(path: path) }
        #expect(error.kind == kind, "\(name): \(error)")
        #expect(error.file == path)
    }
}
