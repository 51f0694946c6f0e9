import Foundation
import GGUF
import LlamaTokenizers
import Testing

/// `llamakit edit` through the real binary, on `convert`'s Q8_0 file of the demo model.
@Suite struct EditCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    /// A directory holding `out.gguf`, the demo model in Q8_0 (the name the crash tests watch).
    static func model() throws -> (directory: String, path: String) {
        let directory = try ConvertCLITests.temporaryDirectory()
        let path = directory + "/out.gguf"
        let converted = try run(["convert", "fixtures/demo", "-o", path, "--type", "q8_0", "--no-sync"])
        #expect(converted.status == 0, "\(converted.stderr)")
        return (directory, path)
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// Everything after the header's padding.
    static func dataSection(_ path: String) throws -> Data { try bytes(path).dropFirst(try GGUFFile(path: path).dataOffset) }

    @Test(arguments: ChatTemplate.allCases)
    func chatTemplateByNameIsMetasTemplate(_ template: ChatTemplate) throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.run(["edit", path, "--chat-template", template.rawValue, "--no-sync"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.hasPrefix(
                "edited \(path) in place: 1 added; 31 tensors copied unchanged\n  tokenizer.chat_template  added  string \""))
        #expect(try GGUFFile(path: path).value("tokenizer.chat_template") == .string(template.text))
    }

    /// `none` removes the template, as `--remove tokenizer.chat_template` does (and like it, is
    /// refused when there is none).
    @Test func chatTemplateNoneRemovesIt() throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["edit", path, "--chat-template", "llama2"]).status == 0)
        let removed = try Self.run(["edit", path, "--chat-template", "none"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("\n  tokenizer.chat_template  removed  was string \"{% if messages[0]['role'] == 'system' %}"))
        #expect(try GGUFFile(path: path).value("tokenizer.chat_template") == nil)
        let again = try Self.run(["edit", path, "--chat-template", "none"])
        #expect(again.status == 2)
        #expect(again.stderr.hasSuffix("key 'tokenizer.chat_template': is not in the file: nothing to remove\n"))
    }

    @Test func chatTemplateFromAUTF8File() throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = "{{ bos_token }}{% for m in messages %}« {{ m['content'] }} »\n{% endfor %}"
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/t.jinja"))
        let result = try Self.run(["edit", path, "--chat-template", directory + "/t.jinja", "-o", directory + "/chat.gguf"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try GGUFFile(path: directory + "/chat.gguf").value("tokenizer.chat_template") == .string(text))
        #expect(try GGUFFile(path: path).value("tokenizer.chat_template") == nil)
    }

    /// A template file that is empty or not UTF-8: exit 2, one line, the model untouched.
    @Test(arguments: [
        ([UInt8](), "t.jinja: the chat template file is empty"), ([0x7B, 0x7B, 0xFF, 0x7D], "t.jinja: byte 2: not UTF-8 text"),
    ])
    func aBadTemplateFileIsRefused(_ content: [UInt8], _ message: String) throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(content).write(to: URL(fileURLWithPath: directory + "/t.jinja"))
        let before = try Self.bytes(path)
        let result = try Self.run(["edit", path, "--chat-template", directory + "/t.jinja"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "error: \(directory)/\(message)\n")
        #expect(try Self.bytes(path) == before)
    }

    /// Edited in place and into another file, the tensors' bytes are the original's, at the same
    /// offsets within the data section.
    @Test(arguments: [false, true])
    func tensorDataIsUnchanged(_ inPlace: Bool) throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try Self.dataSection(path)
        let beforeOffset = try GGUFFile(path: path).dataOffset
        let output = inPlace ? path : directory + "/edited.gguf"
        let result = try Self.run(
            ["edit", path, "--set", "general.name=a longer name than before", "--chat-template", "llama3", "--remove", "general.type"]
                + (inPlace ? [] : ["-o", output]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try GGUFFile(path: output).dataOffset != beforeOffset)
        #expect(try Self.dataSection(output) == before)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
                == (inPlace ? ["out.gguf"] : ["edited.gguf", "out.gguf"]))
    }

    @Test func reportAndJSONNameEveryChange() throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try Self.run([
            "edit", path, "--set", "llama.context_length=4096", "--set", "general.tags:array[string]=[\"llama\", \"chat\"]", "--remove",
            "general.type", "--set", "general.name=demo",
        ])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(
            text.stdout == """
                edited \(path) in place: 1 changed, 1 added, 1 removed, 1 unchanged; 31 tensors copied unchanged
                  llama.context_length  changed    u32 131072 → 4096
                  general.tags          added      [string × 2] "llama", "chat"
                  general.name          unchanged  string "demo"
                  general.type          removed    was string "model"

                """)
        let json = try Self.run(["edit", path, "--set", "tokenizer.ggml.eot_token_id:i32=9", "--json", "-o", directory + "/j.gguf"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["in_place"] as? Bool == false)
        #expect(object["tensors"] as? Int == 31)
        let change = try #require((object["changes"] as? [[String: Any]])?.first)
        #expect(change["key"] as? String == "tokenizer.ggml.eot_token_id")
        #expect(change["action"] as? String == "changed")
        #expect(change["old_type"] as? String == "u32")
        #expect(change["new_type"] as? String == "i32")
        #expect(change["new_value"] as? Int == 9)
    }

    /// Bad input: exit 2, nothing on stdout, one line on stderr, the file and its directory as
    /// they were.
    static let badEdits: [(arguments: [String], message: String)] = [
        (
            ["--set", "llama.context_length=-1"],
            "key 'llama.context_length': value '-1' does not parse as u32 (expected an integer from 0 to 4294967295)"
        ),
        (
            ["--set", "llama.rope.freq_base=1e39"],
            "key 'llama.rope.freq_base': value '1e39' does not parse as f32 (expected a finite number"
        ),
        (["--set", "tokenizer.ggml.add_bos_token=yes"], "value 'yes' does not parse as bool (expected true or false)"),
        (
            ["--set", "x.ids:array[u8]=[1, 300]"],
            "key 'x.ids': value '[1, 300]' does not parse as array[u8] (expected element 1 to be an integer from 0 to 255, found 300)"
        ),
        (
            ["--set", "general.alignment=64"],
            "key 'general.alignment': it sets where every tensor starts in the data section, so changing it makes the file inconsistent; pass --force to change it anyway"
        ),
        (["--set", "llama.block_count=4"], "key 'llama.block_count': it fixes the count or shapes of the tensors"),
        (["--remove", "split.count"], "key 'split.count': is not in the file: nothing to remove"),
        (["--set", "x.new=1"], "key 'x.new': is not in the file, so its type must be given"),
        (["--chat-template", "no-such-template"], "error: no-such-template: cannot open: No such file or directory"),
        (
            ["--set", "general.name=a", "--chat-template", "llama3", "--set", "tokenizer.chat_template=x"],
            "key 'tokenizer.chat_template': is given more than once"
        ),
    ]

    @Test(arguments: badEdits)
    func badEditsExitTwoAndLeaveTheFile(_ row: (arguments: [String], message: String)) throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try Self.bytes(path)
        let result = try Self.run(["edit", path] + row.arguments)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(row.message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(try Self.bytes(path) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.gguf"])
    }

    @Test(arguments: [
        ([String](), "Error: nothing to change: give --set KEY=VALUE, --remove KEY or --chat-template FILE|NAME|none"),
        (["--set", "a=1", "--set", "b=2", "--type", "u8"], "Error: --type gives the type of a single --set without its own"),
        (["--set", "a"], "Error: The value 'a' is invalid for '--set <KEY[:TYPE]=VALUE>'"),
        (["--set", "a=1", "--type", "array[array[u8]]"], "Error: The value 'array[array[u8]]' is invalid for '--type <TYPE>'"),
    ])
    func usageErrorsExitTwo(_ arguments: [String], _ message: String) throws {
        let result = try Self.run(["edit", "fixtures/gguf/every-type.gguf"] + arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix(message), "\(result.stderr)")
    }

    /// Killed mid-write (SIGKILL, or ^C), an edit in place leaves the original file whole; the
    /// next edit of it removes the killed run's temporary file.
    @Test(arguments: [SIGKILL, SIGINT])
    func aKilledEditInPlaceLeavesTheOriginal(_ signal: Int32) throws {
        let (directory, path) = try Self.model()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try Self.bytes(path)
        let (process, partial) = try CrashSafetyCLITests.startPaused(["edit", path, "--set", "general.name=killed"], directory: directory)
        #expect(try CrashSafetyCLITests.files(directory) == [partial, "out.gguf"])
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(try Self.bytes(path) == before)
        #expect(try CrashSafetyCLITests.files(directory) == (signal == SIGKILL ? [partial, "out.gguf"] : ["out.gguf"]))
        if signal == SIGINT { #expect(process.terminationStatus == 130) }
        let again = try Self.run(["edit", path, "--set", "general.name=edited"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try CrashSafetyCLITests.files(directory) == ["out.gguf"])
        #expect(try GGUFFile(path: path).value("general.name") == .string("edited"))
    }
}
