import BinaryIO
import GGUF

/// An importance matrix (imatrix) file, read as hostile input, turned into the per-column weights
/// llama.cpp's `llama-quantize --imatrix` hands its quantizer (`docs/imatrix.md`).
///
/// Two formats, told apart by the first four bytes: a GGUF file (`GGUF` magic) holding one
/// `<tensor>.in_sum2` / `<tensor>.counts` pair of f32 tensors per weight, and the older binary
/// `.dat` format (anything else). Both become, per tensor, the mean squared activation of each
/// input column (for each expert of a mixture-of-experts tensor), which is what the quantizer
/// weighs its rounding errors by.
public struct ImportanceMatrix: Sendable {
    public enum Format: String, Sendable { case legacy, gguf }

    /// Caps beyond what the file size already bounds (`docs/imatrix.md`).
    public enum Limits {
        /// A legacy entry name; ggml names are at most 63 bytes.
        public static let maxNameBytes = 1024
        /// Legacy entries (a model has thousands of matrices at most): each costs a dictionary
        /// slot and a name, far more memory than its 17 smallest bytes in the file.
        public static let maxEntries = 1 << 20
    }

    public let format: Format
    /// The path as given to `load(path:)`, which `quantize.imatrix.file` records.
    public let path: String
    /// The calibration text files it was computed on, as llama-quantize reports them.
    public let datasets: [String]
    /// Chunks of `chunkSize` tokens it was computed on; nil when a legacy file does not say.
    public let chunkCount: Int?
    /// Tokens per chunk (GGUF only).
    public let chunkSize: Int?
    /// Every tensor with weights, sorted bytewise.
    public let tensorNames: [String]
    /// The quantizer's weights per tensor: `columns × experts` values, expert-major.
    private let entries: [String: [Float]]

    /// Reads `path`, GGUF if it starts with `GGUF`, the legacy format otherwise.
    /// - Throws: `InputError` naming the file and the byte offset or tensor of the first problem.
    public static func load(path: String) throws -> ImportanceMatrix {
        let file = try FileReader(path: path)
        let isGGUF = try file.size >= 4 && file.bytes(0..<4) == Array("GGUF".utf8)
        return try attributing(to: path) {
            isGGUF ? try loadGGUF(path: path) : try loadLegacy(try file.map())
        }
    }

