import BinaryIO

/// A base model's log-probabilities over a text, stored once and compared against many
/// quantizations: llama.cpp's `--kl-divergence-base` layout (`docs/perplexity.md` §4), so files
/// move between the two tools.
///
///     "_logits_"  i32 ctx  i32 vocab  i32 chunks  i32 tokens[ctx × chunks]
///     then per chunk, per scored position (ctx − 1 − ctx/2 of them): one `LogProbRow`
///
/// All little-endian. Every scored position costs 2 × vocab + 8 bytes (257 KB for Llama 3).
public final class LogitsFile {
    public static let magic = Array("_logits_".utf8)
    static let headerSize = 20

    public let path: String
    public let context: Int
    public let vocab: Int
    public let chunks: Int
    /// The text's tokens as evaluated (before BOS replaces each chunk's first one).
    public let tokens: [Int]
    private let file: MappedFile

    public var rowWidth: Int { LogProbRow.width(vocab: vocab) }
    public var scoredPerChunk: Int { context - 1 - context / 2 }

    /// Reads and checks the header and tokens; rows are read in place when asked for.
    /// - Throws: `InputError` for a file that is not a logits file, whose sizes disagree with
    ///   its length, or whose tokens fall outside its vocabulary.
    public init(path: String) throws {
        self.path = path
        let mapped = try MappedFile(path: path)
        file = mapped
        let size = mapped.size
        let (context, vocab, chunks, tokens) = try attributing(to: path) {
            try mapped.withBytes(0..<size) { bytes in
                var reader = ByteReader(bytes)
                return try Self.parseHeader(&reader, fileSize: size)
            }
        }
        (self.context, self.vocab, self.chunks, self.tokens) = (context, vocab, chunks, tokens)
        try checkRowHeaders()
    }

    private static func parseHeader(_ r: inout ByteReader, fileSize: Int) throws -> (Int, Int, Int, [Int]) {
        guard fileSize >= headerSize, Array(try r.bytes(8)) == magic else {
            throw r.error(.malformed, "not a logits file: expected the 8 bytes \"_logits_\" then 12 bytes of sizes", at: 0)
        }
        let context = Int(try r.i32le("context")), vocab = Int(try r.i32le("vocabulary")), chunks = Int(try r.i32le("chunks"))
        guard (2...(1 << 20)).contains(context) else {
            throw r.error(.outOfRange, "context \(context) is outside 2…1048576", at: 8)
        }
        guard (1...(1 << 24)).contains(vocab) else { throw r.error(.outOfRange, "vocabulary \(vocab) is outside 1…16777216", at: 12) }
        guard (1...(1 << 24)).contains(chunks) else { throw r.error(.outOfRange, "chunk count \(chunks) is outside 1…16777216", at: 16) }
        let tokenCount = try Checked.multiply(context, chunks, "tokens")
        let rows = try Checked.multiply(context - 1 - context / 2, chunks, "rows")
        let rowBytes = try Checked.multiply(rows, 2 * LogProbRow.width(vocab: vocab), "row bytes")
        let expected = try Checked.add(headerSize, try Checked.add(4 * tokenCount, rowBytes, "file size"), "file size")
        guard expected == fileSize else {
            throw r.error(
                .mismatch,
                "a context of \(context), \(chunks) chunks and a vocabulary of \(vocab) need \(expected) bytes, the file has \(fileSize)",
                at: headerSize)
        }
        var tokens = [Int](repeating: 0, count: tokenCount)
        for i in tokens.indices {
            let id = Int(try r.i32le("token"))
            guard id >= 0 && id < vocab else {
                throw r.error(.outOfRange, "token \(i) is \(id), outside the vocabulary 0..<\(vocab)", at: headerSize + 4 * i)
            }
            tokens[i] = id
        }
        return (context, vocab, chunks, tokens)
    }

    /// Every row's step must be finite and ≥ 0 and its floor finite and ≤ 0, or the statistics
    /// read from it would be NaN without saying where.
    private func checkRowHeaders() throws {
        let rows = scoredPerChunk * chunks
        let start = Self.headerSize + 4 * tokens.count, stride = 2 * rowWidth
        try file.withBytes(start..<file.size) { bytes in
            for row in 0..<rows {
                let scale = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: row * stride, as: UInt32.self))
                let floor = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: row * stride + 4, as: UInt32.self))
                guard scale.isFinite, scale >= 0, floor.isFinite, floor <= 0 else {
                    throw InputError(
                        .outOfRange, "row \(row) has step \(scale) and floor \(floor): expected a finite step ≥ 0 and floor ≤ 0",
                        at: .byteOffset(start + row * stride), file: path)
                }
            }
        }
    }

    /// Calls `body` with chunk `chunk`'s rows, `scoredPerChunk × rowWidth` UInt16 values.
    public func withRows<R>(ofChunk chunk: Int, _ body: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        precondition(chunk >= 0 && chunk < chunks)
        let bytes = 2 * rowWidth * scoredPerChunk
        let start = Self.headerSize + 4 * tokens.count + chunk * bytes
        return try file.withBytes(start..<(start + bytes)) { raw in
            try raw.withMemoryRebound(to: UInt16.self) { try body($0) }
        }
    }

    /// Writes a logits file chunk by chunk through a temporary file; `commit` makes it appear.
    public final class Writer {
        private let output: AtomicOutputFile
        private let expectedRows: Int
        private var rowsWritten = 0
        let rowWidth: Int

        /// - Throws: `InputError` when the directory is not writable.
        public init(path: String, context: Int, vocab: Int, chunks: Int, tokens: ArraySlice<Int>) throws {
            precondition(tokens.count == context * chunks)
            output = try AtomicOutputFile(path: path)
            rowWidth = LogProbRow.width(vocab: vocab)
            expectedRows = (context - 1 - context / 2) * chunks
            var header = LogitsFile.magic
            for value in [context, vocab, chunks] + Array(tokens) { withUnsafeBytes(of: Int32(value).littleEndian) { header += $0 } }
            try output.write(header)
        }

        /// Appends rows (`rows × rowWidth` values, in order).
        public func append(_ rows: UnsafeBufferPointer<UInt16>) throws {
            precondition(rows.count % rowWidth == 0)
            try output.write(UnsafeRawBufferPointer(rows))
            rowsWritten += rows.count / rowWidth
        }

        public func commit(sync: Bool = true) throws {
            precondition(rowsWritten == expectedRows, "\(rowsWritten) rows of \(expectedRows)")
            try output.commit(sync: sync)
        }
    }
}
