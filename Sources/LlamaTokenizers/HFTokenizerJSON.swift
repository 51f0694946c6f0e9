import BinaryIO

/// Hugging Face `tokenizer.json` (with the `tokenizer_config.json` beside it) for the two Llama
/// layouts, read into the same tokenizers as Meta's files and written as transformers'
/// converters write them (`docs/formats.md` §5.9).
///
/// Reading accepts exactly the layouts that encode like Meta's tokenizer and refuses the rest,
/// naming the key: Llama 3 (byte-level BPE whose vocabulary order is tiktoken's rank order, the
/// Llama 3 split pattern, the 256 specials as added tokens) becomes a `Llama3Tokenizer`; Llama 1/2
/// (transformers' LlamaConverter: BPE with byte fallback, a `▁` normaliser or a non-splitting
/// Metaspace pre-tokenizer) becomes a `SentencePieceTokenizer` whose scores are derived from the
/// merge order.
public enum HFTokenizerJSON {
    public static let maxFileBytes = 64 << 20
    public static let maxConfigBytes = 16 << 20

    /// Meta's Llama 3 split pattern as tokenizer.json spells it (`docs/formats.md` §5.2).
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Which of the accepted layouts a file has.
    public enum Layout: String, Sendable {
        /// Byte-level BPE, Split(Llama 3 pattern) + ByteLevel: a `Llama3Tokenizer`.
        case llama3
        /// LlamaConverter's legacy layout: normaliser Prepend("▁") + Replace(" ", "▁").
        case sentencePieceNormalizer
        /// transformers 5's layout: no normaliser, Metaspace("▁", split false).
        case sentencePieceMetaspace
    }

    /// What a tokenizer.json and its config hold.
    public struct Contents: Sendable {
        public var tokenizer: any Tokenizer
        public var layout: Layout
        /// BOS and EOS as the config names them (else the post-processor's or the family's).
        public var bosToken: String
        public var bosID: Int
        public var eosToken: String
        public var eosID: Int
        /// Whether the post-processor adds BOS / EOS to a single sequence, as transformers'
        /// `encode` does by default.
        public var addsBOS: Bool
        public var addsEOS: Bool
        /// The config's `chat_template` (the `default` one of a list), if any.
        public var chatTemplate: String?
    }

