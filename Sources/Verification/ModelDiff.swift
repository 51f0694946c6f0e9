import BinaryIO
import Conversion
import Dispatch
import GGUF
import ModelLoading
import Quantization
import TensorCore
import TorchCheckpoint

/// Two models compared tensor by tensor under Meta's names, and key by key when both are GGUF
/// files: what `llamakit diff` does.
///
/// Each side is a Meta checkpoint (directory or `.pth`, shards merged by the reader), a Hugging
/// Face directory (q/k rows put back in Meta's order by `HFLlamaSource`) or a GGUF file (names
/// mapped by `GGUFNames`, a dropped tied output served from the embedding). Values are compared
/// as f32 — f16/bf16 widened exactly, block formats dequantized as ggml does — one tensor at a
/// time, in pieces spread over threads; a tensor's bytes are released before the next is read.
public enum ModelDiff {
    /// When two values count as close: |a − b| ≤ absolute + relative·|b|, numpy's `allclose(a, b)`.
    public struct Tolerance: Sendable, Equatable {
        public var absolute: Double
        public var relative: Double

        public init(absolute: Double, relative: Double) {
            self.absolute = absolute
            self.relative = relative
        }

        /// numpy's defaults (atol 1e-8, rtol 1e-5): far above f32's rounding (6·10⁻⁸ of a value),
        /// so values carried through f32 arithmetic are close, and far below the rounding of f16
        /// or bf16 (up to 5·10⁻⁴ and 4·10⁻³) or of a quantized block, so those are differences.
        public static let standard = Tolerance(absolute: 1e-8, relative: 1e-5)
    }

    /// One side of a comparison.
    public struct Model {
        public let path: String
        /// "pth" (Meta's), "hf" or "gguf".
        public let format: String
        /// The tensors under Meta's names.
        public let source: any TensorSource
        /// The file itself when the side is a GGUF (its metadata is compared).
        public let gguf: GGUFSplitSet?
        /// Whether `output.weight` is served from the embedding because the files hold only that.
        public let tiedOutput: Bool

        /// Opens a GGUF file, an HF directory, or a Meta checkpoint (with params.json checked
        /// against the tensors; without one, the tensors as stored).
        /// - Throws: `InputError` when the path is none of those or is unreadable.
        public static func open(_ path: String) throws -> Model {
            if FileSystem.kind(of: path) == .file, try ModelFiles.isGGUF(path) {
                let file = try GGUFSplitSet(path: path)
                let source = GGUFLlamaSource(file)
                return Model(path: path, format: "gguf", source: source, gguf: file, tiedOutput: source.tiedOutput)
            }
            if !HFDirectory.isHF(path) {
                let directory = try CheckpointDirectory.open(path)
                // A diff needs no architecture: Meta's names and row order are the stored ones.
                if directory.paramsPath == nil {
                    return Model(path: path, format: "pth", source: directory.source, gguf: nil, tiedOutput: false)
                }
            }
            let checkpoint = try ModelFiles.openCheckpoint(path, requireTokenizer: false)
            let tied = (checkpoint.source as? HFLlamaSource)?.tiedOutput ?? false
            return Model(path: path, format: checkpoint.format, source: checkpoint.source, gguf: nil, tiedOutput: tied)
        }
    }

    public enum Status: String, Sendable, CaseIterable {
        /// Every value bit-identical once widened to f32 (the stored types may differ).
        case equal
        /// Every value within tolerance, not all identical.
        case close
        /// Some value beyond tolerance.
        case different
        case onlyInA = "only_in_a"
        case onlyInB = "only_in_b"
        case shapeMismatch = "shape_mismatch"
        /// Held by one side only, and computed from the hyperparameters by every reader
        /// (`GGUFNames.isDerived`): not compared and not a difference.
        case derived

        /// Whether this makes the two models differ.
        public var isDifference: Bool {
            switch self {
            case .equal, .close, .derived: return false
            case .different, .onlyInA, .onlyInB, .shapeMismatch: return true
            }
        }
    }

