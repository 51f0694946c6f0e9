import BinaryIO

/// llama.cpp's split GGUF layout (`docs/split-gguf.md`): member i of N is
/// `PREFIX-%05d-of-%05d.gguf` (1-based), each a complete GGUF; the first holds the model's
/// metadata, and every member holds the three split keys.
public enum GGUFSplit {
    public static let numberKey = "split.no"
    public static let countKey = "split.count"
    public static let tensorCountKey = "split.tensors.count"
    public static let keys: Set<String> = [numberKey, countKey, tensorCountKey]

    /// How a set is cut: llama-gguf-split's `--split-max-tensors` and `--split-max-size`.
    public enum Limit: Sendable, Equatable {
        case maxTensors(Int)
        /// Bytes of tensor data per member, each tensor counted padded to 32 bytes.
        case maxBytes(Int)
    }

    /// llama.cpp's `llama_split_path`: member `index` (0-based) of `count`.
    public static func path(prefix: String, index: Int, count: Int) -> String {
        prefix + "-" + fiveDigits(index + 1) + "-of-" + fiveDigits(count) + ".gguf"
    }

    /// The prefix users expect from `-o NAME.gguf`: the name without its `.gguf`.
    public static func prefix(ofOutput path: String) -> String {
        path.hasSuffix(".gguf") ? String(path.dropLast(5)) : path
    }

    /// llama.cpp's `llama_split_prefix`: the prefix of `path` when it is member `index` of
    /// `count` by name, else nil.
    public static func prefix(ofMember path: String, index: Int, count: Int) -> String? {
        let suffix = Self.path(prefix: "", index: index, count: count)
        guard path.count > suffix.count, path.hasSuffix(suffix) else { return nil }
        return String(path.dropLast(suffix.count))
    }

    private static func fiveDigits(_ n: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// Tensor index ranges, one per member, cut as llama-gguf-split cuts them: by count, a new
    /// member before tensor i when i > 0 and i % N == 0; by size, when the member's tensors
    /// (each padded to 32 bytes) plus the next would exceed the limit — except that a member
    /// is never left empty (llama.cpp stops with an error there; a tensor larger than the
    /// limit gets a member of its own here).
    public static func groups(byteCounts: [Int], limit: Limit) -> [Range<Int>] {
        guard !byteCounts.isEmpty else { return [0..<0] }
        var starts = [0]
        var running = 0
        for (index, count) in byteCounts.enumerated() {
            let padded = (count + 31) / 32 * 32
            let cut: Bool
            switch limit {
            case .maxTensors(let n): cut = index > 0 && index % n == 0
            case .maxBytes(let bytes): cut = index > starts.last! && running + padded > bytes
            }
            if cut {
                starts.append(index)
                running = 0
            }
            running += padded
        }
        return zip(starts, starts.dropFirst() + [byteCounts.count]).map { $0..<$1 }
    }
}