    /// True when the first non-whitespace byte is `{`: a JSON object, not a `tokenizer.model`.
    public static func looksLikeJSON(_ head: some Collection<UInt8>) -> Bool {
        head.first { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) } == UInt8(ascii: "{")
    }

    /// Loads `directory/tokenizer.json` and, when present, `directory/tokenizer_config.json`.
    /// - Throws: `InputError` naming the file and key.
    public static func load(directory: String) throws -> Contents {
        try load(path: FileSystem.join(directory, "tokenizer.json"))
    }

    /// Loads a tokenizer.json and the `tokenizer_config.json` beside it when there is one.
    /// - Throws: `InputError` naming the file and key.
    public static func load(path: String) throws -> Contents {
        let json = try FileSystem.read(path, limit: maxFileBytes)
        let configPath = FileSystem.join(FileSystem.parent(of: path).isEmpty ? "." : FileSystem.parent(of: path), "tokenizer_config.json")
        var config: [UInt8]? = nil
        if FileSystem.kind(of: configPath) == .file {
            config = try FileSystem.read(configPath, limit: maxConfigBytes)
        }
        let parsedConfig = try attributing(to: configPath) { try config.map { try Config(parsing: $0) } }
        return try attributing(to: path) { try read(tokenizerJSON: json, config: parsedConfig) }
    }

    /// Reads tokenizer.json bytes, and the config's bytes when there are any.
    /// - Throws: `InputError` (.unsupported for a layout that is not Llama's, .malformed for bad
    ///   values, .mismatch for facts that disagree, .missing for absent keys) naming the key.
    public static func read(tokenizerJSON: [UInt8], config: [UInt8]? = nil) throws -> Contents {
        try read(tokenizerJSON: tokenizerJSON, config: try config.map { try Config(parsing: $0) })
    }

    static func read(tokenizerJSON: [UInt8], config: Config?) throws -> Contents {
        guard tokenizerJSON.count <= maxFileBytes else {
            throw InputError(.overLimit, "tokenizer.json of \(tokenizerJSON.count) bytes exceeds the cap of \(maxFileBytes)")
        }
        guard case .object(let root) = try JSONParser.parse(tokenizerJSON) else {
            throw InputError(.malformed, "tokenizer.json is not a JSON object")
        }
        guard root["model"] != nil else {
            // A JSON file of another kind (params.json, config.json) given as the tokenizer.
            throw InputError(.missing, "not a tokenizer.model or tokenizer.json: a JSON object without a 'model'", at: .key("model"))
        }
        let file = try Reader(root)
        let model = try file.object("model")
        let type = try model.string("type", in: "model")
        guard type == "BPE" else {
            throw InputError(
                .unsupported, "model type '\(type.prefix(40))' is not supported: Llama tokenizers are BPE", at: .key("model.type"))
        }
        try file.checkEmpty(model, "dropout", in: "model")
        try file.checkEmpty(model, "continuing_subword_prefix", in: "model")
        try file.checkEmpty(model, "end_of_word_suffix", in: "model")
        let vocabulary = try Vocabulary(model)
        let added = try AddedTokens(root, vocabulary: vocabulary.tokens)
        let post = try PostProcessor(root["post_processor"])
        try config?.check(against: vocabulary.tokens, added: added)
        if try model.optionalBool("byte_fallback", in: "model") ?? false {
            return try readSentencePiece(root, model: model, vocabulary: vocabulary, added: added, post: post, config: config)
        }
        return try readLlama3(root, model: model, vocabulary: vocabulary, added: added, post: post, config: config)
    }

    // MARK: - Llama 3

    private static func readLlama3(
        _ root: JSONObject, model: JSONObject, vocabulary: Vocabulary, added: AddedTokens, post: PostProcessor, config: Config?
    ) throws -> Contents {
        guard root["normalizer"] ?? .null == .null else {
            throw InputError(.unsupported, "a normaliser is not part of Llama 3's byte-level layout", at: .key("normalizer"))
        }
        try checkLlama3PreTokenizer(root["pre_tokenizer"] ?? .null)
        try checkDecoder(root["decoder"] ?? .null, allowed: ["ByteLevel"])
        guard try model.optionalBool("ignore_merges", in: "model") == true else {
            throw InputError(
                .unsupported,
                "ignore_merges must be true: Llama 3 (tiktoken) looks a whole piece up before merging", at: .key("model.ignore_merges"))
        }
        var rankBytes: [[UInt8]] = []
        rankBytes.reserveCapacity(vocabulary.tokens.count)
        for (id, token) in vocabulary.tokens.enumerated() {
            guard let bytes = ByteLevelText.bytes(token) else {
                throw InputError(.malformed, "token \(id) '\(token.prefix(40))' is not in GPT-2 byte-level form", at: .key("model.vocab"))
            }
            rankBytes.append(bytes)
        }
        let ranks = try located("model.vocab") { try TiktokenRanks(tokens: rankBytes) }
        try checkLlama3Merges(model["merges"], vocabulary: vocabulary, ranks: ranks)
        let count = ranks.count
        guard added.tokens.count == Llama3Tokenizer.SpecialTokenSet.count,
            added.tokens.enumerated().allSatisfy({ $1.id == count + $0 && $1.special })
        else {
            throw InputError(
                .mismatch,
                "expected the 256 Llama 3 special tokens as ids \(count)..<\(count + 256), found \(added.tokens.count) added tokens",
                at: .key("added_tokens"))
        }
        guard let set = Llama3Tokenizer.SpecialTokenSet(names: added.tokens.map(\.content)) else {
            throw InputError(
                .unsupported, "the added tokens' names are not those of Llama 3, 3.1 or 3.2 (docs/formats.md §5.4)",
                at: .key("added_tokens"))
        }
        let tokenizer = Llama3Tokenizer(ranks: ranks, specialTokens: set)
        let names = set.names
        func id(of name: String, _ key: String) throws -> Int {
            guard let index = names.firstIndex(of: name) else {
                throw InputError(.mismatch, "'\(name.prefix(60))' is not a special token", at: .key(key))
            }
            return count + index
        }
        let bos = config?.bosToken ?? post.bosToken ?? names[0]
        let eos = config?.eosToken ?? names[1]
        return Contents(
            tokenizer: tokenizer, layout: .llama3, bosToken: bos, bosID: try id(of: bos, "bos_token"), eosToken: eos,
            eosID: try id(of: eos, "eos_token"), addsBOS: post.bosToken != nil, addsEOS: post.eosToken != nil,
            chatTemplate: config?.chatTemplate)
    }

    private static func checkLlama3PreTokenizer(_ value: JSONValue) throws {
        let key = "pre_tokenizer"
        func unsupported(_ what: String) -> InputError {
            InputError(
                .unsupported, "\(what); Llama 3 needs Sequence[Split(Llama 3 pattern, Isolated), ByteLevel(no prefix space, no regex)]",
                at: .key(key))
        }
        guard case .object(let sequence) = value, sequence["type"]?.string == "Sequence",
            let steps = sequence["pretokenizers"]?.array, steps.count == 2,
            let split = steps[0].object, let byteLevel = steps[1].object
        else { throw unsupported("the pre-tokenizer is \(describe(value))") }
        guard split["type"]?.string == "Split" else { throw unsupported("the first pre-tokenizer is \(describe(steps[0]))") }
        guard let pattern = split["pattern"]?.object, let regex = pattern["Regex"]?.string else {
            throw unsupported("the split pattern is not a regex")
        }
        guard regex == llama3Pattern else {
            throw InputError(
                .mismatch, "the split regex '\(regex.prefix(80))' is not Llama 3's pattern",
                at: .key("pre_tokenizer.pretokenizers[0].pattern.Regex"))
        }
        guard split["behavior"]?.string == "Isolated", split["invert"]?.bool != true else {
            throw unsupported("the split behavior is not Isolated")
        }
        guard byteLevel["type"]?.string == "ByteLevel", byteLevel["add_prefix_space"]?.bool == false, byteLevel["use_regex"]?.bool == false
        else { throw unsupported("the second pre-tokenizer is \(describe(steps[1])) (a prefix space or GPT-2's regex changes tokens)") }
    }

    /// The merges must be exactly the splits TikTokenConverter derives from the ranks (every
    /// split of a token into two tokens), in non-decreasing rank of what they make: then the
    /// `tokenizers` library's merge order is tiktoken's rank order.
    private static func checkLlama3Merges(_ value: JSONValue?, vocabulary: Vocabulary, ranks: TiktokenRanks) throws {
        let key = "model.merges"
        guard case .array(let merges)? = value else { throw InputError(.missing, "expected an array of merges", at: .key(key)) }
        let expected = Llama3Merges.pairs(ranks)
        guard merges.count == expected.count else {
            throw InputError(
                .mismatch, "\(merges.count) merges, but the vocabulary's ranks give \(expected.count) (one per split of a token into two)",
                at: .key(key))
        }
        // Both lists run in non-decreasing rank of what they make; within one made rank the
        // file's order may differ, so each group is compared sorted.
        var group: [(left: Int, right: Int)] = []
        var groupStart = 0
        func closeGroup(at end: Int) throws {
            group.sort { ($0.left, $0.right) < ($1.left, $1.right) }
            for (offset, pair) in group.enumerated() where pair != (expected[groupStart + offset].left, expected[groupStart + offset].right)
            {
                throw InputError(
                    .mismatch,
                    "merges \(groupStart)..<\(end) are not the splits of token \(expected[groupStart].made) (or one appears twice)",
                    at: .key(key))
            }
            group.removeAll(keepingCapacity: true)
            groupStart = end
        }
        for (index, merge) in merges.enumerated() {
            let (leftText, rightText) = try mergePair(merge, index: index)
            guard let left = vocabulary.id(leftText), let right = vocabulary.id(rightText), let made = vocabulary.id(leftText, rightText)
            else {
                throw InputError(
                    .mismatch, "merge \(index) '\(leftText.prefix(30)) \(rightText.prefix(30))' is not a split of a token into two",
                    at: .key(key))
            }
            if made != expected[groupStart].made {
                guard made > expected[groupStart].made else {
                    throw InputError(
                        .mismatch,
                        "merge \(index) makes rank \(made) after a merge making rank \(expected[groupStart].made): merges are not in rank order",
                        at: .key(key))
                }
                try closeGroup(at: index)
            }
            guard groupStart + group.count < expected.count, expected[groupStart + group.count].made == made else {
                throw InputError(
                    .mismatch, "merge \(index) makes rank \(made), which the ranks do not have that many splits for", at: .key(key))
            }
            group.append((left, right))
        }
        try closeGroup(at: merges.count)
    }

    // MARK: - Llama 1/2

    private static func readSentencePiece(
        _ root: JSONObject, model: JSONObject, vocabulary: Vocabulary, added: AddedTokens, post: PostProcessor, config: Config?
    ) throws -> Contents {
        let layout = try sentencePieceLayout(root)
        try checkDecoder(root["decoder"] ?? .null, allowed: ["Replace", "ByteFallback", "Fuse", "Strip", "Metaspace"])
        guard try model.optionalBool("ignore_merges", in: "model") != true else {
            throw InputError(.unsupported, "ignore_merges must be false for sentencepiece BPE", at: .key("model.ignore_merges"))
        }
        let tokens = vocabulary.tokens
        let unkName = try model.string("unk_token", in: "model")
        guard let unkID = vocabulary.id(unkName) else {
            throw InputError(.mismatch, "unk_token '\(unkName.prefix(40))' is not in the vocabulary", at: .key("model.unk_token"))
        }
        var types = [SentencePieceModel.PieceType](repeating: .normal, count: tokens.count)
        for (id, token) in tokens.enumerated() where Self.isBytePiece(token) { types[id] = .byte }
        for token in added.tokens {
            guard token.id < tokens.count, tokens[token.id] == token.content else {
                throw InputError(
                    .mismatch, "added token \(token.id) '\(token.content.prefix(40))' is not that vocabulary entry",
                    at: .key("added_tokens"))
            }
            types[token.id] = token.special ? .control : .userDefined
        }
        types[unkID] = .unknown
        let scores = try sentencePieceScores(model["merges"], vocabulary: vocabulary, types: types)
        let bos = config?.bosToken ?? post.bosToken ?? "<s>"
        let eos = config?.eosToken ?? post.eosToken ?? "</s>"
        guard let bosID = vocabulary.id(bos) else {
            throw InputError(.mismatch, "bos_token '\(bos.prefix(40))' is not in the vocabulary", at: .key("bos_token"))
        }
        guard let eosID = vocabulary.id(eos) else {
            throw InputError(.mismatch, "eos_token '\(eos.prefix(40))' is not in the vocabulary", at: .key("eos_token"))
        }
        let pieces = tokens.indices.map { SentencePieceModel.Piece(bytes: Array(tokens[$0].utf8), score: scores[$0], type: types[$0]) }
        let spModel = try located("model.vocab") {
            try SentencePieceModel(llamaBPE: pieces, unkID: unkID, bosID: bosID, eosID: eosID, byteFallback: true)
        }
        let tokenizer = try located("model.vocab") { try SentencePieceTokenizer(model: spModel) }
        return Contents(
            tokenizer: tokenizer, layout: layout, bosToken: bos, bosID: bosID, eosToken: eos, eosID: eosID,
            addsBOS: post.bosToken != nil, addsEOS: post.eosToken != nil, chatTemplate: config?.chatTemplate)
    }

    static func isBytePiece(_ token: String) -> Bool {
        let utf8 = Array(token.utf8)
        return utf8.count == 6 && token.hasPrefix("<0x") && token.hasSuffix(">") && utf8[3...4].allSatisfy { isUpperHex($0) }
    }

    private static func isUpperHex(_ byte: UInt8) -> Bool { (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) }

    /// Prepend("▁") + Replace(" ", "▁") with no pre-tokenizer, or Metaspace("▁", first or always,
    /// no split) with no normaliser: both are sentencepiece's dummy prefix and escaping.
    private static func sentencePieceLayout(_ root: JSONObject) throws -> Layout {
        let normalizer = root["normalizer"] ?? .null
        let preTokenizer = root["pre_tokenizer"] ?? .null
        if normalizer == .null {
            guard case .object(let metaspace) = preTokenizer, metaspace["type"]?.string == "Metaspace" else {
                throw InputError(
                    .unsupported, "with no normaliser the pre-tokenizer must be Metaspace, found \(describe(preTokenizer))",
                    at: .key("pre_tokenizer"))
            }
            guard metaspace["replacement"]?.string == "\u{2581}", ["first", "always"].contains(metaspace["prepend_scheme"]?.string ?? ""),
                metaspace["split"]?.bool == false
            else {
                throw InputError(
                    .unsupported, "Metaspace must use '▁', prepend_scheme first or always, and split false (sentencepiece's dummy prefix)",
                    at: .key("pre_tokenizer"))
            }
            return .sentencePieceMetaspace
        }
        let expected: JSONValue = .object(
            JSONObject([
                ("type", .string("Sequence")),
                (
                    "normalizers",
                    .array([
                        .object(JSONObject([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))])),
                        .object(
                            JSONObject([
                                ("type", .string("Replace")), ("pattern", .object(JSONObject([("String", .string(" "))]))),
                                ("content", .string("\u{2581}")),
                            ])),
                    ])
                ),
            ]))
        guard normalizer == expected else {
            throw InputError(
                .unsupported,
                "the normaliser must be Sequence[Prepend(\"▁\"), Replace(\" \", \"▁\")] (LlamaConverter), found \(describe(normalizer))",
                at: .key("normalizer"))
        }
        guard preTokenizer == .null else {
            throw InputError(.unsupported, "a pre-tokenizer beside the ▁ normaliser changes tokens", at: .key("pre_tokenizer"))
        }
        return .sentencePieceNormalizer
    }

    /// Sentencepiece scores from the merge order: a piece made by merges scores minus the index of
    /// the first merge that makes it (LlamaConverter lists merges by descending score), so the
    /// highest-score-first rule merges in the file's order. Pieces no merge makes score below all.
    private static func sentencePieceScores(_ value: JSONValue?, vocabulary: Vocabulary, types: [SentencePieceModel.PieceType]) throws
        -> [Float]
    {
        let key = "model.merges"
        guard case .array(let merges)? = value else { throw InputError(.missing, "expected an array of merges", at: .key(key)) }
        let tokens = vocabulary.tokens
        var scores = [Float](repeating: .nan, count: tokens.count)
        for (index, merge) in merges.enumerated() {
            let (left, right) = try mergePair(merge, index: index)
            guard vocabulary.id(left) != nil, vocabulary.id(right) != nil, let made = vocabulary.id(left + right) else {
                throw InputError(
                    .mismatch, "merge \(index) '\(left.prefix(30)) \(right.prefix(30))' is not a split of a token into two", at: .key(key))
            }
            if scores[made].isNaN { scores[made] = -Float(index) }
        }
        // Sentencepiece merges any two symbols that make a normal piece; the file must list one
        // merge for every such piece, or the two would tokenize differently.
        for (id, token) in tokens.enumerated() where types[id] == .normal && scores[id].isNaN {
            let scalars = Array(token.unicodeScalars)
            for cut in scalars.indices.dropFirst() {
                let left = vocabulary.id(String(String.UnicodeScalarView(scalars[..<cut])))
                let right = vocabulary.id(String(String.UnicodeScalarView(scalars[cut...])))
                if let left, let right, types[left] == .normal, types[right] == .normal {
                    throw InputError(
                        .mismatch, "no merge makes '\(token.prefix(40))' (id \(id)), though sentencepiece would merge its parts",
                        at: .key(key))
                }
            }
        }
        let floor = -Float(merges.count)
        for id in scores.indices where scores[id].isNaN { scores[id] = types[id] == .normal ? floor - Float(id) : 0 }
        return scores
    }

    // MARK: - Shared parts

    /// A merge as `"left right"` (one space) or `["left", "right"]`.
    static func mergePair(_ merge: JSONValue, index: Int) throws -> (String, String) {
        switch merge {
        case .string(let text):
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw InputError(
                    .malformed, "merge \(index) '\(text.prefix(60))' is not two tokens separated by one space", at: .key("model.merges"))
            }
            return (String(parts[0]), String(parts[1]))
        case .array(let pair):
            guard pair.count == 2, let left = pair[0].string, let right = pair[1].string else {
                throw InputError(.malformed, "merge \(index) is not a pair of strings", at: .key("model.merges"))
            }
            return (left, right)
        default:
            throw InputError(.malformed, "merge \(index) is \(merge.kindName), expected a string or a pair", at: .key("model.merges"))
        }
    }

    private static func checkDecoder(_ value: JSONValue, allowed: Set<String>) throws {
        var steps: [JSONValue] = [value]
        if case .object(let object) = value, object["type"]?.string == "Sequence" { steps = object["decoders"]?.array ?? [] }
        for step in steps {
            guard let type = step.object?["type"]?.string, allowed.contains(type) else {
                throw InputError(
                    .unsupported, "decoder \(describe(step)) is not one of \(allowed.sorted().joined(separator: ", "))", at: .key("decoder")
                )
            }
        }
    }

    static func describe(_ value: JSONValue) -> String {
        if let type = value.object?["type"]?.string { return "'\(type.prefix(40))'" }
        return value.kindName
    }

    /// Runs `body`, placing an unlocated `InputError` at `key`.
    static func located<R>(_ key: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch var error as InputError {
            if error.location == .none { error.location = .key(key) }
            throw error
        }
    }
}

