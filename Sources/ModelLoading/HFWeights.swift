import BinaryIO
import Safetensors
import TensorCore
import TorchCheckpoint

/// The weight files of a Hugging Face directory (`docs/hf-format.md` §1): safetensors when
/// present, otherwise the older `pytorch_model.bin` or its shards with
/// `pytorch_model.bin.index.json` — torch zip pickles read by the same safe reader as Meta's.
public enum HFWeights {
    public static let binIndexName = "pytorch_model.bin.index.json"

    /// Whether `directory` holds HF weights of either kind.
    public static func arePresent(in directory: String) -> Bool {
        SafetensorsSet.isPresent(in: directory) || !binFiles(in: directory).isEmpty
            || FileSystem.kind(of: FileSystem.join(directory, binIndexName)) == .file
    }

    /// `path` is a weights file or an HF directory.
    /// - Throws: `InputError` naming the file for anything unreadable or inconsistent.
    public static func open(_ path: String) throws -> any TensorSource {
        if FileSystem.kind(of: path) == .file {
            return path.hasSuffix(".bin") ? try PthFile(path: path) : try SafetensorsSet(path: path)
        }
        if SafetensorsSet.isPresent(in: path) { return try SafetensorsSet(path: path) }
        let indexPath = FileSystem.join(path, binIndexName)
        if FileSystem.kind(of: indexPath) == .file {
            return try SafetensorsIndex.openShards(indexPath: indexPath) { try PthFile(path: $0) }
        }
        let files = binFiles(in: path)
        guard files.count == 1 else {
            throw InputError(.missing, "no model.safetensors, pytorch_model.bin or index in this directory", file: path)
        }
        return try PthFile(path: FileSystem.join(path, files[0]))
    }

    private static func binFiles(in directory: String) -> [String] {
        ((try? FileSystem.contents(of: directory)) ?? []).filter { $0.hasPrefix("pytorch_model") && $0.hasSuffix(".bin") }
    }
}
