import BinaryIO

/// Llama 1/2's tokenizer: a sentencepiece BPE model, encoded and decoded exactly as
/// `sentencepiece` does (`docs/formats.md` §5.7): `▁` normalisation with a
/// dummy prefix, highest-score merges first (ties to the leftmost), byte fallback, and
/// sentencepiece's decode rules (control pieces empty, one U+FFFD per invalid byte, the
/// leading `▁` dropped).
public struct SentencePieceTokenizer: Tokenizer {
    public let model: SentencePieceModel
    private let table: TokenTable
    private let byteIDs: [Int]
    /// USER_DEFINED pieces, matched whole before merging.
    private let userDefined: [[UInt8]]

    public var vocabularySize: Int { model.pieces.count }
    public var bosID: Int { model.bosID }
    public var eosID: Int { model.eosID }
    public var stopIDs: Set<Int> { [eosID] }

    static let space: [UInt8] = [0xE2, 0x96, 0x81]  // U+2581 ▁

    /// - Throws: `InputError` for a corrupt model or one whose options LlamaKit cannot
    ///   reproduce exactly (unigram, a precompiled normaliser, extra-whitespace removal).
    public init(parsing bytes: [UInt8]) throws {
        try self.init(model: try SentencePieceModel(parsing: bytes))
    }

