import Foundation
import Testing

/// Chat through the real binary: `generate --chat`, and the chat template `convert` writes.
@Suite struct ChatCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    @Test func scriptedDialogAnswersEveryMessage() throws {
        let result = try Self.run([
            "generate", "fixtures/demo", "--chat", "--system", "Tell stories.", "--message", "Anna", "--message", "Ben", "-n", "4",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("user: Anna\nassistant: ") && result.stdout.contains("\n\nuser: Ben\nassistant: "))
        #expect(result.stderr.split(separator: "\n").count == 2 && result.stderr.contains("prompt tokens, 4 tokens at"))
        let json = try Self.run(["generate", "fixtures/demo", "--chat", "--message", "Anna", "-n", "3", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let turns = try #require(object["turns"] as? [[String: Any]])
        #expect(turns.count == 1 && (turns[0]["ids"] as? [Int])?.count == 3 && turns[0]["interrupted"] as? Bool == false)
    }

    @Test(arguments: [
        (#"[{"role": "robot", "content": "x"}]"#, "message 1 has the role 'robot': expected one of system, user, assistant, tool"),
        (#"[{"role": "user"}]"#, "message 1: expected {\"role\": string, \"content\": string}"),
        (#"{"role": "user", "content": "x"}"#, "a dialog is a JSON array"),
        (#"[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]"#, "must end with a user message"),
    ])
    func badDialogsExitTwo(_ dialog: String, _ message: String) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/dialog.json"
        try dialog.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Self.run(["generate", "fixtures/demo", "--chat", "--dialog", path, "-n", "2"])
        #expect(result.status == 2 && result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func convertWritesTheTemplateAndEndOfTurnForInstructModels() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let instruct = directory + "/Demo-Instruct"
        try FileManager.default.copyItem(atPath: "fixtures/demo", toPath: instruct)
        let converted = try Self.run(["convert", instruct, "-o", directory + "/i.gguf", "--type", "q8_0"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stdout.contains("instruct model (from the directory name), chat template llama3, eos = <|eot_id|>"))
        let keys = try Self.run(["inspect", directory + "/i.gguf", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(keys.stdout.utf8)) as? [String: Any])
        let metadata = try #require(object["metadata"] as? [String: Any])
        // The demo tokenizer's <|eot_id|> is 456; its <|end_of_text|> 448.
        #expect(metadata["tokenizer.ggml.eos_token_id"] as? Int == 456)
        #expect((metadata["tokenizer.chat_template"] as? String)?.contains("ipython") == true)
        let base = try Self.run(["convert", "fixtures/demo", "-o", directory + "/b.gguf", "--type", "q8_0", "--json"])
        #expect(!base.stdout.contains("chat template"))
        let none = try Self.run(["convert", instruct, "-o", directory + "/n.gguf", "--chat-template", "none"])
        #expect(none.status == 0 && !none.stdout.contains("chat template"))
        try "".write(toFile: directory + "/empty.jinja", atomically: true, encoding: .utf8)
        let empty = try Self.run(["convert", "fixtures/demo", "-o", directory + "/e.gguf", "--chat-template", directory + "/empty.jinja"])
        #expect(empty.status == 2 && empty.stderr.contains("the chat template file is empty"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/e.gguf"))
    }
}
