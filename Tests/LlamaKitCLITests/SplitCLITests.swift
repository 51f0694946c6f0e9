import Foundation
import GGUF
import Testing

/// Split GGUF through the real binary: written by `convert`/`quantize`, read by every command
/// given the first file, refused whole when incomplete or mixed.
@Suite struct SplitCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// `convert --split-max-tensors 10` of demo (31 tensors): 4 files named as llama.cpp names
    /// them, every tensor's bytes those of the unsplit file, and `inspect`, `verify`, `diff`
    /// and `quantize` read the set given its first file.
    @Test func aConvertedSetIsReadByEveryCommandAsTheUnsplitFile() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/whole.gguf", "--type", "q8_0"]).status == 0)
        let wrote = try Self.run(["convert", "fixtures/demo", "-o", directory + "/m.gguf", "--type", "q8_0", "--split-max-tensors", "10"])
        #expect(wrote.status == 0, "\(wrote.stderr)")
        let names = (1...4).map { "m-0000\($0)-of-00004.gguf" }
        for name in names { #expect(wrote.stdout.contains(directory + "/" + name)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == names + ["whole.gguf"])
        let first = directory + "/" + names[0]
        let whole = try GGUFSplitSet(path: directory + "/whole.gguf")
        let set = try GGUFSplitSet(path: first)
        #expect(set.tensors.map(\.name) == whole.tensors.map(\.name))
        for tensor in whole.tensors {
            #expect(try set.withBytes(of: tensor.name) { Data($0) } == whole.withBytes(of: tensor.name) { Data($0) }, "\(tensor.name)")
        }
        let inspect = try Self.run(["inspect", first])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.hasPrefix("\(first): GGUF v3 split set of 4 files, "))
        #expect(inspect.stdout.contains("  4. \(directory)/\(names[3]): 1 tensors"))
        let json = try Self.run(["inspect", first, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["files"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == names.map { directory + "/" + $0 })
        #expect((object["tensors"] as? [[String: Any]])?.count == 31)
        let verify = try Self.run(["verify", first, "--reference", "fixtures/demo/reference/reference.pth"])
        #expect(verify.status == 0 && verify.stdout.hasSuffix("PASS\n"), "\(verify.stdout)\(verify.stderr)")
        let diff = try Self.run(["diff", directory + "/whole.gguf", first])
        #expect(diff.status == 0 && diff.stdout.hasSuffix("MATCH\n"), "\(diff.stdout)\(diff.stderr)")
    }

    /// `quantize` from a split set to a split set by size gives the bytes of quantizing the
    /// unsplit file, cut as llama-gguf-split cuts it.
    @Test func quantizeReadsAndWritesSets() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/whole.gguf"]).status == 0)
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/in.gguf", "--split-max-tensors", "7"]).status == 0)
        #expect(try Self.run(["quantize", directory + "/whole.gguf", directory + "/q.gguf", "--type", "q8_0"]).status == 0)
        let quantized = try Self.run([
            "quantize", directory + "/in-00001-of-00005.gguf", directory + "/out.gguf", "--type", "q8_0", "--split-max-size", "200K",
        ])
        #expect(quantized.status == 0, "\(quantized.stderr)")
        let out = try GGUFSplitSet(path: directory + "/out-00001-of-00004.gguf")
        let single = try GGUFSplitSet(path: directory + "/q.gguf")
        #expect(out.metadata.map(\.key) == single.metadata.map(\.key))
        for tensor in single.tensors {
            #expect(try out.withBytes(of: tensor.name) { Data($0) } == single.withBytes(of: tensor.name) { Data($0) }, "\(tensor.name)")
        }
    }

    /// Bad sets: exit 2, one message naming the file, no output written.
    @Test(arguments: [
        ("a member missing", "m-00003-of-00004.gguf", "m-00001-of-00004.gguf", "is missing"),
        ("a later member given", "m-00002-of-00004.gguf", "m-00002-of-00004.gguf", "give its first file"),
    ])
    func aBadSetIsRefusedBeforeAnyWrite(_ row: (name: String, spoiled: String, given: String, says: String)) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/m.gguf", "--split-max-tensors", "10"]).status == 0)
        if row.says == "is missing" { try FileManager.default.removeItem(atPath: directory + "/" + row.spoiled) }
        let before = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        for command in [["inspect"], ["verify"], ["quantize"]] {
            var arguments = command + [directory + "/" + row.given]
            if command == ["quantize"] { arguments += [directory + "/out.gguf", "--type", "q8_0"] }
            if command == ["verify"] { arguments += ["--reference", "fixtures/demo/reference/reference.pth"] }
            let result = try Self.run(arguments)
            #expect(result.status == 2, "\(command)")
            #expect(result.stderr.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(directory + "/" + row.spoiled) && result.stderr.contains(row.says), "\(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == before)
    }

    @Test func theTwoLimitsAreExclusive() throws {
        let result = try Self.run(["convert", "fixtures/demo", "-o", "/tmp/x.gguf", "--split-max-size", "1G", "--split-max-tensors", "3"])
        #expect(result.status != 0 && result.stderr.contains("not both"))
    }
}
