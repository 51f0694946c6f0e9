import BinaryIO
import TensorCore

/// Writes GGUF v3 (`docs/formats.md` §3.1–§3.2): header, metadata in insertion order,
/// tensor infos with sequential aligned offsets, then tensor data streamed one tensor at a time
/// into an `AtomicOutputFile` (nothing appears at the target until the file is complete).
public struct GGUFWriter {
    public struct Tensor: Sendable {
        public var name: String
        /// Row-major shape (written reversed: GGUF's `ne[0]` is the innermost dimension).
        public var shape: [Int]
        public var type: GGMLType
        public var byteCount: Int
    }

    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [Tensor] = []
    public let alignment: Int

    public init(alignment: Int = 32) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0)
        self.alignment = alignment
    }

    public mutating func add(_ key: String, _ value: GGUFValue) {
        precondition(!metadata.contains { $0.key == key }, "duplicate key \(key)")
        metadata.append((key, value))
    }

    /// - Throws: `InputError` when the innermost dimension is not a whole number of blocks.
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType) throws {
        let inner = shape.last ?? 1
        guard type.layout.holdsWholeBlocks(inner) else {
            throw InputError(
                .malformed,
                "innermost dimension \(inner) is not a multiple of \(type.name)'s block of \(type.layout.elements)", at: .tensor(name))
        }
        let count = shape.reduce(1, *)
        tensors.append(Tensor(name: name, shape: shape, type: type, byteCount: type.layout.byteCount(elements: count)))
    }

    private func padded(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }

    /// The header: magic … tensor infos, padded to the alignment.
    public func header() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            out += s.utf8
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .u8(let x): out.append(x)
            case .i8(let x): out.append(UInt8(bitPattern: x))
            case .u16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .i16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .u32(let x): u32(x)
            case .i32(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .f32(let x): u32(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let x): string(x)
            case .u64(let x): u64(x)
            case .i64(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
            case .f64(let x): u64(x.bitPattern)
            case .array(let type, let items):
                u32(type.rawValue)
                u64(UInt64(items.count))
                for item in items { value(item) }
            }
        }
        out += Array("GGUF".utf8)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, v) in metadata {
            string(key)
            u32(v.type.rawValue)
            value(v)
        }
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for dimension in tensor.shape.reversed() { u64(UInt64(dimension)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offset += padded(tensor.byteCount)
        }
        out += [UInt8](repeating: 0, count: padded(out.count) - out.count)
        return out
    }

    /// Writes the file, or with `split` llama.cpp's split set `PREFIX-00001-of-0000N.gguf` …
    /// (`docs/split-gguf.md`; PREFIX is `path` without `.gguf`); `fill(i, sink)` must pass
    /// exactly tensor i's bytes to `sink` (in one or more calls), called once per tensor in order.
    /// Every member is written to a temporary file and renamed only when all are complete, the
    /// first member last, so a reader never sees a partial set through its first file.
    /// - Returns: the paths written, first member first.
    /// - Throws: `InputError` when a tensor's bytes do not add up, or the OS refuses a write;
    ///   the targets are then left as they were.
    /// - Parameters:
    ///   - sync: fsync before the rename (the default); see `AtomicOutputFile.commit`.
    ///   - permissions: every output's permission bits (see `AtomicOutputFile.init`).
    @discardableResult
    public func write(
        to path: String, split: GGUFSplit.Limit? = nil, sync: Bool = true, permissions: UInt32? = nil, fill: (Int, Sink) throws -> Void
    ) throws -> [String] {
        let members = try self.members(split: split, path: path)
        var files: [AtomicOutputFile] = []
        for member in members {
            let file = try AtomicOutputFile(path: member.path, permissions: permissions)
            files.append(file)
            try member.writer.write(to: file, first: member.range.lowerBound, fill: fill)
            try file.finish(sync: sync)
        }
        try Self.publish(files)
        return files.map(\.path)
    }

    /// The writer and path of each member, with the range of this writer's tensors it holds.
    private func members(split: GGUFSplit.Limit?, path: String) throws -> [(writer: GGUFWriter, path: String, range: Range<Int>)] {
        guard let split else { return [(self, path, tensors.indices)] }
        let groups = GGUFSplit.groups(byteCounts: tensors.map(\.byteCount), limit: split)
        guard groups.count <= Int(UInt16.max), tensors.count <= Int(Int32.max) else {
            throw InputError(.overLimit, "\(groups.count) files: llama.cpp's split.count is a u16, at most 65535", file: path)
        }
        let prefix = GGUFSplit.prefix(ofOutput: path)
        return groups.enumerated().map { index, range in
            // Later members carry no general.alignment, so readers take them at GGUF's default.
            var member = GGUFWriter(alignment: index == 0 ? alignment : 32)
            if index == 0 { member.metadata = metadata }
            // llama-gguf-split's order: it sets split.count last, once it knows the count.
            member.add(GGUFSplit.numberKey, .u16(UInt16(index)))
            member.add(GGUFSplit.tensorCountKey, .i32(Int32(tensors.count)))
            member.add(GGUFSplit.countKey, .u16(UInt16(groups.count)))
            member.tensors = Array(tensors[range])
            return (member, GGUFSplit.path(prefix: prefix, index: index, count: groups.count), range)
        }
    }

    /// Later members first, the first member last; on a failure the ones already renamed are
    /// removed again.
    private static func publish(_ files: [AtomicOutputFile]) throws {
        var published: [AtomicOutputFile] = []
        do {
            for file in files.dropFirst() + files.prefix(1) {
                try file.publish()
                published.append(file)
            }
        } catch {
            for file in published { file.withdraw() }
            throw error
        }
    }

    /// This writer's header and tensors into `file`; tensor i here is tensor `first + i` of `fill`.
    private func write(to file: AtomicOutputFile, first: Int, fill: (Int, Sink) throws -> Void) throws {
        try file.write(header())
        for (index, tensor) in tensors.enumerated() {
            let start = file.bytesWritten
            try fill(first + index, Sink(file: file))
            let written = file.bytesWritten - start
            guard written == tensor.byteCount else {
                throw InputError(
                    .mismatch,
                    "\(written) bytes were produced, \(tensor.byteCount) expected for \(tensor.type.name) \(tensor.shape)",
                    at: .tensor(tensor.name))
            }
            try file.writeZeros(padded(written) - written)
        }
    }

    /// Where `fill` sends a tensor's bytes: `sink(bytes)`, or `sink.copy(range)` to have the
    /// kernel copy them straight from the source file.
    public struct Sink {
        let file: AtomicOutputFile

        public func callAsFunction(_ bytes: UnsafeRawBufferPointer) throws { try file.write(bytes) }

        public func copy(_ range: StoredRange) throws { try file.copy(from: range.file, offset: range.offset, count: range.count) }
    }
}
