import BinaryIO
import TensorCore
import TorchCheckpoint

/// Reference logits from a `.pth` (`{"tokens", "logits"}`) or a `.npy` (+ tokens), checked.
public enum ReferenceLogits {
    public static let maxPositions = 1 << 16

    /// - Throws: `InputError` naming the file for a missing, malformed or inconsistent reference.
    public static func load(_ path: String, tokens given: [Int]?) throws -> (tokens: [Int], logits: [Float], vocab: Int) {
        var tokens: [Int]
        var logits: [Float]
        var shape: [Int]
        if path.hasSuffix(".npy") {
            let array = try NumpyArray.load(path: path)
            guard let values = array.floats() else {
                throw InputError(.mismatch, "expected float logits, found \(array.dtype.rawValue)", file: path)
            }
            (logits, shape) = (values, array.shape)
            if let given {
                tokens = given
            } else {
                let beside = FileSystem.join(FileSystem.parent(of: path), "tokens.npy")
                guard FileSystem.kind(of: beside) == .file else {
                    throw InputError(
                        .malformed,
                        "a .npy reference needs the tokens: give --tokens or --tokens-file (no tokens.npy beside it)", file: path)
                }
                let ids = try NumpyArray.load(path: beside)
                guard let values = ids.integers(), ids.shape.count == 1 else {
                    throw InputError(.mismatch, "expected int64 tokens [T]", file: beside)
                }
                tokens = values
            }
        } else {
            let file = try PthFile(path: path)
            guard let logitsInfo = file.info(named: "logits"), let tokensInfo = file.info(named: "tokens") else {
                throw InputError(.mismatch, "expected a dict with 'tokens' and 'logits' tensors", file: path)
            }
            guard logitsInfo.dtype == .f32 else {
                throw InputError(.mismatch, "expected float32, found \(logitsInfo.dtype.torchName)", at: .tensor("logits"), file: path)
            }
            guard tokensInfo.dtype == .i64 || tokensInfo.dtype == .i32, tokensInfo.shape.count == 1 else {
                throw InputError(
                    .mismatch,
                    "expected a 1-D int64 tensor, found \(tokensInfo.dtype.torchName) \(tokensInfo.shape)", at: .tensor("tokens"),
                    file: path)
            }
            shape = logitsInfo.shape
            logits = try file.withBytes(of: "logits") { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            let stored = try file.withBytes(of: "tokens") { raw in
                tokensInfo.dtype == .i64
                    ? (0..<(raw.count / 8)).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                    : (0..<(raw.count / 4)).map { Int(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            }
            if let given, given != stored {
                throw InputError(.mismatch, "--tokens differ from the tokens stored in the reference", file: path)
            }
            tokens = stored
        }
        guard shape.count == 2 else { throw InputError(.mismatch, "expected logits of shape [T, V], found \(shape)", file: path) }
        guard shape[0] == tokens.count else {
            throw InputError(.mismatch, "the reference has \(shape[0]) positions of logits but \(tokens.count) tokens", file: path)
        }
        guard shape[0] <= maxPositions else {
            throw InputError(.overLimit, "\(shape[0]) positions exceed the cap of \(maxPositions)", file: path)
        }
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw InputError(
                .outOfRange,
                "the reference holds \(logits[bad]) at position \(bad / max(shape[1], 1)), vocabulary entry \(bad % max(shape[1], 1)): logits must be finite",
                file: path)
        }
        return (tokens, logits, shape[1])
    }
}
