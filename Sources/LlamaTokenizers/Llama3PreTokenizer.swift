/// Splits text into the pieces Meta's Llama 3 pattern produces, without a regex engine:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// The seven-step scanner of `docs/formats.md` §5.2: leftmost-first
/// alternation, `\s` = Unicode White_Space, `\p{L}` = Lu Ll Lt Lm Lo, `\p{N}` = Nd Nl No,
/// `(?i:…)` with simple case folding (so `ſ` matches `s`). Works on Unicode scalars, never on
/// grapheme clusters.
enum Llama3PreTokenizer {
    enum Class: UInt8 { case letter, number, whitespace, other }

    @inline(__always) static func classify(_ scalar: Unicode.Scalar) -> Class {
        if scalar.value < 0x80 {
            let v = scalar.value
            if (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) { return .letter }
            if v >= 0x30 && v <= 0x39 { return .number }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .whitespace }
            return .other
        }
        if isWhiteSpace(scalar) { return .whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Unicode White_Space (`\s` in the pattern): exactly these 25 scalars, which is what
    /// `Unicode.Scalar.Properties.isWhitespace` answers, without its table lookup.
    @inline(__always) static func isWhiteSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Simple case fold for the contraction letters: ASCII either case, and U+017F `ſ` → s.
    @inline(__always) private static func fold(_ scalar: Unicode.Scalar) -> UInt32 {
        let v = scalar.value
        if v >= 0x41 && v <= 0x5A { return v | 0x20 }
        if v == 0x17F { return 0x73 }
        return v
    }

    @inline(__always) private static func isNewline(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value == 0x0A || scalar.value == 0x0D
    }

    /// Calls `piece` with each piece as a range of indices into `scalars`, in order.
    static func split(_ scalars: ArraySlice<Unicode.Scalar>, classes: ArraySlice<Class>, _ piece: (Range<Int>) -> Void) {
        let end = scalars.endIndex
        var i = scalars.startIndex
        while i < end {
            let c = scalars[i]
            let cls = classes[i]
            // 1. Contractions.
            if c == "'" && i + 1 < end {
                let a = fold(scalars[i + 1])
                if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 {
                    piece(i..<i + 2)
                    i += 2
                    continue
                }
                if i + 2 < end {
                    let b = fold(scalars[i + 2])
                    if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) {
                        piece(i..<i + 3)
                        i += 3
                        continue
                    }
                }
            }
            // 2. An optional non-letter, non-number, non-newline scalar, then letters.
            if cls == .letter || (cls != .number && !isNewline(c) && i + 1 < end && classes[i + 1] == .letter) {
                var j = i + 1
                while j < end && classes[j] == .letter { j += 1 }
                piece(i..<j)
                i = j
                continue
            }
            // 3. One to three numbers.
            if cls == .number {
                var j = i + 1
                while j < end && j < i + 3 && classes[j] == .number { j += 1 }
                piece(i..<j)
                i = j
                continue
            }
            // 4. An optional space, a run of "other", then any CR/LF.
            if cls == .other || (c == " " && i + 1 < end && classes[i + 1] == .other) {
                var j = cls == .other ? i + 1 : i + 2
                while j < end && classes[j] == .other { j += 1 }
                while j < end && isNewline(scalars[j]) { j += 1 }
                piece(i..<j)
                i = j
                continue
            }
            // 5–7. Whitespace.
            var e = i + 1
            while e < end && classes[e] == .whitespace { e += 1 }
            if let lastNewline = scalars[i..<e].lastIndex(where: isNewline) {
                piece(i..<lastNewline + 1)
                i = lastNewline + 1
            } else if e == end || e - i == 1 {
                piece(i..<e)
                i = e
            } else {
                piece(i..<e - 1)
                i = e - 1
            }
        }
    }
}
