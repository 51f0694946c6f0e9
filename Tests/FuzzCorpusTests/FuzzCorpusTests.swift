import Foundation
import FuzzHarnesses
import Testing

/// Replays the minimised fuzzing corpora (`Fuzz/corpus/<harness>/`) through the same harnesses
/// libFuzzer ran: each input must return or throw `InputError` (anything else traps in the
/// harness, which fails the run).
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The inputs of one harness's corpus; a missing or unreadable folder throws, so it fails
    /// the test instead of replaying nothing.
    static func inputs(_ harness: Harness) throws -> [URL] {
        let directory = root.appendingPathComponent("corpus").appendingPathComponent(harness.rawValue)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil).sorted {
            $0.lastPathComponent < $1.lastPathComponent
        }
    }

    @Test(arguments: Harness.allCases)
    func corpusReplaysCleanly(_ harness: Harness) throws {
        let corpus = try Self.inputs(harness)
        // Fuzz/run keeps every corpus at tens to hundreds of inputs; a handful means a lost folder.
        #expect(corpus.count >= 10, "only \(corpus.count) corpus inputs for \(harness)")
        for input in corpus {
            harness.run(Array(try Data(contentsOf: input)))
        }
    }
}