    /// - Throws: `InputError` as `init(parsing:)`, for a model built in memory.
    public init(model: SentencePieceModel) throws {
        self.model = model
        guard model.modelType == 2 else {
            throw InputError(.unsupported, "sentencepiece model type \(model.modelType) is not BPE (2); Llama tokenizers are BPE")
        }
        guard !model.hasCharsMap else {
            throw InputError(
                .unsupported,
                "the model's normaliser '\(model.normalizerName)' uses a precompiled character map, which is not supported (Llama uses 'identity')"
            )
        }
        guard !model.removeExtraWhitespaces, !model.treatWhitespaceAsSuffix else {
            throw InputError(.unsupported, "remove_extra_whitespaces / treat_whitespace_as_suffix are not supported (Llama 2 sets neither)")
        }
        var table = TokenTable(capacity: model.pieces.count)
        for (id, piece) in model.pieces.enumerated() where table.append(piece.bytes[...]) != nil {
            throw InputError(.malformed, "piece \(id) '\(String(decoding: piece.bytes, as: UTF8.self))' appears twice")
        }
        self.table = table
        var byteIDs = [Int](repeating: -1, count: 256)
        for (id, piece) in model.pieces.enumerated() where piece.type == .byte {
            let text = String(decoding: piece.bytes, as: UTF8.self)
            guard text.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">"), let value = UInt8(text.dropFirst(3).prefix(2), radix: 16)
            else {
                throw InputError(.malformed, "byte piece \(id) '\(text)' is not of the form <0xNN>")
            }
            byteIDs[Int(value)] = id
        }
        if model.byteFallback, let missing = byteIDs.firstIndex(of: -1) {
            throw InputError(.missing, "byte_fallback is on but there is no <0x\(String(format2: missing))> piece")
        }
        self.byteIDs = byteIDs
        userDefined = model.pieces.filter { $0.type == .userDefined }.map(\.bytes)
    }

    @inline(__always) private func mergeable(_ id: Int) -> Bool {
        switch model.pieces[id].type {
        case .normal, .userDefined, .unused: return true
        default: return false
        }
    }

    // MARK: - Encode

    public func encode(_ text: String, bos: Bool = false, eos: Bool = false, allowSpecial: Bool = false) -> [Int] {
        var out: [Int] = bos ? [bosID] : []
        encodeText(text, into: &out)
        if eos { out.append(eosID) }
        return out
    }

    private func encodeText(_ text: String, into out: inout [Int]) {
        guard !text.isEmpty else { return }
        let normalized = normalize(text)
        let (starts, frozen) = initialSymbols(normalized)
        let (next, reverseMerges) = merge(normalized, starts: starts, frozen: frozen)
        var k = 0
        while k < frozen.count {
            emit(normalized[starts[k]..<starts[next[k]]], reverseMerges, depth: 0, into: &out)
            k = next[k]
        }
    }

    /// The dummy prefix, and spaces as ▁.
    private func normalize(_ text: String) -> [UInt8] {
        var normalized: [UInt8] = model.addDummyPrefix ? Self.space : []
        for scalar in text.unicodeScalars {
            if scalar == " " && model.escapeWhitespaces {
                normalized += Self.space
            } else {
                UTF8.encode(scalar) { normalized.append($0) }
            }
        }
        return normalized
    }

    /// Initial symbols: the longest user-defined piece at each position (frozen: never merged),
    /// else one scalar — sentencepiece's PrefixMatcher. `starts` ends with the text's length.
    private func initialSymbols(_ normalized: [UInt8]) -> (starts: [Int], frozen: [Bool]) {
        var starts: [Int] = []
        var frozen: [Bool] = []
        var position = 0
        while position < normalized.count {
            starts.append(position)
            var length = Self.scalarLength(normalized[position])
            var isFrozen = false
            for piece in userDefined where piece.count > (isFrozen ? length : 0) && normalized[position...].starts(with: piece) {
                length = piece.count
                isFrozen = true
            }
            frozen.append(isFrozen)
            position += length
        }
        starts.append(normalized.count)
        return (starts, frozen)
    }

    /// Merges the best-scoring adjacent pair until none is a piece. Symbol k then spans
    /// `starts[k] ..< starts[next[k]]`. Merges that produced an UNUSED piece are kept, to split
    /// it back when emitting (sentencepiece's rev_merge).
    private func merge(_ normalized: [UInt8], starts: [Int], frozen: [Bool]) -> (next: [Int], reverseMerges: ReverseMerges) {
        let count = frozen.count
        var next = Array(1...count)
        var previous = Array(-1..<count - 1)
        var alive = [Bool](repeating: true, count: count)
        var heap = BinaryHeap<ScoredPair>()
        var reverseMerges: ReverseMerges = [:]
        func pairID(_ k: Int) -> Int? {
            let j = next[k]
            guard j < count, !frozen[k], !frozen[j], let id = table.rank(normalized[starts[k]..<starts[next[j]]]), mergeable(Int(id))
            else { return nil }
            return Int(id)
        }
        for k in 0..<count - 1 {
            if let id = pairID(k) { heap.push(ScoredPair(score: model.pieces[id].score, start: k, id: id)) }
        }
        while let top = heap.pop() {
            let k = top.start
            guard alive[k], pairID(k) == top.id else { continue }
            let j = next[k]
            if model.pieces[top.id].type == .unused {
                reverseMerges[Array(normalized[starts[k]..<starts[next[j]]])] = (
                    Array(normalized[starts[k]..<starts[j]]), Array(normalized[starts[j]..<starts[next[j]]])
                )
            }
            alive[j] = false
            next[k] = next[j]
            if next[j] < count { previous[next[j]] = k }
            if let id = pairID(k) { heap.push(ScoredPair(score: model.pieces[id].score, start: k, id: id)) }
            if previous[k] >= 0, let id = pairID(previous[k]) {
                heap.push(ScoredPair(score: model.pieces[id].score, start: previous[k], id: id))
            }
        }
        return (next, reverseMerges)
    }

    /// One merged symbol as ids: its piece (an UNUSED piece split back into what made it), else
    /// its bytes' byte pieces, else unk.
    private func emit(_ symbol: ArraySlice<UInt8>, _ reverseMerges: ReverseMerges, depth: Int, into out: inout [Int]) {
        if let id = table.rank(symbol), mergeable(Int(id)) {
            if model.pieces[Int(id)].type == .unused, depth < 64, let parts = reverseMerges[Array(symbol)] {
                emit(parts.left[...], reverseMerges, depth: depth + 1, into: &out)
                emit(parts.right[...], reverseMerges, depth: depth + 1, into: &out)
            } else {
                out.append(Int(id))
            }
        } else if model.byteFallback {
            for byte in symbol { out.append(byteIDs[Int(byte)]) }
        } else {
            out.append(model.unkID)
        }
    }

    private typealias ReverseMerges = [[UInt8]: (left: [UInt8], right: [UInt8])]

    /// Bytes in the UTF-8 sequence a lead byte starts (1 for stray continuation bytes).
    @inline(__always) private static func scalarLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...0xFF: return 4
        case 0xE0...0xEF: return 3
        case 0xC0...0xDF: return 2
        default: return 1
        }
    }

    // MARK: - Decode

    public func pieceBytes(_ id: Int) throws -> [UInt8] {
        guard id >= 0 && id < model.pieces.count else {
            throw InputError(.outOfRange, "token id \(id) is outside the vocabulary 0..<\(model.pieces.count)")
        }
        return model.pieces[id].bytes
    }

    public func decode(_ ids: [Int]) throws -> String {
        var text: [UInt8] = []
        var pendingBytes: [UInt8] = []
        var atStart = true  // sentencepiece's is_bos_ws
        func flushBytes() {
            guard !pendingBytes.isEmpty else { return }
            let decoded = Self.decodeBytesReplacingEach(pendingBytes)
            text += decoded
            if !decoded.isEmpty { atStart = false }
            pendingBytes.removeAll()
        }
        for id in ids {
            let piece = try pieceBytes(id)
            let type = model.pieces[id].type
            if type == .byte {
                pendingBytes.append(UInt8(byteIDs.firstIndex(of: id)!))
                continue
            }
            flushBytes()
            switch type {
            case .control:
                continue
            case .unknown:
                text += model.unkSurface
                atStart = false
            default:
                var body = piece[...]
                var consumedSpace = false
                if atStart && model.addDummyPrefix && body.starts(with: Self.space) {
                    body = body.dropFirst(3)
                    consumedSpace = true
                }
                let decoded = Self.replacingSpaceSymbol(body)
                text += decoded
                if !decoded.isEmpty || consumedSpace { atStart = false }
            }
        }
        flushBytes()
        return String(decoding: text, as: UTF8.self)
    }

    private static func replacingSpaceSymbol(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == 0xE2, index + 2 < bytes.endIndex, bytes[index + 1] == 0x96, bytes[index + 2] == 0x81 {
                out.append(0x20)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// UTF-8 decoding where every byte that does not start a valid sequence becomes one U+FFFD
    /// (sentencepiece's byte-piece rule, unlike Swift's and Python's maximal-subpart rule).
    static func decodeBytesReplacingEach(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let length = validSequenceLength(bytes, at: index)
            if length > 0 {
                out += bytes[index..<index + length]
                index += length
            } else {
                out += [0xEF, 0xBF, 0xBD]
                index += 1
            }
        }
        return out
    }

    /// The length of the well-formed UTF-8 sequence at `index` (RFC 3629), or 0.
    private static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < bytes.count && range.contains(bytes[index + offset])
        }
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return continuation(1) ? 2 : 0
        case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return continuation(1) && continuation(2) ? 3 : 0
        case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default: return 0
        }
    }
}

/// A sentencepiece merge candidate: the highest score merges first, ties to the leftmost
/// (sentencepiece's agenda order).
struct ScoredPair: Comparable {
    var score: Float
    var start: Int
    var id: Int

    static func < (a: ScoredPair, b: ScoredPair) -> Bool {
        a.score > b.score || (a.score == b.score && a.start < b.start)
    }
}

extension String {
    /// Two uppercase hex digits.
    init(format2 value: Int) {
        let digits = String(value, radix: 16, uppercase: true)
        self = digits.count == 1 ? "0" + digits : digits
    }
}