    private init(format: Format, path: String, datasets: [String], chunkCount: Int?, chunkSize: Int?, entries: [String: [Float]]) {
        self.format = format
        self.path = path
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.chunkSize = chunkSize
        self.entries = entries
        tensorNames = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The weights llama-quantize hands the quantizer for `tensor` (a GGUF name such as
    /// `blk.0.attn_q.weight`), or nil when the file has none for it.
    ///
    /// - Parameters:
    ///   - columns: the tensor's row length (GGUF `ne[0]`).
    ///   - experts: the number of experts (GGUF `ne[2]`), 1 for an ordinary matrix.
    /// - Returns: `columns × experts` values, expert after expert. As in llama.cpp, an entry for
    ///   `token_embd.weight` or `per_layer_token_embd.weight` of the wrong length is ignored
    ///   (nil): the embedding table is never multiplied by activations, so its entry is noise.
    /// - Throws: `InputError` (`.mismatch`) naming the tensor when the entry has another length;
    ///   llama-quantize stops there too rather than quantize without it.
    public func weights(for tensor: String, columns: Int, experts: Int = 1) throws -> [Float]? {
        precondition(columns > 0 && experts > 0, "columns and experts must be positive")
        guard let weights = entries[tensor] else { return nil }
        let (expected, overflow) = columns.multipliedReportingOverflow(by: experts)
        if !overflow && weights.count == expected { return weights }
        if tensor == "token_embd.weight" || tensor == "per_layer_token_embd.weight" { return nil }
        throw InputError(
            .mismatch,
            "importance matrix entry has \(weights.count) values; expected \(columns) columns × \(experts) expert\(experts == 1 ? "" : "s")",
            at: .tensor(tensor), file: path)
    }

    /// The `quantize.imatrix.*` keys llama-quantize adds to the GGUF it writes, in its order:
    /// the imatrix path and the first dataset (each cut to at most 127 bytes), the number of
    /// entries, and the chunk count when positive (the two counts as u32).
    public var ggufKeys: [(String, GGUFValue)] {
        var keys: [(String, GGUFValue)] = [("quantize.imatrix.file", .string(Self.cut(path)))]
        if let dataset = datasets.first { keys.append(("quantize.imatrix.dataset", .string(Self.cut(dataset)))) }
        keys.append(("quantize.imatrix.entries_count", .u32(UInt32(entries.count))))
        if let chunkCount, chunkCount > 0 { keys.append(("quantize.imatrix.chunks_count", .u32(UInt32(chunkCount)))) }
        return keys
    }

    /// At most 127 bytes (llama-quantize's `strncpy` into a 128-byte override), and never half a
    /// character: llama.cpp may cut inside one, which would leave invalid UTF-8 in the GGUF.
    static func cut(_ text: String) -> String {
        var end = text.startIndex
        var bytes = 0
        for index in text.unicodeScalars.indices {
            let length = text.unicodeScalars[index].utf8.count
            guard bytes + length <= 127 else { break }
            bytes += length
            end = text.unicodeScalars.index(after: index)
        }
        return String(text.unicodeScalars[..<end])
    }

    /// Text up to its first NUL: llama.cpp keeps dataset names as C strings.
    static func cString(_ text: String) -> String {
        guard let nul = text.firstIndex(of: "\0") else { return text }
        return String(text[..<nul])
    }

    /// Refuses a non-finite weight, as llama-quantize does before quantizing anything.
    static func checkFinite(_ weights: [Float], _ name: String, _ how: String) throws {
        guard let index = weights.firstIndex(where: { !$0.isFinite }) else { return }
        throw InputError(
            .notAllowed,
            "importance \(index) is \(weights[index]) (\(how)); expected finite values (llama-quantize refuses non-finite ones)",
            at: .tensor(name))
    }
}

// MARK: - Legacy `.dat`

extension ImportanceMatrix {
    /// i32 entry count; per entry i32 name length, name, i32 ncall, i32 nval, nval f32 (each the
    /// mean squared activation times ncall); then optionally i32 chunk count, i32 dataset length
    /// and the dataset name. Little-endian throughout.
    static func loadLegacy(_ file: MappedFile) throws -> ImportanceMatrix {
        try file.withBytes(0..<file.size) { raw in
            var r = ByteReader(raw)
            let countAt = r.fileOffset
            let count = Int(try r.i32le("entry count"))
            guard count > 0 else {
                throw InputError(
                    count == 0 ? .missing : .outOfRange, "entry count is \(count); expected at least 1", at: .byteOffset(countAt))
            }
            guard count <= Limits.maxEntries else {
                throw InputError(.overLimit, "entry count \(count) exceeds the cap of \(Limits.maxEntries)", at: .byteOffset(countAt))
            }
            // No reservation by `count`: each entry takes at least 17 bytes or throws, so the
            // loop is bounded by the file size.
            var entries: [String: [Float]] = [:]
            for _ in 0..<count {
                let (name, weights) = try legacyEntry(&r)
                guard entries.updateValue(weights, forKey: name) == nil else {
                    throw InputError(.mismatch, "duplicate entry; expected each tensor once", at: .tensor(name))
                }
            }
            let (chunkCount, datasets) = try legacyTrailer(&r)
            return ImportanceMatrix(
                format: .legacy, path: file.path, datasets: datasets, chunkCount: chunkCount, chunkSize: nil, entries: entries)
        }
    }

    private static func nonNegative(_ r: inout ByteReader, _ what: String) throws -> Int {
        let at = r.fileOffset
        let value = try r.i32le(what)
        guard value >= 0 else { throw InputError(.outOfRange, "\(what) is \(value); expected 0 or more", at: .byteOffset(at)) }
        return Int(value)
    }

    private static func legacyEntry(_ r: inout ByteReader) throws -> (String, [Float]) {
        let at = r.fileOffset
        let length = try nonNegative(&r, "name length")
        guard length > 0 else { throw InputError(.malformed, "empty entry name; expected a tensor name", at: .byteOffset(at)) }
        guard length <= Limits.maxNameBytes else {
            throw InputError(.overLimit, "name length \(length) exceeds the cap of \(Limits.maxNameBytes) bytes", at: .byteOffset(at))
        }
        let bytes = try r.bytes(length, "entry name")
        guard !bytes.contains(0), let name = String(validating: bytes, as: UTF8.self) else {
            throw InputError(.malformed, "entry name is not NUL-free UTF-8; expected a tensor name", at: .byteOffset(at + 4))
        }
        let ncall = try nonNegative(&r, "ncall of '\(name)'")
        let valuesAt = r.fileOffset
        let nval = Int(try r.i32le("value count of '\(name)'"))
        guard nval > 0 else {
            throw InputError(.outOfRange, "'\(name)' has \(nval) values; expected at least 1", at: .byteOffset(valuesAt))
        }
        guard nval <= r.remaining / 4 else {
            throw InputError(
                .truncated, "truncated: '\(name)' declares \(nval) values (\(nval * 4) bytes), \(r.remaining) remain",
                at: .byteOffset(valuesAt))
        }
        let values = try r.bytes(nval * 4, "values of '\(name)'")
        // The file stores mean × ncall; llama-quantize divides by ncall (and keeps the values as
        // they are when ncall is 0).
        let divisor = Float(ncall)
        let weights = (0..<nval).map { index in
            let value = Float(bitPattern: UInt32(littleEndian: values.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            return ncall > 0 ? value / divisor : value
        }
        try checkFinite(weights, name, ncall > 0 ? "stored value / ncall \(ncall)" : "stored value, ncall 0")
        return (name, weights)
    }

    /// The optional trailer: nothing, the chunk count, or the chunk count and the dataset name.
    private static func legacyTrailer(_ r: inout ByteReader) throws -> (Int?, [String]) {
        guard !r.isAtEnd else { return (nil, []) }
        let chunkCount = try nonNegative(&r, "chunk count")
        guard !r.isAtEnd else { return (chunkCount, []) }
        let at = r.fileOffset
        let length = try nonNegative(&r, "dataset name length")
        let bytes = try r.bytes(length, "dataset name")
        guard let dataset = String(validating: bytes, as: UTF8.self) else {
            throw InputError(.malformed, "dataset name is not valid UTF-8", at: .byteOffset(at + 4))
        }
        guard r.isAtEnd else {
            throw InputError(
                .malformed, "\(r.remaining) bytes after the dataset name; expected the end of the file", at: .byteOffset(r.fileOffset))
        }
        let name = cString(dataset)
        return (chunkCount, name.isEmpty ? [] : [name])
    }
}

// MARK: - GGUF

extension ImportanceMatrix {
    static let sumsSuffix = ".in_sum2"
    static let countsSuffix = ".counts"

    /// `imatrix.datasets` (string array), `imatrix.chunk_count` and `imatrix.chunk_size` (u32),
    /// all required as llama-quantize requires them; per tensor an f32 `<name>.in_sum2` of
    /// `columns × experts` sums of squared activations and an f32 `<name>.counts` of `experts`
    /// token counts. Other tensors are ignored.
    static func loadGGUF(path: String) throws -> ImportanceMatrix {
        let file = try GGUFFile(path: path)
        guard !file.tensors.isEmpty else { throw InputError(.missing, "no tensors; expected <tensor>.in_sum2 and <tensor>.counts pairs") }
        let datasets: [String]
        switch file.value("imatrix.datasets") {
        case .array(.string, let items)?:
            datasets = items.compactMap { if case .string(let text) = $0 { cString(text) } else { nil } }
        case let other?:
            throw InputError(.mismatch, "expected an array of strings, found \(other.type)", at: .key("imatrix.datasets"))
        case nil:
            throw InputError(.missing, "missing; llama-quantize requires the imatrix metadata", at: .key("imatrix.datasets"))
        }
        let chunkCount = try u32(file, "imatrix.chunk_count")
        let chunkSize = try u32(file, "imatrix.chunk_size")

        var pairs: [String: (sums: GGUFFile.TensorInfo?, counts: GGUFFile.TensorInfo?)] = [:]
        for tensor in file.tensors {
            for suffix in [sumsSuffix, countsSuffix] where tensor.name.hasSuffix(suffix) {
                let base = String(decoding: tensor.name.utf8.dropLast(suffix.utf8.count), as: UTF8.self)
                guard !base.isEmpty else { throw InputError(.malformed, "no tensor name before '\(suffix)'", at: .tensor(tensor.name)) }
                if suffix == sumsSuffix {
                    pairs[base, default: (nil, nil)].sums = tensor
                } else {
                    pairs[base, default: (nil, nil)].counts = tensor
                }
            }
        }
        guard !pairs.isEmpty else {
            throw InputError(.missing, "no <tensor>.in_sum2 / <tensor>.counts pairs among \(file.tensors.count) tensors")
        }
        var entries: [String: [Float]] = [:]
        for (name, pair) in pairs {
            guard let sums = pair.sums, let counts = pair.counts else {
                let absent = name + (pair.sums == nil ? sumsSuffix : countsSuffix)
                throw InputError(
                    .missing, "no such tensor; expected it beside '\(name)\(pair.sums == nil ? countsSuffix : sumsSuffix)'",
                    at: .tensor(absent))
            }
            entries[name] = try ggufEntry(file, name, sums: sums, counts: counts)
        }
        return ImportanceMatrix(
            format: .gguf, path: path, datasets: datasets, chunkCount: chunkCount, chunkSize: chunkSize, entries: entries)
    }

    private static func u32(_ file: GGUFFile, _ key: String) throws -> Int {
        switch file.value(key) {
        case .u32(let value)?:
            // llama.cpp keeps these in an int32.
            guard value <= UInt32(Int32.max) else { throw InputError(.outOfRange, "\(value) exceeds \(Int32.max)", at: .key(key)) }
            return Int(value)
        case let other?: throw InputError(.mismatch, "expected a u32, found \(other.type)", at: .key(key))
        case nil: throw InputError(.missing, "missing; llama-quantize requires the imatrix metadata", at: .key(key))
        }
    }

    private static func floats(_ file: GGUFFile, _ tensor: GGUFFile.TensorInfo) throws -> [Float] {
        guard tensor.type == .f32 else {
            throw InputError(.unsupported, "type \(tensor.type.name); expected f32", at: .tensor(tensor.name))
        }
        return try file.withBytes(of: tensor.name) { raw in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// sums / round(count) per expert; 1 for an expert that never saw a token.
    private static func ggufEntry(_ file: GGUFFile, _ name: String, sums: GGUFFile.TensorInfo, counts: GGUFFile.TensorInfo) throws
        -> [Float]
    {
        let values = try floats(file, sums)
        let rawCounts = try floats(file, counts)
        guard !rawCounts.isEmpty, !values.isEmpty else {
            throw InputError(
                .outOfRange, "\(values.count) sums and \(rawCounts.count) counts; expected at least one of each",
                at: .tensor(name + (values.isEmpty ? sumsSuffix : countsSuffix)))
        }
        guard values.count % rawCounts.count == 0 else {
            throw InputError(
                .mismatch, "\(values.count) sums for \(rawCounts.count) counts; expected a whole number of columns per count",
                at: .tensor(name + sumsSuffix))
        }
        let columns = values.count / rawCounts.count
        var weights = values
        for (expert, raw) in rawCounts.enumerated() {
            // llama.cpp rounds each count to the nearest integer (lround), halves away from zero.
            guard raw.isFinite, raw >= 0, raw < 0x1p63 else {
                throw InputError(
                    raw.isFinite ? .outOfRange : .notAllowed, "count \(expert) is \(raw); expected a finite token count ≥ 0",
                    at: .tensor(name + countsSuffix))
            }
            let count = Float(Int64(raw.rounded(.toNearestOrAwayFromZero)))
            for column in expert * columns..<(expert + 1) * columns {
                weights[column] = count > 0 ? values[column] / count : 1
            }
        }
        try checkFinite(weights, name, "in_sum2 / counts")
        return weights
    }
}
