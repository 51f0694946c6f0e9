/// The row order of q and k projections in the two layouts (`docs/hf-format.md` §3).
///
/// Meta's RoPE rotates interleaved pairs (rows 2j, 2j+1 of each head); transformers rotates
/// halves (rows j, j + head_dim/2). transformers' converter therefore permutes the rows of
/// `wq` (over n_heads) and `wk` (over n_kv_heads): within each head, HF row `t·(d/2) + j` is
/// Meta row `2j + t`. Only rows move, so the permutation works on any row format.
public enum RotaryPermutation {
    public enum Direction: Sendable {
        /// Meta rows → HF rows (writing an HF directory).
        case metaToHF
        /// HF rows → Meta rows (reading one).
        case hfToMeta
    }

    /// The source row that lands at `row`, for a tensor of `heads` heads of `headDim` rows each.
    @inline(__always)
    public static func sourceRow(of row: Int, headDim: Int, direction: Direction) -> Int {
        let head = row / headDim * headDim
        let inHead = row % headDim
        let half = headDim / 2
        switch direction {
        case .hfToMeta:
            // Meta row 2j + t comes from HF row t·half + j.
            return head + (inHead % 2) * half + inHead / 2
        case .metaToHF:
            // HF row t·half + j comes from Meta row 2j + t.
            return head + (inHead % half) * 2 + inHead / half
        }
    }

    /// Copies `rows` rows of `rowBytes` bytes from `source` to `destination` in the other layout.
    public static func permuteRows(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, rowBytes: Int, headDim: Int,
        direction: Direction
    ) {
        precondition(source.count == destination.count && rowBytes > 0 && source.count % rowBytes == 0)
        let rows = source.count / rowBytes
        precondition(headDim % 2 == 0 && rows % headDim == 0, "rows \(rows) are not whole heads of \(headDim)")
        for row in 0..<rows {
            let from = sourceRow(of: row, headDim: headDim, direction: direction)
            UnsafeMutableRawBufferPointer(rebasing: destination[row * rowBytes..<(row + 1) * rowBytes])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from * rowBytes..<(from + 1) * rowBytes]))
        }
    }
}
