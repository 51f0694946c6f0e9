import BinaryIO
import TensorCore

/// The tensors of a Hugging Face directory: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` names, each opened as a `SafetensorsFile` and served in place.
public final class SafetensorsSet: TensorSource {
    /// The file or directory it was opened from.
    public let path: String
    public let files: [SafetensorsFile]
    private let union: TensorSourceUnion

    /// Opens a `.safetensors` file, or a directory holding `model.safetensors.index.json` or
    /// exactly one `.safetensors` file.
    /// - Throws: `InputError` for a missing shard, a tensor the index places in a file that lacks
    ///   it, a tensor held by two files, or any problem inside a file.
    public init(path: String) throws {
        self.path = path
        union = try Self.openUnion(path)
        files = union.parts.map { $0.source as! SafetensorsFile }
    }

    /// Whether `directory` holds safetensors weights (an index or a `.safetensors` file).
    public static func isPresent(in directory: String) -> Bool {
        let names = (try? FileSystem.contents(of: directory)) ?? []
        return names.contains { $0.hasSuffix(".safetensors") || $0 == SafetensorsIndex.fileName }
    }

    private static func openUnion(_ path: String) throws -> TensorSourceUnion {
        func part(_ file: String) throws -> TensorSourceUnion.Part {
            .init(name: FileSystem.baseName(file), path: file, source: try SafetensorsFile(path: file))
        }
        if FileSystem.kind(of: path) == .file { return try TensorSourceUnion([try part(path)]) }
        let indexPath = FileSystem.join(path, SafetensorsIndex.fileName)
        if FileSystem.kind(of: indexPath) == .file {
            return try SafetensorsIndex.openShards(indexPath: indexPath) { try SafetensorsFile(path: $0) }
        }
        let names = try FileSystem.contents(of: path).filter { $0.hasSuffix(".safetensors") }
        guard names.count == 1 else {
            let found = names.isEmpty ? "none" : "\(names.count) without \(SafetensorsIndex.fileName)"
            throw InputError(.missing, "expected one .safetensors file or an index, found \(found)", file: path)
        }
        return try TensorSourceUnion([try part(FileSystem.join(path, names[0]))])
    }

    public var tensorInfos: [TensorInfo] { union.tensorInfos }

    public func info(named name: String) -> TensorInfo? { union.info(named: name) }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try union.withBytes(of: name, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try union.residentBytes(of: name)
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        try union.storedRange(of: name)
    }
}
