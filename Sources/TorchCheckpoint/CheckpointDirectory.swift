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
    /// The `fp8_scales_R.pt` files read with an FP8 set, in shard order (empty otherwise).
    public let scalesPaths: [String]

    /// Tensors the files store in another type than they are read as (FP8 weights, read as f32).
    public var storedTypes: [String: DType] {
        let names =
            (source as? FP8ScaledShard)?.scaleKeys.keys
            ?? (source as? ShardSet)?.shards.first.flatMap { ($0 as? FP8ScaledShard)?.scaleKeys.keys }
        return Dictionary(uniqueKeysWithValues: (names.map(Array.init) ?? []).map { ($0, DType.f8_e4m3fn) })
    }

    /// What reading these shards involves beyond concatenating them, for people (`inspect`).
    public var layoutNotes: [String] {
        var notes: [String] = []
        if let set = source as? ShardSet, set.kvCopies > 1 {
            notes.append(
                "KV heads: each run of \(set.kvCopies) shards holds the same KV head (byte-identical in the first layer, every layer checked as it is read): kept once"
            )
        }
        if !scalesPaths.isEmpty {
            notes.append(
                "FP8: \(storedTypes.count) feed-forward weights stored f8_e4m3fn, read as value × row scale in f32 (exact; a bf16 or f16 output rounds them) with \(scalesPaths.map(FileSystem.baseName).joined(separator: ", "))"
            )
        }
        return notes
    }

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
        func sibling(_ name: String) -> String? {
            let candidate = FileSystem.join(directory, name)
            return FileSystem.kind(of: candidate) == .file ? candidate : nil
        }
        let members = try files.enumerated().map { rank, file in try member(file, rank: rank, scalesPath: sibling) }
        let source: any TensorSource =
            members.count == 1 ? members[0] : try ShardSet(shards: members, paths: shardPaths, layout: MetaShardLayout())
        return CheckpointDirectory(
            path: path, shardPaths: shardPaths, paramsPath: sibling("params.json"),
            tokenizerPath: sibling("tokenizer.model"), source: source, files: files,
            scalesPaths: members.compactMap { ($0 as? FP8ScaledShard)?.scales.path })
    }

    /// The shard as its weights mean: with its `fp8_scales_R.pt` when it stores FP8 weights
    /// (`docs/formats.md` §2.11).
    private static func member(_ file: PthFile, rank: Int, scalesPath: (String) -> String?) throws -> any TensorSource {
        guard let fp8 = file.tensorInfos.first(where: FP8ScaledShard.isScaledWeight) else { return file }
        let name = FP8ScaledShard.scalesFileName(rank: rank)
        guard let path = scalesPath(name) else {
            throw InputError(
                .missing, "f8_e4m3fn tensor without its scale: no \(name) beside the shard (Meta's FP8 layout keeps the row scales there)",
                at: .tensor(fp8.name), file: file.path)
        }
        return try FP8ScaledShard(shard: file, scales: try PthFile(path: path), rank: rank)
    }
}
