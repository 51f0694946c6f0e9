import BinaryIO

extension HFTokenizerJSON {
    /// What the caller decides: the special tokens transformers should use and the chat template.
    public struct WriteOptions: Sendable {
        /// BOS, added by the post-processor (default: the family's, `<|begin_of_text|>` / `<s>`).
        public var bosToken: String?
        /// EOS for generation (default `<|end_of_text|>` / `</s>`; instruct models: `<|eot_id|>`).
        public var eosToken: String?
        public var chatTemplate: String?
        /// `model_max_length` (default: 131072 for Llama 3, 4096 for Llama 2).
        public var modelMaxLength: Int?

        public init(bosToken: String? = nil, eosToken: String? = nil, chatTemplate: String? = nil, modelMaxLength: Int? = nil) {
            self.bosToken = bosToken
            self.eosToken = eosToken
            self.chatTemplate = chatTemplate
            self.modelMaxLength = modelMaxLength
        }
    }

    /// The three files transformers reads from a model directory.
    public struct Files: Sendable, Equatable {
        public var tokenizerJSON: [UInt8]
        public var tokenizerConfig: [UInt8]
        public var specialTokensMap: [UInt8]

        /// (file name, bytes), in the order to write them.
        public var named: [(name: String, bytes: [UInt8])] {
            [("tokenizer.json", tokenizerJSON), ("tokenizer_config.json", tokenizerConfig), ("special_tokens_map.json", specialTokensMap)]
        }
    }

    /// The tokenizer.json, tokenizer_config.json and special_tokens_map.json transformers'
    /// converters make for Meta's tokenizer: TikTokenConverter plus the Llama 3 conversion
    /// script's BOS post-processor, or LlamaConverter's legacy layout for Llama 1/2. Both configs
    /// name `PreTrainedTokenizerFast`, so transformers 5 uses tokenizer.json as written.
    /// - Throws: `InputError` (.unsupported for another tokenizer or a vocabulary tokenizer.json
    ///   cannot hold, .mismatch for a BOS/EOS that is not a token).
    public static func write(_ tokenizer: any Tokenizer, options: WriteOptions = WriteOptions()) throws -> Files {
        switch tokenizer {
        case let llama3 as Llama3Tokenizer: return try writeLlama3(llama3, options: options)
        case let sentencePiece as SentencePieceTokenizer: return try writeSentencePiece(sentencePiece, options: options)
        default: throw InputError(.unsupported, "only Meta's Llama 3 and sentencepiece tokenizers can be written as tokenizer.json")
        }
    }

    // MARK: - Llama 3

