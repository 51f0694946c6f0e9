/// tiktoken's `byte_pair_merge` (`docs/formats.md` §5.3): the whole piece is
/// looked up first; otherwise, starting from single bytes, the adjacent pair whose
/// concatenation has the lowest rank merges first, ties to the leftmost, until no adjacent
/// concatenation is a token.
///
/// A min-heap of (rank, start) with lazy invalidation keeps long pieces O(n log n).
struct BytePairMerger {
    private var next: [Int] = []
    private var previous: [Int] = []
    private var alive: [Bool] = []
    private var heap = BinaryHeap<RankedPair>()

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
        heap.removeAll()

        func pairRank(_ k: Int) -> Int32? {
            let j = next[k]
            guard j < count else { return nil }
            return ranks.rank(piece[(base + k)..<(base + next[j])])
        }
        for k in 0..<count - 1 {
            if let rank = pairRank(k) { heap.push(RankedPair(rank: rank, start: k)) }
        }
        while let top = heap.pop() {
            let k = top.start
            // Stale entries: the part died, or its pair changed since this entry was pushed.
            guard alive[k], let current = pairRank(k), current == top.rank else { continue }
            let j = next[k]
            alive[j] = false
            next[k] = next[j]
            if next[j] < count { previous[next[j]] = k }
            if let rank = pairRank(k) { heap.push(RankedPair(rank: rank, start: k)) }
            if previous[k] >= 0, let rank = pairRank(previous[k]) { heap.push(RankedPair(rank: rank, start: previous[k])) }
        }
        var k = 0
        while k < count {
            out.append(Int(ranks.rank(piece[(base + k)..<(base + next[k])])!))
            k = next[k]
        }
    }
}

/// A tiktoken merge candidate: the lowest rank merges first, ties to the leftmost.
struct RankedPair: Comparable {
    var rank: Int32
    var start: Int

    static func < (a: RankedPair, b: RankedPair) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.start < b.start)
    }
}
