/// Anything that holds named tensors: a `.pth` file, a sharded set merged on the fly, a GGUF file.
///
/// Consumers (inspect, convert, the forward pass) see tensors only through this protocol
/// (DESIGN.md, "The path of data"). Bytes are handed out contiguous, row-major and
/// little-endian, borrowed for the duration of `body`: in place from a mapping when the stored
/// form already is that, otherwise assembled into a buffer that lives only for the call.
public protocol TensorSource: AnyObject {
    /// Every tensor, in the order the file declares them.
    var tensorInfos: [TensorInfo] { get }

    /// The info of `name`, or nil.
    func info(named name: String) -> TensorInfo?

    /// Calls `body` with the contiguous little-endian bytes of tensor `name`.
    /// - Throws: `InputError` if the tensor is unknown or its bytes cannot be read.
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
}
