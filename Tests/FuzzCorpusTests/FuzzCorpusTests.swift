import Foundation
import FuzzHarnesses
import Testing

/// Replays the minimised fuzzing corpora (`Fuzz/corpus/<harness>/`, and every crash found,
/// `Fuzz/regressions/<harness>/`) through the same harnesses libFuzzer ran: each input must
/// return or throw `InputError`.
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ harness: Harness, _ folder: String) -> [URL] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(harness.rawValue)
        return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []).sorted {
            $0.lastPathComponent < $1.lastPathComponent
        }
    }

    @Test(arguments: Harness.allCases)
    func corpusReplaysCleanly(_ harness: Harness) throws {
        let corpus = Self.inputs(harness, "corpus")
        #expect(!corpus.isEmpty, "no corpus for \(harness)")
        for input in corpus + Self.inputs(harness, "regressions") {
            harness.run(Array(try Data(contentsOf: input)))
        }
    }
}
