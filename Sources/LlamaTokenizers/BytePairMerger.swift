/// tiktoken's `byte_pair_merge` (`../shared/reference/tokenizers.md` §3): the whole piece is
/// looked up first; otherwise, starting from single bytes, the adjacent pair whose
/// concatenation has the lowest rank merges first, ties to the leftmost, until no adjacent
/// concatenation is a token.
///
/// A min-heap of (rank, start) with lazy invalidation keeps long pieces O(n log n).
struct BytePairMerger {
    private var next: [Int] = []
    private var previous: [Int] = []
    private var alive: [Bool] = []
    private var heap: [(rank: Int32, start: Int)] = []

    mutating func encode(_ piece: ArraySlice<UInt8>, ranks: TiktokenRanks, into out: inout [Int]) {
        if let whole = ranks.rank(piece) {
            out.append(Int(whole))
            return
        }
        let base = piece.startIndex
        let count = piece.count
        // Part k spans [k, next[k]) relative to base; alive parts form a linked list.
        next = Array(1...count)
        previous = Array(-1..<count - 1)
        alive = [Bool](repeating: true, count: count)
        heap.removeAll(keepingCapacity: true)

        func pairRank(_ k: Int) -> Int32? {
            let j = next[k]
            guard j < count else { return nil }
            return ranks.rank(piece[(base + k)..<(base + next[j])])
        }
        for k in 0..<count - 1 {
            if let rank = pairRank(k) { push((rank, k)) }
        }
        while let top = pop() {
            let k = top.start
            // Stale entries: the part died, or its pair changed since this entry was pushed.
            guard alive[k], let current = pairRank(k), current == top.rank else { continue }
            let j = next[k]
            alive[j] = false
            next[k] = next[j]
            if next[j] < count { previous[next[j]] = k }
            if let rank = pairRank(k) { push((rank, k)) }
            if previous[k] >= 0, let rank = pairRank(previous[k]) { push((rank, previous[k])) }
        }
        var k = 0
        while k < count {
            out.append(Int(ranks.rank(piece[(base + k)..<(base + next[k])])!))
            k = next[k]
        }
    }

    // MARK: - A binary min-heap ordered by (rank, start)

    @inline(__always) private static func less(_ a: (rank: Int32, start: Int), _ b: (rank: Int32, start: Int)) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.start < b.start)
    }

    private mutating func push(_ item: (rank: Int32, start: Int)) {
        heap.append(item)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() -> (rank: Int32, start: Int)? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && Self.less(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count && Self.less(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
