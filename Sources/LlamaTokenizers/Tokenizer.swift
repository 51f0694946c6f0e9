/// What every Llama tokenizer offers: text ↔ ids, exactly as the model's reference tokenizer.
public protocol Tokenizer: Sendable {
    /// Ids 0 ..< vocabularySize are valid.
    var vocabularySize: Int { get }
    var bosID: Int { get }
    var eosID: Int { get }
    /// Ids that end generation: end-of-text, and for Llama 3 end-of-turn and end-of-message.
    var stopIDs: Set<Int> { get }

    /// Encodes `text` as the reference does; `allowSpecial` lets special-token text (e.g.
    /// `<|eot_id|>`) become its id instead of plain text.
    func encode(_ text: String, bos: Bool, eos: Bool, allowSpecial: Bool) -> [Int]

    /// Decodes ids to text, invalid UTF-8 replaced as the reference does.
    /// - Throws: `InputError` for an id outside the vocabulary.
    func decode(_ ids: [Int]) throws -> String

    /// The raw bytes (or text) of one id, for showing pieces.
    func pieceBytes(_ id: Int) throws -> [UInt8]
}
