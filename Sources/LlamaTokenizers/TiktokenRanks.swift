import BinaryIO

/// A Llama 3 `tokenizer.model`: lines of `base64(token bytes) SP rank`
/// (`../shared/reference/tokenizers.md` §1).
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
            throw InputError("ranks file of \(bytes.count) bytes exceeds the cap of \(Self.maxFileBytes)")
        }
        var byRank: [[UInt8]?] = []
        var lineOfRank: [(number: Int, offset: Int)] = []
        var lookup = TokenTable(capacity: bytes.count / 8 + 256)
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            lineNumber += 1
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            defer { lineStart = lineEnd + 1 }
            var line = bytes[lineStart..<lineEnd]
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty { continue }
            func bad(_ message: String) -> InputError {
                InputError("line \(lineNumber): \(message)", at: .byteOffset(lineStart))
            }
            guard let space = line.firstIndex(of: 0x20) else { throw bad("expected 'base64 rank', found no space") }
            guard let token = Base64.decode(line[..<space]) else { throw bad("the token is not valid base64") }
            guard token.count <= Self.maxTokenBytes else {
                throw bad("token of \(token.count) bytes exceeds the cap of \(Self.maxTokenBytes)")
            }
            let digits = line[(space + 1)...]
            guard !digits.isEmpty, digits.count <= 7, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw bad("the rank '\(String(decoding: digits.prefix(20), as: UTF8.self))' is not a decimal integer below 10,000,000")
            }
            let rank = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard rank < Self.maxRanks else { throw bad("rank \(rank) exceeds the cap of \(Self.maxRanks) ranks") }
            if rank >= byRank.count {
                byRank += [[UInt8]?](repeating: nil, count: rank + 1 - byRank.count)
                lineOfRank += [(Int, Int)](repeating: (0, 0), count: rank + 1 - lineOfRank.count)
            }
            guard byRank[rank] == nil else { throw bad("rank \(rank) appears twice") }
            byRank[rank] = token
            lineOfRank[rank] = (lineNumber, lineStart)
        }
        if let gap = byRank.firstIndex(where: { $0 == nil }) {
            throw InputError("ranks are not dense: rank \(gap) is missing (\(byRank.count) ranks)")
        }
        // Inserted in rank order, so a table position is the rank.
        for (rank, token) in byRank.enumerated() {
            if let earlier = lookup.append(token!) {
                let (first, second) = lineOfRank[earlier].number < lineOfRank[rank].number ? (earlier, rank) : (rank, earlier)
                throw InputError(
                    "line \(lineOfRank[second].number): token bytes \(token!) appear twice (ranks \(first) and \(second))",
                    at: .byteOffset(lineOfRank[second].offset))
            }
        }
        for byte in 0...255 where lookup.rank([UInt8(byte)][...]) == nil {
            throw InputError("the single byte 0x\(String(byte, radix: 16)) has no rank; byte-level BPE needs all 256")
        }
        table = lookup
    }

    public var count: Int { table.count }

    /// The bytes of rank (= id) `rank`.
    public func bytes(of rank: Int) -> ArraySlice<UInt8> { table.bytes(of: rank) }

    /// The rank of exactly these bytes, if they are a token.
    @inline(__always) func rank(_ bytes: ArraySlice<UInt8>) -> Int32? { table.rank(bytes) }
}