    /// The first element beyond tolerance: its flat row-major index and both values.
    public struct FirstDifference: Sendable, Equatable {
        public var index: Int
        public var a: Float
        public var b: Float
    }

    /// How far apart one tensor's values are, over all its elements.
    public struct Statistics: Sendable, Equatable {
        public var elements: Int
        /// max |a − b|; NaN when a pair differs by NaN.
        public var maxAbsDiff: Double
        /// √(mean (a − b)²).
        public var rmse: Double
        /// a·b / (|a| |b|); nil when a side is all zeros.
        public var cosine: Double?
        public var beyondTolerance: Int
        public var firstDifference: FirstDifference?
    }

    public struct TensorDiff: Sendable {
        public var name: String
        public var status: Status
        public var a: TensorInfo?
        public var b: TensorInfo?
        /// For equal, close and different tensors.
        public var statistics: Statistics?
        /// "tied to the embedding in B", …
        public var note: String?
    }

    public enum KeyStatus: String, Sendable, CaseIterable {
        case equal, different
        case onlyInA = "only_in_a"
        case onlyInB = "only_in_b"
    }

    public struct KeyDiff: Sendable {
        public var key: String
        public var status: KeyStatus
        public var a: GGUFValue?
        public var b: GGUFValue?
        /// For two arrays that differ: the first index where they do (the shorter one's count
        /// when one is a prefix of the other).
        public var firstDifferentElement: Int?
    }

    /// Counts by status, and whether the models match (nothing differs).
    public struct Summary: Sendable {
        public var tensors: [Status: Int] = [:]
        public var keys: [KeyStatus: Int] = [:]

        public init(tensors: [TensorDiff], keys: [KeyDiff]) {
            for tensor in tensors { self.tensors[tensor.status, default: 0] += 1 }
            for key in keys { self.keys[key.status, default: 0] += 1 }
        }

        public var matches: Bool {
            !tensors.contains { $0.key.isDifference && $0.value > 0 } && keys.allSatisfy { $0.key == .equal || $0.value == 0 }
        }
    }

    /// Every tensor name of either side: A's in A's order, then B's others in B's order.
    public static func names(_ a: Model, _ b: Model) -> [String] {
        let inA = Set(a.source.tensorInfos.map(\.name))
        return a.source.tensorInfos.map(\.name) + b.source.tensorInfos.map(\.name).filter { !inA.contains($0) }
    }

    /// Compares every tensor of `names(a, b)`, calling `each` as each one is done.
    /// - Parameter threads: threads per tensor; the results are the same for any count.
    /// - Throws: `InputError` naming the tensor for a type that cannot be read as numbers, or
    ///   bytes a reader cannot serve.
    public static func compareTensors(
        _ a: Model, _ b: Model, tolerance: Tolerance = .standard, threads: Int = 1, each: (TensorDiff) throws -> Void
    ) throws {
        for name in names(a, b) {
            try each(try compareTensor(name, a, b, tolerance: tolerance, threads: threads))
        }
    }

    /// The anonymous memory `compareTensors` takes (`docs/memory.md` §4): each side's largest
    /// tensor that cannot be read in place (a shard merge, an inflated record), both held at once,
    /// and each worker's f32 steps.
    /// - Throws: `InputError` if a file cannot be mapped.
    public static func memoryPlan(_ a: Model, _ b: Model, threads: Int) throws -> MemoryPlan {
        var terms: [MemoryPlan.Term] = []
        for (side, model) in [("A", a), ("B", b)] {
            let (name, bytes) = try ConversionMemory.largestAssembled(model.source, skippingRowSplits: false)
            terms.append(MemoryPlan.Term("merged tensor of \(side)", bytes, reason: name.map { "(\($0))" }))
        }
        terms.append(MemoryPlan.Term("comparison steps", max(1, threads) * 2 * stepElements * MemoryLayout<Float>.size))
        terms.append(MemoryPlan.Term("process", MemoryPlan.baseline))
        return MemoryPlan(command: "diff", terms: terms)
    }