/// Member access with errors that name the key.
struct Reader {
    let root: JSONObject
    init(_ root: JSONObject) throws { self.root = root }

    func object(_ key: String) throws -> JSONObject {
        guard let value = root[key] else { throw InputError(.missing, "the key is missing", at: .key(key)) }
        guard case .object(let object) = value else {
            throw InputError(.malformed, "expected an object, found \(value.kindName)", at: .key(key))
        }
        return object
    }

    /// A key that must be absent, null or "" (dropout, subword prefixes: none in Llama files).
    func checkEmpty(_ object: JSONObject, _ key: String, in parent: String) throws {
        switch object[key] {
        case nil, .null?, .string("")?: return
        case let value?:
            throw InputError(.unsupported, "must be null for a Llama tokenizer, found \(value.kindName)", at: .key("\(parent).\(key)"))
        }
    }
}

extension JSONObject {
    func string(_ key: String, in parent: String) throws -> String {
        guard let value = self[key] else { throw InputError(.missing, "the key is missing", at: .key("\(parent).\(key)")) }
        guard let text = value.string else {
            throw InputError(.malformed, "expected a string, found \(value.kindName)", at: .key("\(parent).\(key)"))
        }
        return text
    }

    func optionalBool(_ key: String, in parent: String) throws -> Bool? {
        switch self[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case let value?: throw InputError(.malformed, "expected a boolean, found \(value.kindName)", at: .key("\(parent).\(key)"))
        }
    }
}

