import ArgumentParser
import Conversion
import GGUF

struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Set, add or remove GGUF metadata keys (a chat template, token ids, a name) without reconverting.",
        discussion: """
            Rewrites the file with the keys changed and every tensor copied byte for byte by the kernel to the same place in the data section. Without -o the file is edited in place: the new file is written beside it and renamed over it only when complete, so an interrupted edit leaves the original whole.

            --set KEY=VALUE keeps an existing key's type; --set KEY:TYPE=VALUE (or --type TYPE with a single --set) gives the type, and a key the file lacks needs one. Types: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool string, and array[T] for any of those. Strings are taken as written; numbers are decimal and must fit the type; bools are true or false; arrays are JSON arrays, e.g. '[1, 2, 3]' or '["a", "b"]'.

            Keys that must agree with the tensors or the file's layout are refused unless --force: general.alignment, general.architecture, split.*, the architecture's block_count, embedding_length, feed_forward_length, attention.head_count(_kv), attention.key_length/value_length, rope.dimension_count, vocab_size, expert_count, and a change in the length of tokenizer.ggml.tokens, .scores or .token_type. Removing a key the file lacks is an error, as is a key given twice.

            Examples:
              llamakit edit model.gguf --chat-template llama3
              llamakit edit model.gguf --chat-template my-template.jinja -o chat.gguf
              llamakit edit model.gguf --chat-template none
              llamakit edit model.gguf --set general.name="Llama 3.1 8B Instruct"
              llamakit edit model.gguf --set llama.context_length=8192 --remove general.url
              llamakit edit model.gguf --set tokenizer.ggml.eot_token_id:u32=128009
              llamakit edit model.gguf --set general.tags='["llama", "chat"]' --type 'array[string]'
              llamakit edit model.gguf --set general.alignment=64 --force --json
            """
    )

    @Argument(help: "The GGUF file to edit.")
    var input: String

    @Option(name: .shortAndLong, help: "Write the edited file here instead of editing in place.")
    var output: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Set a key (repeatable); TYPE is needed for a new key or to change a key's type.", valueName: "KEY[:TYPE]=VALUE")
    )
    var assignments: [Assignment] = []

    @Option(help: ArgumentHelp("The type of the one --set value: u8 … f64, bool, string or array[T].", valueName: "TYPE"))
    var type: GGUFTypeSpec?

    @Option(name: .customLong("remove"), help: ArgumentHelp("Remove a key (repeatable).", valueName: "KEY"))
    var removals: [String] = []

    @Option(
        help: ArgumentHelp(
            "Set tokenizer.chat_template to Meta's template (llama3, llama2) or a UTF-8 file's text; none removes it.",
            valueName: "FILE|NAME|none"))
    var chatTemplate: String?

    @Flag(help: "Change keys the tensors or the layout depend on (general.alignment, split.*, …) anyway.")
    var force = false

    @Flag(help: "Skip the fsync before the final rename: faster, but after a power cut (not a crash) the file may be empty.")
    var noSync = false

    @Flag(help: "Print the changes as JSON.")
    var json = false

    static let chatTemplateKey = "tokenizer.chat_template"

    func validate() throws {
        if assignments.isEmpty && removals.isEmpty && chatTemplate == nil {
            throw ValidationError("nothing to change: give --set KEY=VALUE, --remove KEY or --chat-template FILE|NAME|none")
        }
        if type != nil && (assignments.count != 1 || assignments[0].type != nil) {
            throw ValidationError("--type gives the type of a single --set without its own; with several, write --set KEY:TYPE=VALUE")
        }
    }

    func run() throws {
        try reportingErrors {
            let outcome = try GGUFEditor.edit(input, try edits(), output: output, force: force, sync: !noSync) { index, _, _ in
                Failpoint.pauseAfterFirstTensor(index)
            }
            print(json ? Self.json(outcome, input: input).rendered() : Self.report(outcome))
        }
    }

    /// The command line's edits in order: --set, --chat-template, --remove.
    private func edits() throws -> [GGUFEditor.Edit] {
        var edits = assignments.map { GGUFEditor.Edit.set(key: $0.key, text: $0.value, type: $0.type ?? type) }
        // As `convert --chat-template` reads it: a name, `none`, or a file (`./llama3` for one so named).
        if let chatTemplate {
            if let text = try ChatSetup.Choice(chatTemplate).text() {
                edits.append(.set(key: Self.chatTemplateKey, text: text, type: .scalar(.string)))
            } else {
                edits.append(.remove(key: Self.chatTemplateKey))
            }
        }
        return edits + removals.map { .remove(key: $0) }
    }
}

