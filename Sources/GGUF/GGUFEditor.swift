import BinaryIO
import TensorCore

/// Metadata edits of a GGUF file (`llamakit edit`): keys set, added or removed, the tensors
/// copied byte for byte by the kernel to the same offsets within the data section, and the
/// whole file written through `GGUFWriter` into a temporary file renamed over the target only
/// when complete, so an edit in place is atomic.
public enum GGUFEditor {
    public enum Edit: Sendable, Equatable {
        /// `text` read as `type` (`GGUFValue(parsing:as:key:)`), or as the key's current type when
        /// `type` is nil; a key the file lacks needs a type.
        case set(key: String, text: String, type: GGUFTypeSpec?)
        case remove(key: String)

        public var key: String {
            switch self {
            case .set(let key, _, _), .remove(let key): return key
            }
        }
    }

    /// One key's edit: `old` nil when it is added, `new` nil when it is removed.
    public struct Change: Sendable, Equatable {
        public var key: String
        public var old: GGUFValue?
        public var new: GGUFValue?
    }

    public struct Outcome: Sendable {
        public var changes: [Change]
        public var tensorCount: Int
        /// The file written, as given (the input when editing in place).
        public var output: String
        public var inPlace: Bool
    }

    /// Edits `path`, in place or into `output`.
    /// - Throws: `InputError` for a file that does not parse, an edit that cannot apply (a
    ///   missing key, a value that does not parse as its type, a key given twice) or — without
    ///   `force` — one that would make the file inconsistent (`refusal(of:architecture:)`); the
    ///   files are then left as they were.
    /// - Parameters:
    ///   - sync: fsync before the rename (see `AtomicOutputFile.commit`).
    ///   - progress: called before each tensor is copied with its index, the count and its name.
    public static func edit(
        _ path: String, _ edits: [Edit], output: String? = nil, force: Bool = false, sync: Bool = true,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> Outcome {
        let reader = try FileReader(path: path)
        let file = try GGUFFile(reading: reader)
        let changes = try attributing(to: path) { try plan(edits, for: file, force: force) }
        let inPlace = output.map { FileSystem.resolvingLinks($0) == FileSystem.resolvingLinks(path) } ?? true
        // In place, the file a link names is replaced (not the link), keeping its permissions.
        let target = inPlace ? FileSystem.resolvingLinks(path) : output!
        try write(
            file, from: reader, metadata: applying(changes, to: file.metadata), to: target, sync: sync,
            permissions: inPlace ? reader.permissions : nil, progress: progress)
        return Outcome(changes: changes, tensorCount: file.tensors.count, output: output ?? path, inPlace: inPlace)
    }

    /// What `edits` change in `file`, in the order given.
    /// - Throws: `InputError` at the key, as `edit` describes.
    public static func plan(_ edits: [Edit], for file: GGUFFile, force: Bool) throws -> [Change] {
        try checkKeys(edits)
        let architecture = file.value("general.architecture").flatMap { if case .string(let name) = $0 { name } else { nil } }
        return try edits.map { edit in
            let change = try self.change(edit, old: file.value(edit.key))
            try check(change, architecture: architecture, force: force)
            return change
        }
    }

    /// Every key named, and once: two edits of one key contradict each other.
    private static func checkKeys(_ edits: [Edit]) throws {
        var seen: Set<String> = []
        for edit in edits {
            guard !edit.key.isEmpty else { throw InputError(.malformed, "a metadata key cannot be empty") }
            guard seen.insert(edit.key).inserted else {
                throw InputError(.mismatch, "is given more than once (one change per key)", at: .key(edit.key))
            }
        }
    }

    private static func change(_ edit: Edit, old: GGUFValue?) throws -> Change {
        switch edit {
        case .remove(let key):
            guard old != nil else { throw InputError(.missing, "is not in the file: nothing to remove", at: .key(key)) }
            return Change(key: key, old: old, new: nil)
        case .set(let key, let text, let type):
            guard let type = type ?? old?.typeSpec ?? specifiedTypes[key] else {
                throw InputError(
                    .missing,
                    "is not in the file, so its type must be given (--type T or --set KEY:TYPE=VALUE; T is one of "
                        + GGUFTypeSpec.spellings.joined(separator: ", ") + ")",
                    at: .key(key))
            }
            return Change(key: key, old: old, new: try GGUFValue(parsing: text, as: type, key: key))
        }
    }

    /// Refuses, without `force`, a change of a key the file's layout or tensors depend on, and,
    /// even with it, an alignment the file cannot be written with.
    private static func check(_ change: Change, architecture: String?, force: Bool) throws {
        guard change.old != change.new else { return }
        if change.key == "general.alignment", let new = change.new { _ = try GGUFHeaderParser.alignment(in: [(change.key, new)]) }
        if !force, let reason = refusal(of: change, architecture: architecture) {
            throw InputError(
                .notAllowed, "\(reason), so changing it makes the file inconsistent; pass --force to change it anyway",
                at: .key(change.key))
        }
    }

    /// Why `change` would leave the file inconsistent, or nil when it would not: the keys that fix
    /// where the tensors lie, how many there are and what shapes they have (`docs/commands.md`,
    /// "edit", lists them and why).
    public static func refusal(of change: Change, architecture: String?) -> String? {
        let key = change.key
        if key == "general.alignment" { return "it sets where every tensor starts in the data section" }
        if key == "general.architecture" { return "it names the architecture whose keys and tensors loaders expect" }
        if key.hasPrefix("split.") { return "it describes how a model is split across files and how many tensors the set holds" }
        if let architecture, key.hasPrefix(architecture + "."), shapeKeys.contains(String(key.dropFirst(architecture.count + 1))) {
            return "it fixes the count or shapes of the tensors"
        }
        if vocabularyKeys.contains(key), elementCount(change.old) != elementCount(change.new) {
            return "its length is the vocabulary size, the row count of token_embd and output"
        }
        return nil
    }

    /// Keys whose type the GGUF specification (alignment) and gguf-py's split writer fix, for a
    /// `set` of one the file lacks.
    static let specifiedTypes: [String: GGUFTypeSpec] = [
        "general.alignment": .scalar(.u32), "split.no": .scalar(.u16), "split.count": .scalar(.u16),
        "split.tensors.count": .scalar(.i32),
    ]

    /// `ARCH.` keys llama.cpp checks against the tensors it loads.
    public static let shapeKeys: Set<String> = [
        "block_count", "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv",
        "attention.key_length", "attention.value_length", "rope.dimension_count", "vocab_size", "expert_count",
    ]

    /// Per-token arrays: their elements may change, their length may not.
    public static let vocabularyKeys: Set<String> = ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"]

    private static func elementCount(_ value: GGUFValue?) -> Int? {
        if case .array(_, let items)? = value { return items.count }
        return nil
    }

    /// `metadata` with `changes` applied: changed keys keep their places, removed ones go, added
    /// ones follow in the order given.
    public static func applying(_ changes: [Change], to metadata: [(key: String, value: GGUFValue)]) -> [(key: String, value: GGUFValue)] {
        let byKey = Dictionary(uniqueKeysWithValues: changes.map { ($0.key, $0) })
        var out = metadata.compactMap { entry in byKey[entry.key].map { $0.new.map { (entry.key, $0) } } ?? entry }
        for change in changes where change.old == nil { out.append((change.key, change.new!)) }
        return out
    }

    /// Writes `metadata` and `file`'s tensors to `path`, each tensor copied from `reader` by the
    /// kernel. With the file's own alignment every tensor keeps its offset in the data section;
    /// a forced new alignment lays them out again.
    private static func write(
        _ file: GGUFFile, from reader: FileReader, metadata: [(key: String, value: GGUFValue)], to path: String, sync: Bool,
        permissions: UInt32?, progress: ((Int, Int, String) -> Void)?
    ) throws {
        var writer = GGUFWriter(alignment: try GGUFHeaderParser.alignment(in: metadata))
        for (key, value) in metadata { writer.add(key, value) }
        for tensor in file.tensors { try writer.addTensor(name: tensor.name, shape: tensor.shape, type: tensor.type) }
        try writer.write(to: path, sync: sync, permissions: permissions) { index, sink in
            let tensor = file.tensors[index]
            progress?(index, file.tensors.count, tensor.name)
            try sink.copy(StoredRange(file: reader, offset: file.dataOffset + tensor.offset, count: tensor.byteCount))
        }
    }
}