/// `model.vocab`: token → id, ids a permutation of 0 ..< count.
struct Vocabulary {
    let tokens: [String]
    private let table: TokenTable

    init(_ model: JSONObject) throws {
        let key = "model.vocab"
        guard let value = model["vocab"] else { throw InputError(.missing, "the key is missing", at: .key(key)) }
        guard case .object(let vocab) = value else {
            throw InputError(.malformed, "expected an object, found \(value.kindName)", at: .key(key))
        }
        guard vocab.count <= SentencePieceModel.maxPieces else {
            throw InputError(.overLimit, "\(vocab.count) tokens exceed the cap of \(SentencePieceModel.maxPieces)", at: .key(key))
        }
        var tokens = [String?](repeating: nil, count: vocab.count)
        for (token, idValue) in vocab.members {
            guard let id = idValue.integer else {
                throw InputError(.malformed, "'\(token.prefix(40))' has \(idValue.kindName) for an id", at: .key(key))
            }
            guard id >= 0, id < tokens.count else {
                throw InputError(
                    .malformed, "id \(id) of '\(token.prefix(40))' is outside 0..<\(tokens.count): ids are not a permutation", at: .key(key)
                )
            }
            guard tokens[id] == nil else {
                throw InputError(.malformed, "id \(id) appears twice: ids are not a permutation", at: .key(key))
            }
            tokens[id] = token
        }
        self.tokens = tokens.map { $0! }
        var table = TokenTable(capacity: self.tokens.count)
        for (id, token) in self.tokens.enumerated() where table.append(Array(token.utf8)[...]) != nil {
            throw InputError(.malformed, "token \(id) '\(token.prefix(40))' appears twice", at: .key(key))
        }
        self.table = table
    }

