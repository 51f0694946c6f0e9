import BinaryIO
import TensorCore

/// The tensors of a Hugging Face directory: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names, each opened as a `SafetensorsFile` and served in place.
public final class SafetensorsSet: TensorSource {
    /// The file or directory it was opened from.
    public let path: String
    public let files: [SafetensorsFile]
    public let tensorInfos: [TensorInfo]
    private let fileByName: [String: SafetensorsFile]
    private let infoByName: [String: TensorInfo]

    /// Opens a `.safetensors` file, or a directory holding `model.safetensors.index.json` or
    /// exactly one `.safetensors` file.
    /// - Throws: `InputError` for a missing shard, a tensor the index places in a file that lacks
    ///   it, a tensor held by two files, or any problem inside a file.
    public init(path: String) throws {
        self.path = path
        let index: (SafetensorsIndex, path: String)?
        (files, index) = try Self.openFiles(path)
        (tensorInfos, fileByName) = try Self.union(files)
        infoByName = Dictionary(uniqueKeysWithValues: tensorInfos.map { ($0.name, $0) })
        if let (index, indexPath) = index { try Self.check(index, against: fileByName, indexPath: indexPath) }
    }

    private static func openFiles(_ path: String) throws -> ([SafetensorsFile], (SafetensorsIndex, path: String)?) {
        if FileSystem.kind(of: path) == .file { return ([try SafetensorsFile(path: path)], nil) }
        let indexPath = FileSystem.join(path, SafetensorsIndex.fileName)
        if FileSystem.kind(of: indexPath) == .file {
            let index = try attributing(to: indexPath) {
                try SafetensorsIndex(parsing: try FileSystem.read(indexPath, limit: SafetensorsIndex.maxFileBytes))
            }
            let files = try index.files.map { name in
                let shard = FileSystem.join(path, name)
                guard FileSystem.kind(of: shard) == .file else {
                    throw InputError(.missing, "shard '\(name)' named by the index is missing", file: indexPath)
                }
                return try SafetensorsFile(path: shard)
            }
            return (files, (index, indexPath))
        }
        let names = try FileSystem.contents(of: path).filter { $0.hasSuffix(".safetensors") }.sorted()
        guard names.count == 1 else {
            let found = names.isEmpty ? "none" : "\(names.count) without \(SafetensorsIndex.fileName)"
            throw InputError(.missing, "expected one .safetensors file or an index, found \(found)", file: path)
        }
        return ([try SafetensorsFile(path: FileSystem.join(path, names[0]))], nil)
    }

    private static func union(_ files: [SafetensorsFile]) throws -> ([TensorInfo], [String: SafetensorsFile]) {
        var infos: [TensorInfo] = []
        var owner: [String: SafetensorsFile] = [:]
        for file in files {
            for var info in file.tensorInfos {
                if let other = owner[info.name] {
                    throw InputError(.mismatch, "held by both \(other.path) and \(file.path)", at: .tensor(info.name))
                }
                owner[info.name] = file
                if files.count > 1 { info.location = "\(FileSystem.baseName(file.path)):\(info.location)" }
                infos.append(info)
            }
        }
        return (infos, owner)
    }

    /// The index and the files must agree tensor for tensor.
    private static func check(_ index: SafetensorsIndex, against owner: [String: SafetensorsFile], indexPath: String) throws {
        for (tensor, file) in index.weightMap {
            guard let holder = owner[tensor] else {
                throw InputError(.missing, "the index places it in \(file), which does not hold it", at: .tensor(tensor), file: indexPath)
            }
            guard FileSystem.baseName(holder.path) == file else {
                throw InputError(
                    .mismatch, "the index places it in \(file) but \(FileSystem.baseName(holder.path)) holds it", at: .tensor(tensor),
                    file: indexPath)
            }
        }
        if owner.count != index.weightMap.count,
            let extra = owner.keys.sorted().first(where: { name in !index.weightMap.contains { $0.tensor == name } })
        {
            throw InputError(
                .mismatch, "\(FileSystem.baseName(owner[extra]!.path)) holds it but the index does not name it", at: .tensor(extra),
                file: indexPath)
        }
    }

    public func info(named name: String) -> TensorInfo? { infoByName[name] }

    private func file(holding name: String) throws -> SafetensorsFile {
        guard let file = fileByName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name), file: path) }
        return file
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try file(holding: name).withBytes(of: name, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try file(holding: name).residentBytes(of: name)
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        try file(holding: name).storedRange(of: name)
    }

    public func releasePages(of name: String) {
        fileByName[name]?.releasePages(of: name)
    }
}