extension EditCommand {
    /// `KEY=VALUE` or `KEY:TYPE=VALUE` (the type when the text after the key's last `:` names one).
    struct Assignment: ExpressibleByArgument {
        var key: String
        var type: GGUFTypeSpec?
        var value: String

        init?(argument: String) {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
            var key = String(argument[..<equals])
            value = String(argument[argument.index(after: equals)...])
            if let colon = key.lastIndex(of: ":"), let type = GGUFTypeSpec(name: String(key[key.index(after: colon)...])) {
                self.type = type
                key = String(key[..<colon])
            }
            guard !key.isEmpty else { return nil }
            self.key = key
        }
    }

    static func typeName(_ value: GGUFValue) -> String { value.typeSpec.description }

    /// `u32 8192`; an array's description names its element type already (`[i32 × 3] 1, 2, 3`).
    static func shown(_ value: GGUFValue) -> String {
        let described = GGUFReport.describe(value, limit: 6)
        return value.type == .array ? described : "\(typeName(value)) \(described)"
    }

    /// What happened to one key: added, removed, changed or unchanged.
    static func action(_ change: GGUFEditor.Change) -> String {
        switch (change.old, change.new) {
        case (nil, _): return "added"
        case (_, nil): return "removed"
        case (let old, let new) where old == new: return "unchanged"
        default: return "changed"
        }
    }

    /// The values around the change: `u32 8192 → 4096`, `string "…"`, `was bool true`.
    static func detail(_ change: GGUFEditor.Change) -> String {
        guard let old = change.old else { return shown(change.new!) }
        guard let new = change.new else { return "was " + shown(old) }
        if old == new { return shown(new) }
        return "\(shown(old)) → " + (old.typeSpec == new.typeSpec ? GGUFReport.describe(new, limit: 6) : shown(new))
    }

    static func report(_ outcome: GGUFEditor.Outcome) -> String {
        let actions = outcome.changes.map(action)
        let counts = ["changed", "added", "removed", "unchanged"].compactMap { word -> String? in
            let count = actions.filter { $0 == word }.count
            return count > 0 ? "\(count) \(word)" : nil
        }
        let place = outcome.inPlace ? "edited \(outcome.output) in place" : "wrote \(outcome.output)"
        let rows = outcome.changes.map { [$0.key, action($0), detail($0)] }
        return "\(place): \(counts.joined(separator: ", ")); \(outcome.tensorCount) tensors copied unchanged\n"
            + Formatting.columns(rows, indent: "  ")
    }

    static func json(_ outcome: GGUFEditor.Outcome, input: String) -> JSONOutput {
        .object([
            ("input", .string(input)), ("output", .string(outcome.output)), ("in_place", .bool(outcome.inPlace)),
            ("tensors", .int(outcome.tensorCount)),
            (
                "changes",
                .array(
                    outcome.changes.map { change in
                        .object([
                            ("key", .string(change.key)), ("action", .string(action(change))),
                            ("old_type", .optional(change.old.map { .string(typeName($0)) })),
                            ("old_value", .optional(change.old.map(GGUFReport.json))),
                            ("new_type", .optional(change.new.map { .string(typeName($0)) })),
                            ("new_value", .optional(change.new.map(GGUFReport.json))),
                        ])
                    })
            ),
        ])
    }
}

/// `--type u32`, `--type array[i32]`.
extension GGUFTypeSpec: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }

    public static var allValueStrings: [String] { spellings }
}