    /// The id of exactly these UTF-8 bytes (never Swift `String` equality).
    func id(_ token: String) -> Int? {
        var token = token
        return token.withUTF8 { table.rank(UnsafeRawBufferPointer($0)) }.map(Int.init)
    }

    /// The id of `left` followed by `right`.
    func id(_ left: String, _ right: String) -> Int? {
        var bytes = Array(left.utf8)
        bytes += right.utf8
        return table.rank(bytes[...]).map(Int.init)
    }
}

/// `added_tokens`: id, content and whether special, in file order.
struct AddedTokens {
    struct Token {
        var id: Int
        var content: String
        var special: Bool
    }
    let tokens: [Token]

    init(_ root: JSONObject, vocabulary: [String]) throws {
        let key = "added_tokens"
        guard let value = root[key], value != .null else {
            tokens = []
            return
        }
        guard case .array(let items) = value else {
            throw InputError(.malformed, "expected an array, found \(value.kindName)", at: .key(key))
        }
        var tokens: [Token] = []
        for (index, item) in items.enumerated() {
            guard case .object(let object) = item, let id = object["id"]?.integer, let content = object["content"]?.string else {
                throw InputError(.malformed, "added token \(index) has no integer id and string content", at: .key(key))
            }
            guard id >= 0, id < vocabulary.count + SentencePieceModel.maxPieces else {
                throw InputError(.outOfRange, "added token \(index) has id \(id)", at: .key(key))
            }
            tokens.append(Token(id: id, content: content, special: object["special"]?.bool ?? false))
        }
        self.tokens = tokens
    }
}

