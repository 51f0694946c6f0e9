import BinaryIO

/// Anything that holds named tensors: a `.pth` file, a sharded set merged on the fly, a GGUF file.
///
/// Consumers (inspect, convert, the forward pass) see tensors only through this protocol
/// (`docs/architecture.md` §1). Bytes are handed out contiguous, row-major and
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

    /// The bytes of `name` in place, valid for as long as the source lives, when the stored form
    /// already is contiguous little-endian in a mapping (a GGUF file, an uncompressed `.pth`
    /// record); nil when the bytes must be assembled (shard merges, strided views, deflated
    /// records). The forward pass keeps weights this way instead of copying them.
    /// - Throws: `InputError` if the tensor is unknown or the file cannot be mapped.
    func residentBytes(of name: String) throws -> UnsafeRawBufferPointer?

    /// Where tensor `name`'s bytes lie in a file, when they are stored there contiguous and
    /// little-endian (an uncompressed `.pth` record); nil otherwise. Lets a writer copy them
    /// file to file in the kernel without touching them.
    /// - Throws: `InputError` if the tensor is unknown.
    func storedRange(of name: String) throws -> StoredRange?

    /// The tensors `name` is the concatenation of, when the source assembles it from several
    /// (a shard set's merge); nil for a tensor stored whole. Each part can then be read in place
    /// (`residentBytes`) where the merged tensor cannot, so the forward pass keeps a sharded
    /// model without copying it (`docs/memory.md`).
    /// - Throws: `InputError` if the tensor is unknown.
    func parts(of name: String) throws -> TensorParts?
}

/// A tensor as the concatenation of other sources' tensors along one axis, in order.
public struct TensorParts {
    public struct Part {
        public let source: any TensorSource
        /// The part's name in `source`.
        public let name: String

        public init(source: any TensorSource, name: String) {
            self.source = source
            self.name = name
        }
    }

    /// The axis the parts are concatenated along (0: blocks of rows, 1: blocks of columns).
    public let axis: Int
    public let parts: [Part]

    public init(axis: Int, parts: [Part]) {
        self.axis = axis
        self.parts = parts
    }
}

/// A contiguous byte range of an open file.
public struct StoredRange {
    public let file: FileReader
    public let offset: Int
    public let count: Int

    public init(file: FileReader, offset: Int, count: Int) {
        self.file = file
        self.offset = offset
        self.count = count
    }
}

extension TensorSource {
    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? { nil }
    public func storedRange(of name: String) throws -> StoredRange? { nil }
    public func parts(of name: String) throws -> TensorParts? { nil }
}
