import Foundation
import Verification

/// What `perplexity` prints: a table, then llama-perplexity's own statistics block for a KL run
/// (the same labels and number formats, so the two outputs compare line by line).
enum PerplexityReport {
    static func text(_ r: Perplexity.Result, model: String, textLabel: String?) -> String {
        let chunks = r.chunkPerplexities.enumerated().map { String(format: "[%d]%.4f", $0.offset + 1, $0.element) }
        var rows: [[String]] = [
            ["model", "\(model) (\(r.format), \(r.weightType) weights)"],
            [
                "text",
                "\(textLabel ?? "the base file's tokens"): \(Formatting.grouped(r.textTokens)) tokens; \(r.chunks) chunk\(r.chunks == 1 ? "" : "s") of \(r.context), \(Formatting.grouped(r.scored)) positions scored",
            ],
            ["per chunk", chunks.joined(separator: ",")],
            ["PPL", String(format: "%.4f ± %.5f", r.perplexity, r.perplexityError)],
            ["speed", String(format: "%.1f tokens/s (%.2f s)", r.tokensPerSecond, r.seconds)],
        ]
        guard let k = r.kld else { return Formatting.columns(rows) }
        rows[3] = ["PPL", String(format: "%.4f ± %.5f, base %.4f", r.perplexity, r.perplexityError, k.basePerplexity.mean)]
        return Formatting.columns(rows) + "\n\n" + statistics(k)
    }

    /// llama-perplexity --kl-divergence's closing block.
    static func statistics(_ k: KLDSummary) -> String {
        func f(_ format: String, _ values: Double...) -> String { String(format: format, arguments: values) }
        func label(_ fraction: Double, _ name: String) -> String {
            switch fraction {
            case 1: return "Maximum \(name):"
            case 0: return "Minimum \(name):"
            case 0.5: return "Median  \(name):"
            default: return f("%4.1f%%   ", fraction * 100) + "\(name):"
            }
        }
        var lines = [
            "====== Perplexity statistics ======",
            f("Mean PPL(Q)                   : %10.6f ± %10.6f", k.perplexity.mean, k.perplexity.error),
            f("Mean PPL(base)                : %10.6f ± %10.6f", k.basePerplexity.mean, k.basePerplexity.error),
            f("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%", 100 * k.correlation),
            f("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f", k.logPerplexityRatio.mean, k.logPerplexityRatio.error),
            f("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f", k.perplexityRatio.mean, k.perplexityRatio.error),
            f("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f", k.perplexityDifference.mean, k.perplexityDifference.error),
            "", "====== KL divergence statistics ======",
            f("Mean    KLD: %10.6f ± %10.6f", k.kld.mean, k.kld.error),
        ]
        lines += k.kldPercentiles.map { "\(label($0.0, "KLD")) " + f("%10.6f", $0.1) }
        lines += [
            "", "====== Token probability statistics ======",
            f("Mean    Δp: %6.3f ± %5.3f %%", 100 * k.probabilityDelta.mean, 100 * k.probabilityDelta.error),
        ]
        lines += k.probabilityDeltaPercentiles.map { "\(label($0.0, "Δp")) " + f("%6.3f%%", 100 * $0.1) }
        lines += [
            f("RMS Δp    : %6.3f ± %5.3f %%", 100 * k.probabilityDeltaRMS.mean, 100 * k.probabilityDeltaRMS.error),
            f("Same top p: %6.3f ± %5.3f %%", 100 * k.sameTop.mean, 100 * k.sameTop.error),
        ]
        return lines.joined(separator: "\n")
    }

    static func json(_ r: Perplexity.Result) -> JSONOutput {
        func measure(_ m: MeanAndError) -> JSONOutput { .object([("mean", .double(m.mean)), ("error", .double(m.error))]) }
        func percentiles(_ values: [(Double, Double)]) -> JSONOutput {
            .object(values.map { (String(format: "p%g", $0.0 * 100), .double($0.1)) })
        }
        var fields: [(String, JSONOutput)] = [
            ("format", .string(r.format)), ("weight_type", .string(r.weightType)), ("text_tokens", .int(r.textTokens)),
            ("ctx", .int(r.context)), ("chunks", .int(r.chunks)), ("scored", .int(r.scored)), ("ppl", .double(r.perplexity)),
            ("ppl_error", .double(r.perplexityError)), ("chunk_ppl", .array(r.chunkPerplexities.map { .double($0) })),
            ("seconds", .double(r.seconds)), ("tokens_per_s", .double(r.tokensPerSecond)),
        ]
        if let k = r.kld {
            fields.append(
                (
                    "kld",
                    .object([
                        ("ppl_base", measure(k.basePerplexity)), ("ln_ppl_ratio", measure(k.logPerplexityRatio)),
                        ("ppl_ratio", measure(k.perplexityRatio)), ("ppl_difference", measure(k.perplexityDifference)),
                        ("ln_ppl_correlation", .double(k.correlation)), ("kld", measure(k.kld)),
                        ("kld_percentiles", percentiles(k.kldPercentiles)),
                        ("delta_p", measure(k.probabilityDelta)), ("delta_p_percentiles", percentiles(k.probabilityDeltaPercentiles)),
                        ("delta_p_rms", measure(k.probabilityDeltaRMS)), ("same_top", measure(k.sameTop)),
                    ])
                ))
        }
        return .object(fields)
    }
}
