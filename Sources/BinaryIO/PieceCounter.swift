import Synchronization

/// Hands out piece numbers 0, 1, 2, … to whichever worker thread asks first, so a thread the
/// system deschedules holds back one small piece, not a fixed share of the work. Used with
/// `DispatchQueue.concurrentPerform` and a `SlotArray` for the pieces' results.
public final class PieceCounter: Sendable {
    private let next = Atomic<Int>(0)

    public init() {}

    /// The next piece, or nil once all `pieces` are taken.
    public func take(below pieces: Int) -> Int? {
        let piece = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return piece < pieces ? piece : nil
    }
}