    /// One tensor of `names(a, b)`.
    public static func compareTensor(_ name: String, _ a: Model, _ b: Model, tolerance: Tolerance, threads: Int) throws -> TensorDiff {
        let infoA = a.source.info(named: name), infoB = b.source.info(named: name)
        var diff = TensorDiff(name: name, status: .equal, a: infoA, b: infoB)
        if name == "output.weight" {
            switch (a.tiedOutput, b.tiedOutput) {
            case (true, true): diff.note = "tied to the embedding in A and B"
            case (true, false): diff.note = "tied to the embedding in A"
            case (false, true): diff.note = "tied to the embedding in B"
            case (false, false): break
            }
        }
        guard let infoA, let infoB else {
            diff.status = GGUFNames.isDerived(name) ? .derived : infoA == nil ? .onlyInB : .onlyInA
            return diff
        }
        guard infoA.shape == infoB.shape else {
            diff.status = .shapeMismatch
            return diff
        }
        for (info, side) in [(infoA, a), (infoB, b)] where !WeightDecoding.canDecode(info.dtype) {
            throw InputError(
                .unsupported, "dtype \(info.dtype.rawValue) cannot be compared (expected f32, f16, bf16 or a ggml block type)",
                at: .tensor(name), file: side.path)
        }
        let statistics = try attributing(to: a.path) {
            try a.source.withBytes(of: name) { rawA in
                try attributing(to: b.path) {
                    try b.source.withBytes(of: name) { rawB in
                        try compare(
                            TensorBytes(raw: rawA, dtype: infoA.dtype), TensorBytes(raw: rawB, dtype: infoB.dtype),
                            count: infoA.elementCount, tolerance: tolerance, threads: threads, name: name)
                    }
                }
            }
        }
        diff.statistics = statistics.statistics
        diff.status = statistics.bitIdentical ? .equal : statistics.statistics.beyondTolerance == 0 ? .close : .different
        return diff
    }

