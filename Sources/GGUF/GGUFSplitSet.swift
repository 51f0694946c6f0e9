import BinaryIO
import TensorCore

/// A GGUF model as one tensor source, whether it is one file or a llama.cpp split set given by
/// its first member (`docs/split-gguf.md`). A file without `split.count` (or with 0, as
/// llama-gguf-split's merged output says) is a set of one.
///
/// The whole set is checked before any work: every member present under llama.cpp's name,
/// each one's `split.no` its place, `split.count` and `split.tensors.count` the same
/// everywhere, the tensors adding up to `split.tensors.count`, no tensor name twice.
/// Metadata comes from the first member, without the split keys (they describe files, not the
/// model); each tensor's bytes are served in place from its own member.
public final class GGUFSplitSet: TensorSource {
    /// The first member's path: the path the set was opened by.
    public let path: String
    public let members: [GGUFFile]
    public let metadata: [(key: String, value: GGUFValue)]
    /// The tensors of every member in member order; each `offset` is within its own member's
    /// data section.
    public let tensors: [GGUFFile.TensorInfo]
    public let tensorInfos: [TensorCore.TensorInfo]
    /// The member holding each tensor of `tensors`.
    public let memberIndex: [Int]
    private let indexByName: [String: Int]

    public var first: GGUFFile { members[0] }
    public var version: UInt32 { first.version }
    public var alignment: Int { first.alignment }
    /// Whether the file carries split keys (a set of one written with a split limit is one too).
    public var isSplit: Bool { first.value(GGUFSplit.countKey).flatMap(Self.integer).map { $0 > 0 } ?? false }

    /// - Throws: `InputError` naming the member for anything missing, foreign or out of place,
    ///   and naming the first file to give when `path` is a later member.
    public init(path: String, limits: GGUFFile.Limits = GGUFFile.Limits()) throws {
        self.path = path
        let first = try GGUFFile(path: path, limits: limits)
        members = try Self.openMembers(first, limits: limits)
        (tensors, memberIndex, indexByName) = try Self.union(members)
        tensorInfos = tensors.map {
            TensorCore.TensorInfo(name: $0.name, dtype: $0.type.dtype, shape: $0.shape, location: "data+\($0.offset)")
        }
        metadata = first.metadata.filter { !GGUFSplit.keys.contains($0.key) }
        try checkTensorCount()
    }

    /// The value of `key` among the model's metadata (split keys excluded).
    public func value(_ key: String) -> GGUFValue? {
        GGUFSplit.keys.contains(key) ? nil : first.value(key)
    }

    /// The member that holds tensor `name`.
    public func member(holding name: String) -> GGUFFile? {
        indexByName[name].map { members[memberIndex[$0]] }
    }

    public func info(named name: String) -> TensorCore.TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let member = member(holding: name) else { throw InputError(.missing, "no such tensor", at: .tensor(name), file: path) }
        return try member.withBytes(of: name, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try withBytes(of: name) { $0 }
    }

    /// See `GGUFFile.releasePages(of:)`.
    public func releasePages(of name: String) {
        member(holding: name)?.releasePages(of: name)
    }

    // MARK: Checking the set

    private struct SplitKeys: Equatable {
        var number: Int
        var count: Int
        var tensorCount: Int
    }

    static func integer(_ value: GGUFValue) -> Int? {
        switch value {
        case .u8(let v): return Int(v)
        case .u16(let v): return Int(v)
        case .i16(let v): return Int(v)
        case .u32(let v): return Int(v)
        case .i32(let v): return Int(v)
        case .u64(let v): return Int(exactly: v)
        case .i64(let v): return Int(v)
        default: return nil
        }
    }

    /// The three split keys of `file`, or nil when it is not a split member.
    private static func splitKeys(of file: GGUFFile) throws -> SplitKeys? {
        guard let countValue = file.value(GGUFSplit.countKey) else { return nil }
        func read(_ key: String, _ value: GGUFValue?) throws -> Int {
            guard let value, let number = integer(value), number >= 0, number <= Int(Int32.max) else {
                throw InputError(.malformed, "expected a non-negative integer", at: .key(key), file: file.path)
            }
            return number
        }
        let count = try read(GGUFSplit.countKey, countValue)
        guard count > 0 else { return nil }
        guard count <= Int(UInt16.max) else {
            throw InputError(
                .outOfRange, "\(count) members; llama.cpp's split.count is a u16", at: .key(GGUFSplit.countKey), file: file.path)
        }
        return SplitKeys(
            number: try read(GGUFSplit.numberKey, file.value(GGUFSplit.numberKey)), count: count,
            tensorCount: try read(GGUFSplit.tensorCountKey, file.value(GGUFSplit.tensorCountKey)))
    }

