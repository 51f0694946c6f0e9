/// A fixed array whose slots worker threads fill in parallel (`DispatchQueue.concurrentPerform`),
/// each slot written by one thread only: raw memory, so no shared copy-on-write buffer is mutated
/// from two threads. Read `elements` after the workers have returned.
public final class SlotArray<Element>: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Element>
    public let count: Int

    public init(count: Int, repeating value: Element) {
        precondition(count >= 0)
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count)
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count)
            base[index] = newValue
        }
    }

    /// Lends slots `start ..< start + length` to `body`.
    public func withSlots<R>(_ start: Int, _ length: Int, _ body: (UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        precondition(start >= 0 && length >= 0 && start + length <= count)
        return try body(UnsafeMutableBufferPointer(start: base + start, count: length))
    }

    public var elements: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
