import BinaryIO

/// The parts of a sentencepiece `ModelProto` (proto2) that Llama 1/2 tokenization needs
/// (`docs/formats.md` §5.7). Absent fields take proto2 defaults.
public struct SentencePieceModel: Sendable {
    public enum PieceType: UInt64, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public struct Piece: Sendable {
        public var bytes: [UInt8]
        public var score: Float
        public var type: PieceType

        public init(bytes: [UInt8], score: Float, type: PieceType) {
            self.bytes = bytes
            self.score = score
            self.type = type
        }
    }

    public var pieces: [Piece] = []
    public var modelType: UInt64 = 1  // UNIGRAM unless set
    public var byteFallback = false
    public var treatWhitespaceAsSuffix = false
    public var unkID = 0
    public var bosID = 1
    public var eosID = 2
    public var padID = -1
    public var unkSurface: [UInt8] = Array(" \u{2047} ".utf8)
    public var normalizerName = ""
    public var hasCharsMap = false
    public var addDummyPrefix = true
    public var removeExtraWhitespaces = true
    public var escapeWhitespaces = true

    public static let maxPieces = 1 << 20
    public static let maxPieceBytes = 4096

    /// - Throws: `InputError` at the byte offset of the first impossible length, bad wire type,
    ///   unknown piece type or out-of-range id.
    public init(parsing bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try parseModel($0) }
        try checkIDs()
    }

    /// A BPE model with Llama 2's options (identity normaliser, dummy prefix, spaces kept and
    /// escaped as `▁`), as GGUF `llama` vocabularies and tokenizer.json files describe it.
    /// - Throws: `InputError` for no pieces, too many, or an id outside them.
    public init(llamaBPE pieces: [Piece], unkID: Int, bosID: Int, eosID: Int, byteFallback: Bool) throws {
        guard pieces.count <= Self.maxPieces else {
            throw InputError(.overLimit, "\(pieces.count) pieces exceed the cap of \(Self.maxPieces)")
        }
        self.pieces = pieces
        modelType = 2
        self.byteFallback = byteFallback
        self.unkID = unkID
        self.bosID = bosID
        self.eosID = eosID
        normalizerName = "identity"
        removeExtraWhitespaces = false
        try checkIDs()
    }

    private func checkIDs() throws {
        guard !pieces.isEmpty else { throw InputError(.missing, "the model has no pieces") }
        for (name, id) in [("unk_id", unkID), ("bos_id", bosID), ("eos_id", eosID)] where id >= pieces.count || id < -1 {
            throw InputError(.outOfRange, "\(name) \(id) is outside the \(pieces.count) pieces")
        }
    }

    private mutating func parseModel(_ bytes: UnsafeRawBufferPointer) throws {
        var reader = ProtobufReader(bytes, baseOffset: 0)
        while let field = try reader.nextField() {
            switch (field.number, field.type) {
            case (1, .lengthDelimited):
                guard pieces.count < Self.maxPieces else {
                    throw InputError(.overLimit, "more than \(Self.maxPieces) pieces", at: .byteOffset(reader.fileOffset))
                }
                let (payload, offset) = try reader.lengthDelimited("piece")
                pieces.append(try Self.parsePiece(payload, offset: offset))
            case (2, .lengthDelimited):
                let (payload, offset) = try reader.lengthDelimited("trainer_spec")
                try parseTrainerSpec(payload, offset: offset)
            case (3, .lengthDelimited):
                let (payload, offset) = try reader.lengthDelimited("normalizer_spec")
                try parseNormalizerSpec(payload, offset: offset)
            default:
                try reader.skip(field.type, "field \(field.number)")
            }
        }
    }

    private static func parsePiece(_ payload: UnsafeRawBufferPointer, offset: Int) throws -> Piece {
        var reader = ProtobufReader(payload, baseOffset: offset)
        var piece = Piece(bytes: [], score: 0, type: .normal)
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                try reader.expect(.lengthDelimited, got: field.type, "piece text")
                let (text, at) = try reader.lengthDelimited("piece text")
                guard text.count <= maxPieceBytes else {
                    throw InputError(.overLimit, "piece of \(text.count) bytes exceeds the cap of \(maxPieceBytes)", at: .byteOffset(at))
                }
                piece.bytes = Array(text)
            case 2:
                try reader.expect(.fixed32, got: field.type, "piece score")
                piece.score = Float(bitPattern: try reader.fixed32("piece score"))
            case 3:
                try reader.expect(.varint, got: field.type, "piece type")
                let at = reader.fileOffset
                let raw = try reader.varint("piece type")
                guard let type = PieceType(rawValue: raw) else {
                    throw InputError(.malformed, "unknown piece type \(raw)", at: .byteOffset(at))
                }
                piece.type = type
            default:
                try reader.skip(field.type, "piece field \(field.number)")
            }
        }
        return piece
    }

    /// int32 fields arrive as varints; negative values are 10-byte two's complement.
    private static func int32(_ raw: UInt64, _ what: String, at offset: Int) throws -> Int {
        let value = Int64(bitPattern: raw)
        guard value >= Int64(Int32.min), value <= Int64(Int32.max) else {
            throw InputError(.outOfRange, "\(what) \(value) is not an int32", at: .byteOffset(offset))
        }
        return Int(value)
    }

    private mutating func parseTrainerSpec(_ payload: UnsafeRawBufferPointer, offset: Int) throws {
        var reader = ProtobufReader(payload, baseOffset: offset)
        while let field = try reader.nextField() {
            let at = reader.fileOffset
            switch (field.number, field.type) {
            case (3, .varint): modelType = try reader.varint("model_type")
            case (24, .varint): treatWhitespaceAsSuffix = try reader.varint("treat_whitespace_as_suffix") != 0
            case (35, .varint): byteFallback = try reader.varint("byte_fallback") != 0
            case (40, .varint): unkID = try Self.int32(try reader.varint("unk_id"), "unk_id", at: at)
            case (41, .varint): bosID = try Self.int32(try reader.varint("bos_id"), "bos_id", at: at)
            case (42, .varint): eosID = try Self.int32(try reader.varint("eos_id"), "eos_id", at: at)
            case (43, .varint): padID = try Self.int32(try reader.varint("pad_id"), "pad_id", at: at)
            case (44, .lengthDelimited): unkSurface = Array(try reader.lengthDelimited("unk_surface").bytes)
            default: try reader.skip(field.type, "trainer_spec field \(field.number)")
            }
        }
    }

    private mutating func parseNormalizerSpec(_ payload: UnsafeRawBufferPointer, offset: Int) throws {
        var reader = ProtobufReader(payload, baseOffset: offset)
        while let field = try reader.nextField() {
            switch (field.number, field.type) {
            case (1, .lengthDelimited):
                normalizerName = String(decoding: try reader.lengthDelimited("normalizer name").bytes, as: UTF8.self)
            case (2, .lengthDelimited): hasCharsMap = !(try reader.lengthDelimited("precompiled_charsmap").bytes.isEmpty)
            case (3, .varint): addDummyPrefix = try reader.varint("add_dummy_prefix") != 0
            case (4, .varint): removeExtraWhitespaces = try reader.varint("remove_extra_whitespaces") != 0
            case (5, .varint): escapeWhitespaces = try reader.varint("escape_whitespaces") != 0
            default: try reader.skip(field.type, "normalizer_spec field \(field.number)")
            }
        }
    }
}
