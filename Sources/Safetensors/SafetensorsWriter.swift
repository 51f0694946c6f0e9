import BinaryIO
import TensorCore

/// Writes one `.safetensors` file (`docs/safetensors.md` §3): the header first, then each
/// tensor's bytes streamed in header order into an `AtomicOutputFile`, so a tensor is produced
/// only when it is written and nothing appears at the target until the file is complete.
///
/// Tensors are laid out as the reference library lays them out — by dtype in its order, widest
/// first, then by name — and the header is padded with spaces to a multiple of 8 so every tensor
/// starts 8-aligned: the same tensors give the same bytes as the reference `save_file`.
public struct SafetensorsWriter {
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]

        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        public var byteCount: Int { dtype.byteCount(elements: shape.reduce(1, *)) }
    }

    /// Tensors in the order they are written.
    public let tensors: [Tensor]
    public let header: [UInt8]

    /// - Parameter metadata: `__metadata__` pairs; transformers expects `format: pt`.
    public init(tensors: [Tensor], metadata: [(String, String)] = [("format", "pt")]) {
        precondition(Set(tensors.map(\.name)).count == tensors.count, "a safetensors file cannot hold two tensors of one name")
        let rank = { (tensor: Tensor) -> Int in
            guard let rank = SafetensorsDType.rank(of: tensor.dtype) else { preconditionFailure("safetensors has no \(tensor.dtype)") }
            return rank
        }
        self.tensors = tensors.sorted { (rank($1), $0.name) < (rank($0), $1.name) }
        header = Self.header(for: self.tensors, metadata: metadata)
    }

    /// Bytes of the whole file.
    public var fileSize: Int { header.count + tensors.reduce(0) { $0 + $1.byteCount } }

    private static func header(for tensors: [Tensor], metadata: [(String, String)]) -> [UInt8] {
        var object = JSONObject()
        if !metadata.isEmpty { object.insert("__metadata__", .object(JSONObject(metadata.map { ($0, .string($1)) }))) }
        var offset = 0
        for tensor in tensors {
            guard let dtype = SafetensorsDType.name(of: tensor.dtype) else { preconditionFailure("safetensors has no \(tensor.dtype)") }
            let end = offset + tensor.byteCount
            object.insert(
                tensor.name,
                .object(
                    JSONObject([
                        ("dtype", .string(dtype)), ("shape", .array(tensor.shape.map { .integer($0) })),
                        ("data_offsets", .array([.integer(offset), .integer(end)])),
                    ])))
            offset = end
        }
        var json = JSONWriter.bytes(.object(object), style: .compact)
        json += repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// Writes the file at `path`: `writeTensor` is called once per tensor, in `tensors` order, and
    /// must write exactly that tensor's `byteCount` bytes to the output.
    /// - Throws: what `writeTensor` throws, or `InputError` for an I/O failure; the target is then
    ///   left as it was.
    public func write(to path: String, _ writeTensor: (Tensor, AtomicOutputFile) throws -> Void) throws {
        let output = try prepare(at: path, writeTensor)
        try output.commit()
    }

    /// Writes everything but does not rename the file into place: the caller commits it, so a set
    /// of files can appear together only when all of them are complete.
    /// - Throws: as `write(to:_:)`.
    public func prepare(at path: String, _ writeTensor: (Tensor, AtomicOutputFile) throws -> Void) throws -> AtomicOutputFile {
        let output = try AtomicOutputFile(path: path)
        try output.write(header)
        for tensor in tensors {
            let start = output.bytesWritten
            try writeTensor(tensor, output)
            precondition(
                output.bytesWritten - start == tensor.byteCount,
                "\(tensor.name): wrote \(output.bytesWritten - start) of \(tensor.byteCount) bytes")
        }
        return output
    }
}
