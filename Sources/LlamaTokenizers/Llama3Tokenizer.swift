import BinaryIO

/// Meta's Llama 3 tokenizer (`llama_models.llama3.tokenizer.Tokenizer`): tiktoken ranks, the
/// Llama 3 pre-tokenizer, byte-level BPE and 256 special tokens after the ranks
/// (`docs/formats.md` §5.1–§5.6).
public struct Llama3Tokenizer: Tokenizer {
    /// Which release's special-token names (ids are the same for every named token).
    public enum SpecialTokenSet: String, Sendable, CaseIterable {
        case llama3 = "3.0"
        case llama3_1 = "3.1"
        case llama3_2 = "3.2"

        /// The 256 names, in id order (`docs/formats.md` §5.4).
        public var names: [String] {
            let named: [String]
            let firstReserved: Int
            switch self {
            case .llama3:
                named = [
                    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                    "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                    "<|reserved_special_token_4|>", "<|eot_id|>",
                ]
                firstReserved = 5
            case .llama3_1, .llama3_2:
                var list = [
                    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                    "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
                    "<|eot_id|>", "<|python_tag|>",
                ]
                if self == .llama3_2 { list.append("<|image|>") }
                named = list
                firstReserved = 2
            }
            return named + (0..<(Self.count - named.count)).map { "<|reserved_special_token_\(firstReserved + $0)|>" }
        }

        public static let count = 256

        /// The release whose 256 names these are, in id order.
        public init?(names: [String]) {
            guard let set = Self.allCases.first(where: { $0.names == names }) else { return nil }
            self = set
        }
    }

    /// Meta's `TIKTOKEN_MAX_ENCODE_CHARS` and `MAX_NO_WHITESPACES_CHARS`, in code points.
    static let maxEncodeScalars = 400_000
    static let maxSameClassRun = 25_000

    public let ranks: TiktokenRanks
    public let specialTokens: SpecialTokenSet
    private let specialNames: [[Unicode.Scalar]]
    private let specialBytes: [[UInt8]]

    public var vocabularySize: Int { ranks.count + SpecialTokenSet.count }
    public var bosID: Int { ranks.count }
    public var eosID: Int { ranks.count + 1 }
    public var stopIDs: Set<Int> {
        Set([eosID] + ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"].compactMap(specialID))
    }

    /// - Throws: `InputError` from the ranks reader.
    public init(parsing bytes: [UInt8], specialTokens: SpecialTokenSet = .llama3_2) throws {
        self.init(ranks: try TiktokenRanks(parsing: bytes), specialTokens: specialTokens)
    }

    /// The tokenizer of `ranks` with the 256 specials of `specialTokens` after them.
    public init(ranks: TiktokenRanks, specialTokens: SpecialTokenSet = .llama3_2) {
        self.ranks = ranks
        self.specialTokens = specialTokens
        let names = specialTokens.names
        specialNames = names.map { Array($0.unicodeScalars) }
        specialBytes = names.map { Array($0.utf8) }
    }

    /// The id of a special token by name, e.g. `<|eot_id|>`.
    public func specialID(_ name: String) -> Int? {
        specialTokens.names.firstIndex(of: name).map { ranks.count + $0 }
    }

    // MARK: - Encode

    public func encode(_ text: String, bos: Bool = false, eos: Bool = false, allowSpecial: Bool = false) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(Llama3PreTokenizer.classify)
        // UTF-8 of the whole text once; `byteOffsets[i]` is where scalar i starts.
        let utf8 = Array(text.utf8)
        var byteOffsets: [Int] = []
        byteOffsets.reserveCapacity(scalars.count + 1)
        var offset = 0
        for scalar in scalars {
            byteOffsets.append(offset)
            offset += UTF8.width(scalar)
        }
        byteOffsets.append(offset)
        var out: [Int] = []
        out.reserveCapacity(scalars.count / 3 + 2)
        if bos { out.append(bosID) }
        var merger = BytePairMerger()
        // Meta's chunking: 400k-code-point slices, each cut into runs of ≤ 25k same-class code points.
        var sliceStart = 0
        repeat {
            let sliceEnd = min(sliceStart + Self.maxEncodeScalars, scalars.count)
            for run in Self.sameClassRuns(scalars, sliceStart..<sliceEnd) {
                encodeSegment(scalars, classes, utf8, byteOffsets, run, allowSpecial: allowSpecial, merger: &merger, into: &out)
            }
            sliceStart = sliceEnd
        } while sliceStart < scalars.count
        if eos { out.append(eosID) }
        return out
    }

