import BinaryIO
import GGUF
import TensorCore

/// A GGUF file's tensors under Meta's names (`GGUFNames`), so a GGUF can be set beside a Meta or
/// Hugging Face checkpoint tensor by tensor. GGUF already stores q/k rows in Meta's rotary order.
/// A file without `output.weight` ties the output to the embedding (llama.cpp's loader reads it
/// so, and LlamaKit's converter drops a tied output): `output.weight` is then served from
/// `token_embd.weight`. Names outside the table (`rope_freqs.weight`) keep their GGUF names.
public final class GGUFLlamaSource: TensorSource {
    public let file: GGUFSplitSet
    public let tensorInfos: [TensorInfo]
    /// Meta name → GGUF name.
    private let ggufName: [String: String]
    private let infoByName: [String: TensorInfo]
    /// True when `output.weight` is served from `token_embd.weight`.
    public let tiedOutput: Bool

    public init(_ file: GGUFSplitSet) {
        self.file = file
        let naming = MetaNaming(file.tensorInfos, metaName: GGUFNames.meta(for:))
        (tensorInfos, ggufName, infoByName, tiedOutput) = (naming.infos, naming.storedName, naming.infoByName, naming.tiedOutput)
    }

    public func info(named name: String) -> TensorInfo? { infoByName[name] }

    /// The name the file stores `name` under.
    public func storedName(of name: String) -> String? { ggufName[name] }

    private func stored(_ name: String) throws -> String {
        guard let gguf = ggufName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name), file: file.path) }
        return gguf
    }

    /// The bytes in place; their pages are dropped from the process afterwards (they stay in the
    /// page cache), as the `.pth` and safetensors readers do, so one pass over a large file does
    /// not grow the resident set by its size.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let gguf = try stored(name)
        defer { file.releasePages(of: gguf) }
        return try file.withBytes(of: gguf, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try file.residentBytes(of: try stored(name))
    }
}
