import BinaryIO
import Quantization
import TensorCore

/// One shard of Meta's FP8 release (Llama 3.1 405B FP8), read as what its weights mean.
///
/// The shard stores the feed-forward weights of every layer but the first and last as
/// `float8_e4m3fn`; `fp8_scales_R.pt` beside it holds, under `L_feed_forward.wN_R`, one f32 scale
/// per row of this shard's slice. Meta's loader multiplies value × row scale; so does this
/// source, in f32, serving those tensors as f32 (`docs/formats.md` §2.11). Every other tensor
/// is the shard's own, in place.
public final class FP8ScaledShard: TensorSource {
    public let shard: PthFile
    public let scales: PthFile
    public let rank: Int
    public private(set) var tensorInfos: [TensorInfo] = []
    /// Stored FP8 tensor name → the key of its scales in `scales`.
    public private(set) var scaleKeys: [String: String] = [:]
    private var indexByName: [String: Int] = [:]

    /// - Throws: `InputError` naming the tensor and file when an FP8 tensor has no scale, a
    ///   scale has the wrong shape or type, or an FP8 tensor is not a matrix.
    public init(shard: PthFile, scales: PthFile, rank: Int) throws {
        self.shard = shard
        self.scales = scales
        self.rank = rank
        for var info in shard.tensorInfos {
            if Self.isScaledWeight(info) {
                let key = try Self.scaleKey(for: info, rank: rank, in: scales, shardPath: shard.path)
                scaleKeys[info.name] = key
                info = TensorInfo(
                    name: info.name, dtype: .f32, shape: info.shape,
                    location: "f8_e4m3fn × row scale \(FileSystem.baseName(scales.path)):\(key)")
            }
            indexByName[info.name] = tensorInfos.count
            tensorInfos.append(info)
        }
    }

    /// Whether `info` is one of the weights Meta's FP8 layout stores as f8_e4m3fn with row
    /// scales (a feed-forward matrix); other FP8 tensors are served as stored.
    public static func isScaledWeight(_ info: TensorInfo) -> Bool {
        info.dtype == .f8_e4m3fn && scaleKeyName(for: info.name, rank: 0) != nil
    }

    /// The names of `fp8_scales_R.pt` for the shard of rank `rank`.
    public static func scalesFileName(rank: Int) -> String { "fp8_scales_\(rank).pt" }

    /// Meta's key for the scales of `layers.L.feed_forward.wN.weight` on rank R: `L_feed_forward.wN_R`.
    static func scaleKeyName(for tensor: String, rank: Int) -> String? {
        let parts = tensor.split(separator: ".")
        guard parts.count == 5, parts[0] == "layers", Int(parts[1]) != nil, parts[2] == "feed_forward", parts[4] == "weight" else {
            return nil
        }
        return "\(parts[1])_feed_forward.\(parts[3])_\(rank)"
    }

    private static func scaleKey(for info: TensorInfo, rank: Int, in scales: PthFile, shardPath: String) throws -> String {
        guard info.shape.count == 2 else {
            throw InputError(
                .unsupported, "an f8_e4m3fn tensor must be a matrix (row scales), found shape \(info.shape)", at: .tensor(info.name),
                file: shardPath)
        }
        let key = scaleKeyName(for: info.name, rank: rank)!
        guard let scale = scales.info(named: key) else {
            throw InputError(
                .missing, "f8_e4m3fn tensor without its scale: \(FileSystem.baseName(scales.path)) holds no '\(key)'",
                at: .tensor(info.name),
                file: shardPath)
        }
        let rows = info.shape[0]
        guard scale.shape == [rows] || scale.shape == [rows, 1] else {
            throw InputError(.mismatch, "expected \(rows) row scales, found shape \(scale.shape)", at: .tensor(key), file: scales.path)
        }
        guard scale.dtype == .f32 || scale.dtype == .bf16 || scale.dtype == .f16 else {
            throw InputError(.mismatch, "expected float scales, found \(scale.dtype.rawValue)", at: .tensor(key), file: scales.path)
        }
        return key
    }

    public func info(named name: String) -> TensorInfo? { indexByName[name].map { tensorInfos[$0] } }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let key = scaleKeys[name] else { return try shard.withBytes(of: name, body) }
        let info = tensorInfos[indexByName[name]!]
        let rowScales = try self.rowScales(key, rows: info.shape[0])
        var values = [Float](repeating: 0, count: info.elementCount)
        try shard.withBytes(of: name) { raw in
            guard raw.count == info.elementCount else {
                throw InputError(.mismatch, "holds \(raw.count) bytes, expected \(info.elementCount)", at: .tensor(name), file: shard.path)
            }
            values.withUnsafeMutableBufferPointer { Self.dequantize(raw, rowScales: rowScales, columns: info.shape[1], into: $0) }
        }
        return try values.withUnsafeBytes(body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        scaleKeys[name] == nil ? try shard.residentBytes(of: name) : nil
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        scaleKeys[name] == nil ? try shard.storedRange(of: name) : nil
    }

    private func rowScales(_ key: String, rows: Int) throws -> [Float] {
        let info = scales.info(named: key)!
        var values = [Float](repeating: 0, count: rows)
        let ok = try scales.withBytes(of: key) { raw in
            values.withUnsafeMutableBufferPointer { FloatConversion.widen(raw, dtype: info.dtype, into: $0) }
        }
        precondition(ok, "scale types are checked at open")
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw InputError(.outOfRange, "row scale \(bad) is \(values[bad]): scales must be finite", at: .tensor(key), file: scales.path)
        }
        return values
    }

    /// value × row scale in f32, as `w.float() * scale[:, None]` computes it.
    private static func dequantize(
        _ raw: UnsafeRawBufferPointer, rowScales: [Float], columns: Int, into out: UnsafeMutableBufferPointer<Float>
    ) {
        FloatConversion.e4m3fnTable.withUnsafeBufferPointer { table in
            for (row, scale) in rowScales.enumerated() {
                let base = row * columns
                for column in 0..<columns { out[base + column] = table[Int(raw[base + column])] * scale }
            }
        }
    }
}
