import LlamaTokenizers

/// Number and table formatting for human-readable output.
enum Formatting {
    /// 1234567 → "1,234,567".
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// Bytes with a binary unit: "1.5 GiB".
    static func bytes(_ value: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024 && unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        if unit == 0 { return "\(value) B" }
        let rounded = (amount * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }

    static func shape(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    /// Left-aligned columns, except those listed in `rightAligned`.
    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        columns([header] + rows, rightAligned: rightAligned)
    }

    /// Rows of cells in aligned columns, without a header.
    static func columns(_ rows: [[String]], rightAligned: Set<Int> = [], indent: String = "") -> String {
        guard let first = rows.first else { return "" }
        var widths = first.map { _ in 0 }
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return rightAligned.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacing(/\s+$/, with: "")
        }
        return rows.map { indent + line($0) }.joined(separator: "\n")
    }

    /// Token ids with their pieces (`--show-tokens`): `5 tokens: 128000 "<|begin_of_text|>", 791 "The", …`.
    static func tokens(_ ids: [Int], _ tokenizer: (any Tokenizer)?) -> String {
        let shown = ids.map { id in
            guard let tokenizer, let bytes = try? tokenizer.pieceBytes(id) else { return "\(id)" }
            return "\(id) " + JSONOutput.string(TokenizeCommand.display(bytes)).rendered()
        }
        return "\(ids.count) token\(ids.count == 1 ? "" : "s"): " + shown.joined(separator: ", ")
    }
}