    /// Python's `str.isspace`: White_Space plus U+001C–U+001F.
    @inline(__always) static func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value >= 0x1C && scalar.value <= 0x1F) || Llama3PreTokenizer.isWhiteSpace(scalar)
    }

    /// Meta's `_split_whitespaces_or_nonwhitespaces`.
    static func sameClassRuns(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        guard !range.isEmpty else { return [range] }
        var runs: [Range<Int>] = []
        var currentIsSpace = isPythonSpace(scalars[range.lowerBound])
        var length = 0
        var start = range.lowerBound
        for i in range {
            let isSpace = isPythonSpace(scalars[i])
            if currentIsSpace != isSpace {
                length = 1
                currentIsSpace = isSpace
            } else {
                length += 1
                if length > maxSameClassRun {
                    runs.append(start..<i)
                    start = i
                    length = 1
                }
            }
        }
        runs.append(start..<range.upperBound)
        return runs
    }

    /// tiktoken `CoreBPE::encode` on one segment: allowed special text becomes its id; the text
    /// between is pre-tokenized and merged.
    private func encodeSegment(
        _ scalars: [Unicode.Scalar], _ classes: [Llama3PreTokenizer.Class], _ utf8: [UInt8], _ byteOffsets: [Int],
        _ range: Range<Int>, allowSpecial: Bool, merger: inout BytePairMerger, into out: inout [Int]
    ) {
        var start = range.lowerBound
        var search = start
        while true {
            var special: (at: Int, index: Int)? = nil
            if allowSpecial {
                var i = search
                while i + 1 < range.upperBound {
                    if scalars[i] == "<" && scalars[i + 1] == "|", let index = specialMatch(scalars, at: i, end: range.upperBound) {
                        special = (i, index)
                        break
                    }
                    i += 1
                }
            }
            let textEnd = special?.at ?? range.upperBound
            Llama3PreTokenizer.split(scalars[start..<textEnd], classes: classes[start..<textEnd]) { piece in
                merger.encode(utf8[byteOffsets[piece.lowerBound]..<byteOffsets[piece.upperBound]], ranks: ranks, into: &out)
            }
            guard let special else { return }
            out.append(ranks.count + special.index)
            start = special.at + specialNames[special.index].count
            search = start
        }
    }

    private func specialMatch(_ scalars: [Unicode.Scalar], at position: Int, end: Int) -> Int? {
        for (index, name) in specialNames.enumerated() where position + name.count <= end {
            if scalars[position..<(position + name.count)].elementsEqual(name) { return index }
        }
        return nil
    }

    // MARK: - Decode

    public func pieceBytes(_ id: Int) throws -> [UInt8] {
        if id >= 0 && id < ranks.count { return Array(ranks.bytes(of: id)) }
        if id >= ranks.count && id < vocabularySize { return specialBytes[id - ranks.count] }
        throw InputError(.outOfRange, "token id \(id) is outside the vocabulary 0..<\(vocabularySize)")
    }

    /// Concatenates the ids' bytes (specials as their text) and decodes UTF-8 with replacement,
    /// which gives the same U+FFFD pattern as Python's `errors="replace"` (`docs/formats.md` §5.6).
    public func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if id >= 0 && id < ranks.count {
                bytes += ranks.bytes(of: id)
            } else {
                bytes += try pieceBytes(id)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