/// `post_processor`: which special tokens transformers adds around a single sequence.
struct PostProcessor {
    var bosToken: String?
    var eosToken: String?

    init(_ value: JSONValue?) throws {
        let key = "post_processor"
        var steps: [JSONValue] = [value ?? .null]
        if case .object(let object)? = value, object["type"]?.string == "Sequence" { steps = object["processors"]?.array ?? [] }
        for step in steps where step != .null {
            switch step.object?["type"]?.string {
            case "ByteLevel"?: continue
            case "TemplateProcessing"?:
                guard let single = step.object?["single"]?.array else {
                    throw InputError(.malformed, "TemplateProcessing has no 'single' template", at: .key(key))
                }
                let pieces = try single.map { item -> String? in
                    if let special = item.object?["SpecialToken"]?.object, let id = special["id"]?.string { return id }
                    if item.object?["Sequence"] != nil { return nil }
                    throw InputError(.malformed, "a 'single' template item is neither SpecialToken nor Sequence", at: .key(key))
                }
                guard pieces.filter({ $0 == nil }).count == 1, let sequence = pieces.firstIndex(where: { $0 == nil }) else {
                    throw InputError(.malformed, "the 'single' template must hold the sequence once", at: .key(key))
                }
                bosToken = pieces[..<sequence].last ?? nil
                eosToken = pieces[(sequence + 1)...].first ?? nil
            default:
                throw InputError(
                    .unsupported, "post-processor \(HFTokenizerJSON.describe(step)) is not ByteLevel or TemplateProcessing", at: .key(key))
            }
        }
    }
}

