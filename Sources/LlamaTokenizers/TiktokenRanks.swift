import BinaryIO

/// A Llama 3 `tokenizer.model`: lines of `base64(token bytes) SP rank`
/// (`docs/formats.md` §5.1).
///
/// Keyed by bytes, never by `String` (which would merge canonically equivalent text). Unlike
/// Meta's loader, which skips unparsable lines, a bad line is an error naming its number.
public struct TiktokenRanks: Sendable {
    /// Rank by token bytes, and bytes by rank.
    let table: TokenTable

    public static let maxFileBytes = 64 << 20
    public static let maxTokenBytes = 1024
    public static let maxRanks = 1 << 20

    /// - Throws: `InputError` at the offending line's byte offset: bad base64, a rank that is not
    ///   a decimal integer, duplicate ranks or tokens, gaps, or a missing single byte.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= Self.maxFileBytes else {
            throw InputError(.overLimit, "ranks file of \(bytes.count) bytes exceeds the cap of \(Self.maxFileBytes)")
        }
        // Tokens are decoded straight into one blob; `entries` remembers where each line's went.
        var blob: [UInt8] = []
        blob.reserveCapacity(bytes.count)
        var entries: [(start: Int, end: Int, line: Int, offset: Int)] = []
        var entryOfRank: [Int] = []
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            lineNumber += 1
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            defer { lineStart = lineEnd + 1 }
            var line = bytes[lineStart..<lineEnd]
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty { continue }
            func bad(_ kind: InputError.Kind, _ message: String) -> InputError {
                InputError(kind, "line \(lineNumber): \(message)", at: .byteOffset(lineStart))
            }
            guard let space = line.firstIndex(of: 0x20) else { throw bad(.mismatch, "expected 'base64 rank', found no space") }
            let tokenStart = blob.count
            guard Base64.decode(line[..<space], appendingTo: &blob) else { throw bad(.malformed, "the token is not valid base64") }
            guard blob.count - tokenStart <= Self.maxTokenBytes else {
                throw bad(.overLimit, "token of \(blob.count - tokenStart) bytes exceeds the cap of \(Self.maxTokenBytes)")
            }
            let digits = line[(space + 1)...]
            guard !digits.isEmpty, digits.count <= 7, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw bad(
                    .malformed, "the rank '\(String(decoding: digits.prefix(20), as: UTF8.self))' is not a decimal integer below 10,000,000"
                )
            }
            let rank = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard rank < Self.maxRanks else { throw bad(.overLimit, "rank \(rank) exceeds the cap of \(Self.maxRanks) ranks") }
            if rank >= entryOfRank.count { entryOfRank += [Int](repeating: -1, count: rank + 1 - entryOfRank.count) }
            guard entryOfRank[rank] < 0 else { throw bad(.malformed, "rank \(rank) appears twice") }
            entryOfRank[rank] = entries.count
            entries.append((tokenStart, blob.count, lineNumber, lineStart))
        }
        if let gap = entryOfRank.firstIndex(where: { $0 < 0 }) {
            throw InputError(.missing, "ranks are not dense: rank \(gap) is missing (\(entryOfRank.count) ranks)")
        }
        // Inserted in rank order, so a table position is the rank.
        var lookup = TokenTable(capacity: entries.count)
        for (rank, entryIndex) in entryOfRank.enumerated() {
            let entry = entries[entryIndex]
            if let earlier = lookup.append(blob[entry.start..<entry.end]) {
                let other = entries[entryOfRank[earlier]]
                let later = other.line > entry.line ? other : entry
                throw InputError(
                    .malformed,
                    "line \(later.line): token bytes \(Array(blob[entry.start..<entry.end])) appear twice (ranks \(min(earlier, rank)) and \(max(earlier, rank)))",
                    at: .byteOffset(later.offset))
            }
        }
        try Self.checkSingleBytes(lookup)
        table = lookup
    }

    /// Ranks from token bytes in rank order (index = rank), as GGUF `gpt2` vocabularies and
    /// tokenizer.json files give them once spelled back to bytes.
    /// - Throws: `InputError` (without a location) for too many ranks, an empty or too long
    ///   token, a token twice, or a missing single byte.
    public init(tokens: [[UInt8]]) throws {
        guard tokens.count <= Self.maxRanks else {
            throw InputError(.overLimit, "\(tokens.count) ranks exceed the cap of \(Self.maxRanks)")
        }
        var lookup = TokenTable(capacity: tokens.count)
        for (rank, token) in tokens.enumerated() {
            guard !token.isEmpty else { throw InputError(.malformed, "token \(rank) is empty") }
            guard token.count <= Self.maxTokenBytes else {
                throw InputError(.overLimit, "token \(rank) of \(token.count) bytes exceeds the cap of \(Self.maxTokenBytes)")
            }
            if let earlier = lookup.append(token[...]) {
                throw InputError(.malformed, "tokens \(earlier) and \(rank) are the same bytes \(token.prefix(16))")
            }
        }
        try Self.checkSingleBytes(lookup)
        table = lookup
    }

    private static func checkSingleBytes(_ lookup: TokenTable) throws {
        for byte in 0...255 where lookup.rank([UInt8(byte)][...]) == nil {
            throw InputError(.missing, "the single byte 0x\(String(byte, radix: 16)) has no rank; byte-level BPE needs all 256")
        }
    }

    public var count: Int { table.count }

    /// The bytes of rank (= id) `rank`.
    public func bytes(of rank: Int) -> ArraySlice<UInt8> { table.bytes(of: rank) }

    /// The rank of exactly these bytes, if they are a token.
    @inline(__always) public func rank(_ bytes: ArraySlice<UInt8>) -> Int32? { table.rank(bytes) }
}