    private static func writeLlama3(_ tokenizer: Llama3Tokenizer, options: WriteOptions) throws -> Files {
        let ranks = tokenizer.ranks
        let names = tokenizer.specialTokens.names
        let bos = options.bosToken ?? names[0]
        let eos = options.eosToken ?? names[1]
        guard let bosIndex = names.firstIndex(of: bos) else { throw InputError(.mismatch, "bos token '\(bos)' is not a special token") }
        guard names.contains(eos) else { throw InputError(.mismatch, "eos token '\(eos)' is not a special token") }
        let spelled = (0..<ranks.count).map { ByteLevelText.string(ranks.bytes(of: $0)) }
        var vocab = JSONObject()
        for (rank, token) in spelled.enumerated() where !vocab.insert(token, .integer(rank)) {
            throw InputError(.unsupported, "rank \(rank) spells like an earlier token; tokenizer.json keys would collide")
        }
        let merges = Llama3Merges.pairs(ranks).map { JSONValue.array([.string(spelled[$0.left]), .string(spelled[$0.right])]) }
        let added = names.enumerated().map { addedToken(id: ranks.count + $0, content: $1, special: true) }
        let byteLevel: (Bool, Bool, Bool) -> JSONValue = { prefix, trim, regex in
            object([
                ("type", .string("ByteLevel")), ("add_prefix_space", .bool(prefix)), ("trim_offsets", .bool(trim)),
                ("use_regex", .bool(regex)),
            ])
        }
        let json = object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)), ("normalizer", .null),
            (
                "pre_tokenizer",
                object([
                    ("type", .string("Sequence")),
                    (
                        "pretokenizers",
                        .array([
                            object([
                                ("type", .string("Split")), ("pattern", object([("Regex", .string(llama3Pattern))])),
                                ("behavior", .string("Isolated")), ("invert", .bool(false)),
                            ]),
                            byteLevel(false, true, false),
                        ])
                    ),
                ])
            ),
            (
                "post_processor",
                object([
                    ("type", .string("Sequence")),
                    ("processors", .array([byteLevel(true, false, true), bosTemplate(bos, id: ranks.count + bosIndex)])),
                ])
            ),
            ("decoder", byteLevel(true, true, true)),
            (
                "model",
                bpe(unk: .null, fuseUnk: false, byteFallback: false, ignoreMerges: true, vocab: vocab, merges: merges)
            ),
        ])
        var configMembers: [(String, JSONValue)] = [
            ("added_tokens_decoder", addedTokensDecoder(names.enumerated().map { (ranks.count + $0, $1, true) })),
            ("bos_token", .string(bos)),
        ]
        if let template = options.chatTemplate { configMembers.append(("chat_template", .string(template))) }
        configMembers += [
            ("clean_up_tokenization_spaces", .bool(true)), ("eos_token", .string(eos)), ("extra_special_tokens", object([])),
            ("model_input_names", .array([.string("input_ids"), .string("attention_mask")])),
            ("model_max_length", .integer(options.modelMaxLength ?? 131_072)), ("tokenizer_class", .string("PreTrainedTokenizerFast")),
        ]
        let map = object([("bos_token", .string(bos)), ("eos_token", .string(eos))])
        return Files(
            tokenizerJSON: tokenizerJSONBytes(json), tokenizerConfig: configBytes(object(configMembers)), specialTokensMap: configBytes(map)
        )
    }

    // MARK: - Llama 1/2

    private static func writeSentencePiece(_ tokenizer: SentencePieceTokenizer, options: WriteOptions) throws -> Files {
        let model = tokenizer.model
        var tokens: [String] = []
        tokens.reserveCapacity(model.pieces.count)
        var seen = Set<String>()
        for (id, piece) in model.pieces.enumerated() {
            guard let text = String(validating: piece.bytes, as: UTF8.self) else {
                throw InputError(.unsupported, "piece \(id) is not UTF-8 text, which tokenizer.json cannot hold")
            }
            // JSON object keys compare as Unicode text: canonically equivalent pieces would collide.
            guard seen.insert(text).inserted else {
                throw InputError(
                    .unsupported, "piece \(id) '\(text)' is canonically equivalent to an earlier piece; tokenizer.json keys would collide")
            }
            guard piece.type != .unused else {
                throw InputError(.unsupported, "piece \(id) is UNUSED, which tokenizer.json cannot express")
            }
            tokens.append(text)
        }
        let unk = model.unkID >= 0 ? tokens[model.unkID] : "<unk>"
        let bos = options.bosToken ?? (model.bosID >= 0 ? tokens[model.bosID] : "<s>")
        let eos = options.eosToken ?? (model.eosID >= 0 ? tokens[model.eosID] : "</s>")
        guard let bosID = tokens.firstIndex(of: bos) else { throw InputError(.mismatch, "bos token '\(bos)' is not a piece") }
        guard tokens.contains(eos) else { throw InputError(.mismatch, "eos token '\(eos)' is not a piece") }
        var vocab = JSONObject()
        for (id, token) in tokens.enumerated() { vocab.insert(token, .integer(id)) }
        let merges = sentencePieceMerges(model).map { JSONValue.array([.string(tokens[$0.left]), .string(tokens[$0.right])]) }
        // LlamaConverter's added tokens: the unknown piece and the control pieces (special), the
        // user-defined ones (not special), by id.
        let addedIDs = model.pieces.indices.filter { [.unknown, .control, .userDefined].contains(model.pieces[$0].type) }
        let added = addedIDs.map { (id: $0, content: tokens[$0], special: model.pieces[$0].type != .userDefined) }
        let replace: (String, String) -> JSONValue = { pattern, content in
            object([("type", .string("Replace")), ("pattern", object([("String", .string(pattern))])), ("content", .string(content))])
        }
        let json = object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(added.map { addedToken(id: $0.id, content: $0.content, special: $0.special) })),
            (
                "normalizer",
                object([
                    ("type", .string("Sequence")),
                    (
                        "normalizers",
                        .array([object([("type", .string("Prepend")), ("prepend", .string("\u{2581}"))]), replace(" ", "\u{2581}")])
                    ),
                ])
            ),
            ("pre_tokenizer", .null),
            ("post_processor", bosTemplate(bos, id: bosID)),
            (
                "decoder",
                object([
                    ("type", .string("Sequence")),
                    (
                        "decoders",
                        .array([
                            replace("\u{2581}", " "), object([("type", .string("ByteFallback"))]), object([("type", .string("Fuse"))]),
                            object([("type", .string("Strip")), ("content", .string(" ")), ("start", .integer(1)), ("stop", .integer(0))]),
                        ])
                    ),
                ])
            ),
            (
                "model",
                bpe(unk: .string(unk), fuseUnk: true, byteFallback: model.byteFallback, ignoreMerges: false, vocab: vocab, merges: merges)
            ),
        ])
        var configMembers: [(String, JSONValue)] = [
            ("add_bos_token", .bool(true)), ("add_eos_token", .bool(false)), ("add_prefix_space", .null),
            ("added_tokens_decoder", addedTokensDecoder(added.map { ($0.id, $0.content, $0.special) })), ("bos_token", .string(bos)),
        ]
        if let template = options.chatTemplate { configMembers.append(("chat_template", .string(template))) }
        configMembers += [
            ("clean_up_tokenization_spaces", .bool(false)), ("eos_token", .string(eos)), ("extra_special_tokens", object([])),
            ("legacy", .bool(true)), ("model_max_length", .integer(options.modelMaxLength ?? 4096)), ("pad_token", .null),
            ("sp_model_kwargs", object([])), ("spaces_between_special_tokens", .bool(false)),
            ("tokenizer_class", .string("PreTrainedTokenizerFast")), ("unk_token", .string(unk)),
            ("use_default_system_prompt", .bool(false)),
        ]
        let tokenObject: (String) -> JSONValue = { content in
            object([
                ("content", .string(content)), ("lstrip", .bool(false)), ("normalized", .bool(false)), ("rstrip", .bool(false)),
                ("single_word", .bool(false)),
            ])
        }
        let map = object([("bos_token", tokenObject(bos)), ("eos_token", tokenObject(eos)), ("unk_token", tokenObject(unk))])
        return Files(
            tokenizerJSON: tokenizerJSONBytes(json), tokenizerConfig: configBytes(object(configMembers)), specialTokensMap: configBytes(map)
        )
    }

    /// transformers' `generate_merges(vocab, scores)` as LlamaConverter calls it: for each piece,
    /// every split into two pieces ordered by (left id, right id); then all of them stably by
    /// score, left length and right length (in code points), each descending. The first three
    /// pieces count with score 0, as LlamaConverter's vocabulary gives them.
    static func sentencePieceMerges(_ model: SentencePieceModel) -> [(left: Int, right: Int)] {
        var table = TokenTable(capacity: model.pieces.count)
        for piece in model.pieces { _ = table.append(piece.bytes[...]) }
        var merges: [(left: Int, right: Int, score: Float, leftLength: Int, rightLength: Int)] = []
        var local: [(left: Int, right: Int, leftLength: Int, rightLength: Int)] = []
        for (id, piece) in model.pieces.enumerated() {
            let bytes = piece.bytes
            // Python slices code points: cut only before a non-continuation byte.
            let cuts = bytes.indices.dropFirst().filter { bytes[$0] & 0xC0 != 0x80 }
            guard !cuts.isEmpty else { continue }
            let total = cuts.count + 1
            local.removeAll(keepingCapacity: true)
            for (position, cut) in cuts.enumerated() {
                if let left = table.rank(bytes[..<cut]), let right = table.rank(bytes[cut...]) {
                    local.append((Int(left), Int(right), position + 1, total - position - 1))
                }
            }
            local.sort { ($0.left, $0.right) < ($1.left, $1.right) }
            let score = id < 3 ? 0 : piece.score
            for pair in local { merges.append((pair.left, pair.right, score, pair.leftLength, pair.rightLength)) }
        }
        let order = merges.indices.sorted { a, b in
            let x = merges[a]
            let y = merges[b]
            if x.score != y.score { return x.score > y.score }
            if x.leftLength != y.leftLength { return x.leftLength > y.leftLength }
            if x.rightLength != y.rightLength { return x.rightLength > y.rightLength }
            return a < b
        }
        return order.map { (merges[$0].left, merges[$0].right) }
    }

    // MARK: - JSON pieces

    private static func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(members)) }

    private static func addedToken(id: Int, content: String, special: Bool) -> JSONValue {
        object([
            ("id", .integer(id)), ("content", .string(content)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
            ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(special)),
        ])
    }

    /// tokenizer_config.json's `added_tokens_decoder` (keys sorted as Python's `sort_keys` sorts
    /// the decimal ids: as text).
    private static func addedTokensDecoder(_ tokens: [(Int, String, Bool)]) -> JSONValue {
        let sorted = tokens.sorted { String($0.0) < String($1.0) }
        return object(
            sorted.map { id, content, special in
                (
                    String(id),
                    object([
                        ("content", .string(content)), ("lstrip", .bool(false)), ("normalized", .bool(false)), ("rstrip", .bool(false)),
                        ("single_word", .bool(false)), ("special", .bool(special)),
                    ])
                )
            })
    }

    /// TemplateProcessing adding `bos` before a sequence (and before the second of a pair), as
    /// the Llama 3 conversion script and LlamaTokenizerFast set it.
    private static func bosTemplate(_ bos: String, id: Int) -> JSONValue {
        func special(_ typeID: Int) -> JSONValue {
            object([("SpecialToken", object([("id", .string(bos)), ("type_id", .integer(typeID))]))])
        }
        func sequence(_ name: String, _ typeID: Int) -> JSONValue {
            object([("Sequence", object([("id", .string(name)), ("type_id", .integer(typeID))]))])
        }
        return object([
            ("type", .string("TemplateProcessing")), ("single", .array([special(0), sequence("A", 0)])),
            ("pair", .array([special(0), sequence("A", 0), special(1), sequence("B", 1)])),
            (
                "special_tokens",
                object([(bos, object([("id", .string(bos)), ("ids", .array([.integer(id)])), ("tokens", .array([.string(bos)]))]))])
            ),
        ])
    }

    private static func bpe(unk: JSONValue, fuseUnk: Bool, byteFallback: Bool, ignoreMerges: Bool, vocab: JSONObject, merges: [JSONValue])
        -> JSONValue
    {
        object([
            ("type", .string("BPE")), ("dropout", .null), ("unk_token", unk), ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null), ("fuse_unk", .bool(fuseUnk)), ("byte_fallback", .bool(byteFallback)),
            ("ignore_merges", .bool(ignoreMerges)), ("vocab", .object(vocab)), ("merges", .array(merges)),
        ])
    }

    /// The `tokenizers` library writes pretty JSON without a final newline.
    private static func tokenizerJSONBytes(_ value: JSONValue) -> [UInt8] {
        var bytes = JSONWriter.bytes(value, style: .pretty)
        if bytes.last == 0x0A { bytes.removeLast() }
        return bytes
    }

    /// transformers writes `json.dumps(indent=2, sort_keys=True, ensure_ascii=False) + "\n"`.
    private static func configBytes(_ value: JSONValue) -> [UInt8] { JSONWriter.bytes(value, style: .pretty) }
}