    /// Every member's tensors in member order, each with its member; a name in two members is refused.
    private static func union(_ members: [GGUFFile]) throws -> ([GGUFFile.TensorInfo], [Int], [String: Int]) {
        var tensors: [GGUFFile.TensorInfo] = []
        var memberIndex: [Int] = []
        var indexByName: [String: Int] = [:]
        for (number, member) in members.enumerated() {
            for tensor in member.tensors {
                if let earlier = indexByName[tensor.name] {
                    throw InputError(
                        .mismatch, "is also in \(members[memberIndex[earlier]].path): a set holds each tensor once",
                        at: .tensor(tensor.name), file: member.path)
                }
                indexByName[tensor.name] = tensors.count
                tensors.append(tensor)
                memberIndex.append(number)
            }
        }
        return (tensors, memberIndex, indexByName)
    }

    private static func openMembers(_ first: GGUFFile, limits: GGUFFile.Limits) throws -> [GGUFFile] {
        guard let keys = try splitKeys(of: first) else { return [first] }
        guard keys.number == 0 else { throw laterMember(first, keys) }
        guard keys.count > 1 else { return [first] }
        guard let prefix = GGUFSplit.prefix(ofMember: first.path, index: 0, count: keys.count) else {
            throw InputError(
                .malformed,
                "split.count says \(keys.count) files, but the name is not PREFIX-\(GGUFSplit.path(prefix: "", index: 0, count: keys.count).dropFirst()), so the others cannot be found",
                file: first.path)
        }
        var members = [first]
        for index in 1..<keys.count {
            let memberPath = GGUFSplit.path(prefix: prefix, index: index, count: keys.count)
            guard FileSystem.kind(of: memberPath) == .file else {
                throw InputError(
                    .missing, "member \(index + 1) of \(keys.count) of the split set \(first.path) is missing", file: memberPath)
            }
            let member = try GGUFFile(path: memberPath, limits: limits)
            try check(member, index: index, against: keys, first: first)
            members.append(member)
        }
        return members
    }

    private static func check(_ member: GGUFFile, index: Int, against keys: SplitKeys, first: GGUFFile) throws {
        guard let found = try splitKeys(of: member) else {
            throw InputError(.mismatch, "has no split keys: it is not a member of the split set \(first.path)", file: member.path)
        }
        guard found.count == keys.count, found.tensorCount == keys.tensorCount else {
            throw InputError(
                .mismatch,
                "belongs to another split set: split.count \(found.count) and split.tensors.count \(found.tensorCount), where \(first.path) says \(keys.count) and \(keys.tensorCount)",
                file: member.path)
        }
        guard found.number == index else {
            throw InputError(
                .mismatch, "split.no is \(found.number) but its name makes it member \(index + 1) (split.no \(index))",
                at: .key(GGUFSplit.numberKey), file: member.path)
        }
    }

    private static func laterMember(_ file: GGUFFile, _ keys: SplitKeys) -> InputError {
        let prefix = GGUFSplit.prefix(ofMember: file.path, index: keys.number, count: keys.count)
        let firstPath = prefix.map { GGUFSplit.path(prefix: $0, index: 0, count: keys.count) } ?? "the set's first file"
        return InputError(
            .mismatch, "is member \(keys.number + 1) of \(keys.count) of a split set: give its first file, \(firstPath)", file: file.path)
    }

    private func checkTensorCount() throws {
        guard let keys = try Self.splitKeys(of: first), keys.tensorCount != tensors.count else { return }
        throw InputError(
            .mismatch, "split.tensors.count says \(keys.tensorCount) tensors, the \(members.count) members hold \(tensors.count)",
            at: .key(GGUFSplit.tensorCountKey), file: path)
    }
}
