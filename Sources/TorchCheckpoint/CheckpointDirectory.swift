import BinaryIO
import TensorCore

/// What a user points LlamaKit at: a Meta checkpoint directory or a single `.pth` file.
///
/// A directory holds `consolidated.00.pth` … `consolidated.NN.pth` (ranked by sorted name,
/// numbered without gaps, `docs/formats.md` §2.7), and usually
/// `params.json` and `tokenizer.model`. One shard is served directly; several are a `ShardSet`.
public struct CheckpointDirectory {
    public let path: String
    public let shardPaths: [String]
    public let paramsPath: String?
    public let tokenizerPath: String?
    public let source: any TensorSource
    /// The opened `.pth` files, in shard order.
    public let files: [PthFile]

    /// - Throws: `InputError` when the path holds no checkpoint, shards are misnumbered, or a
    ///   file cannot be read.
    public static func open(_ path: String, readPath: PthFile.ReadPath = .mapped) throws -> CheckpointDirectory {
        let kind = FileSystem.kind(of: path)
        guard kind != .missing else { throw InputError(.missing, "no such file or directory", file: path) }
        let isDirectory = kind == .directory
        let directory = isDirectory ? path : FileSystem.parent(of: path)
        var shardPaths: [String]
        if isDirectory {
            let names = try FileSystem.contents(of: path)
            let shardNames = names.filter { $0.hasPrefix("consolidated.") && $0.hasSuffix(".pth") }
            if shardNames.isEmpty {
                let others = names.filter { $0.hasSuffix(".pth") || $0.hasSuffix(".pt") }
                guard others.count == 1 else {
                    throw InputError(
                        others.isEmpty ? .missing : .mismatch,
                        others.isEmpty
                            ? "no consolidated.NN.pth files in this directory"
                            : "no consolidated.NN.pth files, and \(others.count) other .pth files (\(others.prefix(4).joined(separator: ", "))): name one of them",
                        file: path)
                }
                shardPaths = [FileSystem.join(path, others[0])]
            } else {
                for (rank, name) in shardNames.enumerated() {
                    let number = name.dropFirst("consolidated.".count).dropLast(".pth".count)
                    guard Int(number) == rank else {
                        throw InputError(
                            .mismatch,
                            "shard files must be numbered consolidated.00.pth, 01, … without gaps; found \(name) at rank \(rank)",
                            file: path)
                    }
                }
                shardPaths = shardNames.map { FileSystem.join(path, $0) }
            }
        } else {
            shardPaths = [path]
        }
        let files = try shardPaths.map { shardPath -> PthFile in
            let file = try PthFile(path: shardPath)
            file.readPath = readPath
            return file
        }
        let source: any TensorSource = files.count == 1 ? files[0] : try ShardSet(shards: files, layout: MetaShardLayout())
        func sibling(_ name: String) -> String? {
            let candidate = FileSystem.join(directory, name)
            return FileSystem.kind(of: candidate) == .file ? candidate : nil
        }
        return CheckpointDirectory(
            path: path, shardPaths: shardPaths, paramsPath: sibling("params.json"),
            tokenizerPath: sibling("tokenizer.model"), source: source, files: files)
    }
}