    /// Key by key: A's keys in file order, then B's others. Values compare by type and value
    /// (a u32 16 and an i32 16 differ).
    public static func compareMetadata(_ a: GGUFSplitSet, _ b: GGUFSplitSet) -> [KeyDiff] {
        let valuesB = Dictionary(b.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        var keys: [KeyDiff] = []
        var seen = Set<String>()
        for (key, value) in a.metadata where seen.insert(key).inserted {
            guard let other = valuesB[key] else {
                keys.append(KeyDiff(key: key, status: .onlyInA, a: value))
                continue
            }
            let equal = value == other
            keys.append(
                KeyDiff(
                    key: key, status: equal ? .equal : .different, a: value, b: other,
                    firstDifferentElement: equal ? nil : firstDifferentElement(value, other)))
        }
        for (key, value) in b.metadata where seen.insert(key).inserted {
            keys.append(KeyDiff(key: key, status: .onlyInB, b: value))
        }
        return keys
    }

    private static func firstDifferentElement(_ a: GGUFValue, _ b: GGUFValue) -> Int? {
        guard case .array(_, let itemsA) = a, case .array(_, let itemsB) = b else { return nil }
        return zip(itemsA, itemsB).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(itemsA.count, itemsB.count)
    }

    // MARK: - Values

    /// A tensor's stored bytes and type, shared read-only with the worker threads.
    struct TensorBytes: @unchecked Sendable {
        let raw: UnsafeRawBufferPointer
        let dtype: DType

        /// Elements `range` (whole blocks, or ending at the tensor's end) as f32 into `scratch`,
        /// or in place when stored as f32.
        func values(_ range: Range<Int>, scratch: UnsafeMutableBufferPointer<Float>) -> UnsafeRawPointer {
            let bytes = UnsafeRawBufferPointer(
                rebasing: raw[dtype.byteCount(elements: range.lowerBound)..<dtype.byteCount(elements: range.upperBound)])
            if dtype == .f32 { return bytes.baseAddress! }
            let out = UnsafeMutableBufferPointer(rebasing: scratch[0..<range.count])
            _ = WeightDecoding.decode(bytes, dtype: dtype, into: out)
            return UnsafeRawPointer(out.baseAddress!)
        }

        /// Element `index`, decoded with the block that holds it.
        func value(at index: Int) -> Float {
            let start = index / dtype.blockSize * dtype.blockSize
            var block = [Float](repeating: 0, count: dtype.blockSize)
            return block.withUnsafeMutableBufferPointer { scratch in
                values(start..<start + dtype.blockSize, scratch: scratch).loadUnaligned(fromByteOffset: (index - start) * 4, as: Float.self)
            }
        }
    }

    /// Elements per piece handed to a thread: a multiple of every block size, large enough that
    /// handing out pieces costs nothing next to comparing them.
    static let pieceElements = 1 << 18
    /// Elements decoded at once inside a piece: both sides' f32 values stay in the L2 cache.
    static let stepElements = 8192

    struct Compared {
        var statistics: Statistics
        var bitIdentical: Bool
    }

    /// `count` elements of two tensors of the same shape.
    static func compare(
        _ a: TensorBytes, _ b: TensorBytes, count: Int, tolerance: Tolerance, threads: Int, name: String
    ) throws -> Compared {
        guard a.raw.count == a.dtype.byteCount(elements: count), b.raw.count == b.dtype.byteCount(elements: count) else {
            throw InputError(
                .mismatch,
                "holds \(a.raw.count) and \(b.raw.count) bytes for \(count) elements of \(a.dtype.rawValue) and \(b.dtype.rawValue)",
                at: .tensor(name))
        }
        let pieces = max(1, (count + pieceElements - 1) / pieceElements)
        let slots = SlotArray(count: pieces, repeating: DiffKernel.Partial())
        let atol = Float(tolerance.absolute), rtol = Float(tolerance.relative)
        @Sendable func work(_ next: () -> Int?) {
            let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * stepElements)
            defer { scratch.deallocate() }
            let scratchA = UnsafeMutableBufferPointer(rebasing: scratch[0..<stepElements])
            let scratchB = UnsafeMutableBufferPointer(rebasing: scratch[stepElements...])
            while let piece = next() {
                var partial = DiffKernel.Partial()
                var start = piece * pieceElements
                let end = min(count, start + pieceElements)
                while start < end {
                    let range = start..<min(end, start + stepElements)
                    DiffKernel.compare(
                        a.values(range, scratch: scratchA), b.values(range, scratch: scratchB), count: range.count, atol: atol, rtol: rtol,
                        into: &partial)
                    start = range.upperBound
                }
                slots[piece] = partial
            }
        }
        let workers = min(max(1, threads), pieces)
        if workers == 1 {
            var piece = 0
            work {
                defer { piece += 1 }
                return piece < pieces ? piece : nil
            }
        } else {
            let counter = PieceCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in work { counter.take(below: pieces) } }
        }
        // The pieces in order, so the sums are the same for any thread count.
        let total = slots.elements.reduce(into: DiffKernel.Partial()) { $0.append($1) }
        var maxAbs = Double(total.maxAbsDiff)
        if total.sawNaNDiff { maxAbs = .nan }
        var cosine: Double? = nil
        if total.sumSquaresA > 0 && total.sumSquaresB > 0 {
            cosine = min(1, max(-1, total.dot / (total.sumSquaresA.squareRoot() * total.sumSquaresB.squareRoot())))
        }
        let first = total.firstBeyond.map { FirstDifference(index: $0, a: a.value(at: $0), b: b.value(at: $0)) }
        return Compared(
            statistics: Statistics(
                elements: count, maxAbsDiff: maxAbs, rmse: count == 0 ? 0 : (total.sumSquaredDiff / Double(count)).squareRoot(),
                cosine: cosine, beyondTolerance: total.beyondTolerance, firstDifference: first),
            bitIdentical: total.bitIdentical)
    }
}
