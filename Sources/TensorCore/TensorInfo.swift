/// What a source knows about one tensor without reading its bytes.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    /// Row-major logical shape; `[]` for a 0-dim tensor.
    public var shape: [Int]
    /// Where the bytes live, for people: `data/3@832` (record@byte offset), `3 shards`, …
    public var location: String

    public init(name: String, dtype: DType, shape: [Int], location: String) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.location = location
    }

    /// Number of elements (1 for a 0-dim tensor). Sources validate shapes before they publish them.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of the contiguous row-major form.
    public var byteCount: Int { dtype.byteCount(elements: elementCount) }
}