/// The parts of `tokenizer_config.json` that matter here.
struct Config {
    var bosToken: String?
    var eosToken: String?
    var chatTemplate: String?
    var addedTokens: [(id: Int, content: String)] = []

    init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= HFTokenizerJSON.maxConfigBytes else {
            throw InputError(
                .overLimit, "tokenizer_config.json of \(bytes.count) bytes exceeds the cap of \(HFTokenizerJSON.maxConfigBytes)")
        }
        guard case .object(let root) = try JSONParser.parse(bytes) else {
            throw InputError(.malformed, "tokenizer_config.json is not a JSON object")
        }
        bosToken = try Self.tokenName(root["bos_token"], "bos_token")
        eosToken = try Self.tokenName(root["eos_token"], "eos_token")
        switch root["chat_template"] {
        case nil, .null?: break
        case .string(let template)?: chatTemplate = template
        case .array(let templates)?:
            let named = templates.compactMap { $0.object }.filter { $0["name"]?.string == "default" }
            guard let template = (named.first ?? templates.first?.object)?["template"]?.string else {
                throw InputError(.malformed, "a chat_template list needs {name, template} objects", at: .key("chat_template"))
            }
            chatTemplate = template
        case let value?: throw InputError(.malformed, "expected a string or a list, found \(value.kindName)", at: .key("chat_template"))
        }
        if case .object(let decoder)? = root["added_tokens_decoder"] {
            for (idText, entry) in decoder.members {
                guard let id = Int(idText), let content = entry.object?["content"]?.string else {
                    throw InputError(.malformed, "'\(idText.prefix(20))' is not an id with a content", at: .key("added_tokens_decoder"))
                }
                addedTokens.append((id, content))
            }
        }
    }

    /// A token given as a string or as `{"content": …}` (an AddedToken).
    private static func tokenName(_ value: JSONValue?, _ key: String) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let name)?: return name
        case .object(let object)?:
            guard let name = object["content"]?.string else {
                throw InputError(.malformed, "an AddedToken needs a string content", at: .key(key))
            }
            return name
        case let value?: throw InputError(.malformed, "expected a string, found \(value.kindName)", at: .key(key))
        }
    }

    /// `added_tokens_decoder` must agree with tokenizer.json.
    func check(against vocabulary: [String], added: AddedTokens) throws {
        var byID: [Int: String] = [:]
        for token in added.tokens { byID[token.id] = token.content }
        for (id, content) in addedTokens {
            let known = byID[id] ?? (id >= 0 && id < vocabulary.count ? vocabulary[id] : nil)
            guard let known, Array(known.utf8) == Array(content.utf8) else {
                throw InputError(
                    .mismatch, "id \(id) is '\(content.prefix(40))' here but '\((known ?? "nothing").prefix(40))' in tokenizer.json",
                    at: .key("added_tokens_decoder"))
            }
        }
    }
}

/// TikTokenConverter's merges: for each token in rank order, every split into two tokens,
/// ordered by (left rank, right rank).
enum Llama3Merges {
    static func pairs(_ ranks: TiktokenRanks) -> [(left: Int, right: Int, made: Int)] {
        var out: [(left: Int, right: Int, made: Int)] = []
        var local: [(left: Int, right: Int)] = []
        for rank in 0..<ranks.count {
            let token = ranks.bytes(of: rank)
            guard token.count >= 2 else { continue }
            local.removeAll(keepingCapacity: true)
            for cut in (token.startIndex + 1)..<token.endIndex {
                if let left = ranks.rank(token[..<cut]), let right = ranks.rank(token[cut...]) { local.append((Int(left), Int(right))) }
            }
            local.sort { ($0.left, $0.right) < ($1.left, $1.right) }
            for pair in local { out.append((pair.left, pair.right, rank)) }
        }
        return out
    }
}
