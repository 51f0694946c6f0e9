import TensorCore

/// A weight matrix `[rows, cols]` held as one or more `WeightMatrix` blocks, each used in place:
/// a file's matrix is one block; a shard set's is its shards' slices, so a sharded model is
/// never merged into memory (`docs/memory.md`).
///
/// Kernel file. Blocks of rows (fairscale's column-parallel wq wk wv w1 w3, the output, Llama 3's
/// embedding) each write their own output rows, with the arithmetic of one matrix. Blocks of
/// columns (the row-parallel wo and w2, Llama 1/2's embedding) each multiply their slice of the
/// activations, and the partial products are summed, so only the summation order differs from
/// one matrix (`docs/forward-pass.md` §8.1). One block calls `MatrixKernels.matmul` as before.
struct PartitionedMatrix: @unchecked Sendable {
    enum Split { case rows, columns }

    let rows: Int
    let cols: Int
    let split: Split
    let blocks: [WeightMatrix]
    /// The first row (`.rows`) or column (`.columns`) of each block.
    let offsets: [Int]

    var dtype: DType { blocks[0].dtype }

    /// One matrix, used exactly as before.
    init(_ matrix: WeightMatrix) {
        self.init(split: .rows, blocks: [matrix])
    }

    /// Blocks stacked along `split`; the caller checked that they agree on the other dimension.
    init(split: Split, blocks: [WeightMatrix]) {
        precondition(!blocks.isEmpty)
        self.split = split
        self.blocks = blocks
        var offsets: [Int] = []
        var end = 0
        for block in blocks {
            offsets.append(end)
            end += split == .rows ? block.rows : block.cols
        }
        self.offsets = offsets
        rows = split == .rows ? end : blocks[0].rows
        cols = split == .columns ? end : blocks[0].cols
    }

    /// Writes row `row` as f32 into `out` (`cols` values): an embedding lookup.
    func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        switch split {
        case .rows:
            let index = offsets.lastIndex { $0 <= row }!
            blocks[index].decodeRow(row - offsets[index], into: out)
        case .columns:
            for (block, offset) in zip(blocks, offsets) { block.decodeRow(row, into: out + offset) }
        }
    }

    /// `out[t] = W · x[t]` for `positions` positions: `x` is `positions × cols`, `out`
    /// `positions × rows`, both row-major.
    func matmul(_ x: UnsafePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        if blocks.count == 1 {
            MatrixKernels.matmul(blocks[0], x, positions: positions, into: out, threads: threads)
        } else if split == .rows {
            rowBlocksProduct(x, positions: positions, into: out, threads: threads)
        } else {
            columnBlocksProduct(x, positions: positions, into: out, threads: threads)
        }
    }

    /// Each block's rows of every position. One position writes in place; a block of positions
    /// goes through a `positions × block.rows` buffer, since the kernels write rows `block.rows` apart.
    private func rowBlocksProduct(_ x: UnsafePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let widest = blocks.map(\.rows).max()!
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: positions == 1 ? 0 : positions * widest)
        defer { buffer.deallocate() }
        for (block, offset) in zip(blocks, offsets) {
            if positions == 1 {
                MatrixKernels.matmul(block, x, positions: 1, into: out + offset, threads: threads)
                continue
            }
            MatrixKernels.matmul(block, x, positions: positions, into: buffer, threads: threads)
            for t in 0..<positions { (out + t * rows + offset).update(from: buffer + t * block.rows, count: block.rows) }
        }
    }

    /// Σ over blocks of block · (its columns of x). One position reads its slice in place; a
    /// block of positions gathers the slice first. The first block writes `out`, the others add.
    private func columnBlocksProduct(_ x: UnsafePointer<Float>, positions: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let widest = blocks.map(\.cols).max()!
        let slice = UnsafeMutablePointer<Float>.allocate(capacity: positions == 1 ? 0 : positions * widest)
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: positions * rows)
        defer {
            slice.deallocate()
            partial.deallocate()
        }
        for (index, (block, offset)) in zip(blocks, offsets).enumerated() {
            var input = x + offset
            if positions > 1 {
                for t in 0..<positions { (slice + t * block.cols).update(from: x + t * cols + offset, count: block.cols) }
                input = UnsafePointer(slice)
            }
            MatrixKernels.matmul(block, input, positions: positions, into: index == 0 ? out : partial, threads: threads)
            if index > 0 {
                for i in 0..<(positions * rows) { out[i] += partial[i] }
            }
        }
    }
}
