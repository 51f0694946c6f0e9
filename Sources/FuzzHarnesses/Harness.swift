import BinaryIO
import Foundation
import GGUF
import ImportanceMatrix
import Llama
import LlamaTokenizers
import Safetensors
import TensorCore
import TorchCheckpoint
import Verification

/// One entry point per reader, shared by the libFuzzer executables (`Fuzz/run`, built with
/// `LLAMAKIT_FUZZ=1`) and the corpus replay test in `make test`. Each takes arbitrary bytes and
/// must return or throw `InputError` — never crash, hang or allocate without bound. File-based
/// readers get the bytes through a file in `/dev/shm` (or the temporary directory).
public enum Harness: String, CaseIterable, Sendable {
    case zip, pickle, pth, gguf, tiktoken, sentencepiece, tokenizerjson, params, npy, imatrix, safetensors, logits

    public func run(_ bytes: [UInt8]) {
        do {
            switch self {
            case .pickle: _ = try PthFile.tensorNames(describedBy: bytes)
            case .tiktoken: _ = try Llama3Tokenizer(parsing: bytes).encode("Hello, world! 123", bos: true, eos: false, allowSpecial: false)
            case .sentencepiece:
                let tokenizer = try SentencePieceTokenizer(parsing: bytes)
                let ids = tokenizer.encode("Hello, world! 123 ünï", bos: true, eos: false, allowSpecial: false)
                _ = try tokenizer.decode(ids)
            case .tokenizerjson:
                // Read, use, and write back what was read (the writer must refuse, not trap).
                let contents = try HFTokenizerJSON.read(tokenizerJSON: bytes)
                let ids = contents.tokenizer.encode("Hello, world! 123 ünï <|eot_id|>", bos: true, eos: false, allowSpecial: true)
                _ = try contents.tokenizer.decode(ids)
                _ = try HFTokenizerJSON.write(contents.tokenizer)
            case .params:
                let params = try LlamaParams.parse(bytes)
                _ = LlamaConfig.family(params: params, tokenizer: nil)
            case .npy:
                let array = try NumpyArray(parsing: bytes)
                _ = array.floats() ?? array.integers().map { $0.map(Float.init) }
            case .zip, .pth:
                try Self.withFile(bytes) { path in
                    let file = try PthFile(path: path)
                    file.readPath = self == .zip ? .libzip : .mapped
                    // Reading every tensor exercises the offsets and strides the file claims.
                    for info in file.tensorInfos { _ = try file.withBytes(of: info.name) { $0.count } }
                }
            case .gguf:
                try Self.withFile(bytes) { path in
                    let file = try GGUFFile(path: path)
                    for info in file.tensorInfos { _ = try file.withBytes(of: info.name) { $0.count } }
                }
            case .safetensors:
                try Self.withFile(bytes) { path in
                    let file = try SafetensorsFile(path: path)
                    for info in file.tensorInfos { _ = try file.withBytes(of: info.name) { $0.count } }
                }
            case .logits:
                try Self.withFile(bytes) { path in
                    let file = try LogitsFile(path: path)
                    // Compare every stored row with a fixed logit row, as `--kl-base` does.
                    guard file.vocab <= 1 << 16 else { return }
                    let logits = (0..<file.vocab).map { Float($0 % 7) - 3 }
                    logits.withUnsafeBufferPointer { logits in
                        for chunk in 0..<file.chunks {
                            file.withRows(ofChunk: chunk) { rows in
                                for k in 0..<file.scoredPerChunk {
                                    let row = UnsafeBufferPointer(rebasing: rows[(k * file.rowWidth)..<((k + 1) * file.rowWidth)])
                                    _ = LogProbRow.compare(logits, base: row, token: file.tokens[chunk * file.context + k + 1])
                                }
                            }
                        }
                    }
                }
            case .imatrix:
                try Self.withFile(bytes) { path in
                    let imatrix = try ImportanceMatrix.load(path: path)
                    _ = imatrix.ggufKeys
                    // Every lookup; a length that disagrees throws InputError, which is fine here.
                    for name in imatrix.tensorNames {
                        do { _ = try imatrix.weights(for: name, columns: 1) } catch is InputError {}
                        do { _ = try imatrix.weights(for: name, columns: 8, experts: 3) } catch is InputError {}
                    }
                }
            }
        } catch is InputError {
        } catch {
            fatalError("\(self): a reader threw something other than InputError: \(error)")
        }
    }

    private static let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()

    private static func withFile(_ bytes: [UInt8], _ body: (String) throws -> Void) throws {
        let path = "\(directory)/llamakit-fuzz-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fatalError("cannot write \(path)") }
        defer { unlink(path) }
        try body(path)
    }
}
