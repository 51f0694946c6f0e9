import ArgumentParser
import BinaryIO
import Foundation
import GGUF
import TensorCore
import Verification

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two models tensor by tensor (and GGUF metadata key by key): what changed, where, and by how much.",
        discussion: """
            A and B are each a Meta checkpoint (a directory of consolidated.NN.pth shards, or one .pth), a Hugging Face directory (config.json and safetensors or pytorch_model*.bin) or a .gguf file, in any mix. Tensors are matched by meaning under Meta's names: GGUF and HF names mapped, the HF q/k row permutation undone, shards merged, a GGUF's dropped tied output read as its embedding. Values are compared as f32: f16 and bf16 widened exactly, quantized blocks (q8_0, q4_k, …) dequantized as ggml does.

            One line per tensor, in A's order:
              equal       every value bit-identical once widened to f32 (the stored types are shown and may differ)
              close       every value within |a − b| ≤ atol + rtol·|b| (numpy's allclose), not all identical
              different   max |Δ|, RMSE, cosine similarity, how many values lie beyond tolerance, and the first one: its index and both values
              only in A / only in B, shape (the shapes differ)
              derived     rope.freqs or rope_freqs.weight held by one side only: every reader computes it from the hyperparameters, so it is not compared
            When both are GGUF files, every metadata key is compared too (type and value; for arrays the first differing element). A summary line gives the counts.

            The default tolerance is numpy's (--atol 1e-8, --rtol 1e-5): a lossless conversion (bf16 → bf16 or f32) is equal, anything that rounds the weights (f16, q8_0, …) differs; loosen it to ask "within quantization noise?". Tensors are read one at a time and released, so memory stays near two tensors whatever the model's size; --threads splits each tensor (the results are the same for any count).

            Exit status: 0 when everything is equal or close (derived tensors aside), 1 when anything differs (a tensor, a shape, a missing tensor or key, a key's value), 2 bad usage or bad input (a path that is not a model, an unreadable file).

            Examples:
              llamakit diff Meta-Llama-3.1-8B/ llama-3.1-8b-bf16.gguf
              llamakit diff Meta-Llama-3.1-8B/ Llama-3.1-8B-hf/ --json | jq '.tensors[] | select(.status != "equal")'
              llamakit diff llama-3.1-8b-f16.gguf llama-3.1-8b-q8_0.gguf --atol 0.01
              llamakit diff old.gguf new.gguf --metadata-only
            """
    )

    @Argument(help: "The first model: a Meta checkpoint directory or .pth, a Hugging Face directory, or a .gguf file.")
    var a: String

    @Argument(help: "The second model, of any of the same kinds.")
    var b: String

    @Option(help: "Absolute tolerance: values within atol + rtol·|b| are close.")
    var atol: Double = ModelDiff.Tolerance.standard.absolute

    @Option(help: "Relative tolerance, times |b|.")
    var rtol: Double = ModelDiff.Tolerance.standard.relative

    @Flag(help: "Compare only the GGUF metadata (both must be GGUF files).")
    var metadataOnly = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        for (name, value) in [("--atol", atol), ("--rtol", rtol)] where !(value.isFinite && value >= 0) {
            throw ValidationError("\(name) must be a finite number ≥ 0")
        }
    }

    func run() throws {
        var matches = false
        try reportingErrors {
            let modelA = try ModelDiff.Model.open(a), modelB = try ModelDiff.Model.open(b)
            try ModelDiff.memoryPlan(modelA, modelB, threads: threading.threads).check(limit: memory.limit)
            if metadataOnly {
                for model in [modelA, modelB] where model.gguf == nil {
                    throw InputError(.unsupported, "--metadata-only compares GGUF metadata; this is not a GGUF file", file: model.path)
                }
            }
            let tolerance = ModelDiff.Tolerance(absolute: atol, relative: rtol)
            let report = DiffReport(a: modelA, b: modelB, tolerance: tolerance)
            if !json { print(report.header()) }
            var tensors: [ModelDiff.TensorDiff] = []
            if !metadataOnly {
                let names = ModelDiff.names(modelA, modelB)
                let width = names.map(\.count).max() ?? 0
                // Progress on a terminal when the lines themselves are not on it.
                let progress = Console.stderrIsTerminal && (json || !Console.stdoutIsTerminal)
                try ModelDiff.compareTensors(modelA, modelB, tolerance: tolerance, threads: threading.threads) { tensor in
                    tensors.append(tensor)
                    if progress { Console.status("[\(tensors.count)/\(names.count)] \(tensor.name)") }
                    if !json { print(DiffReport.line(tensor, nameWidth: width)) }
                }
                if progress { Console.status("") }
            }
            var keys: [ModelDiff.KeyDiff]? = nil
            if let fileA = modelA.gguf, let fileB = modelB.gguf { keys = ModelDiff.compareMetadata(fileA, fileB) }
            if !json, let keys { print((metadataOnly ? "" : "\n") + DiffReport.metadataLines(keys)) }
            let summary = ModelDiff.Summary(tensors: tensors, keys: keys ?? [])
            matches = summary.matches
            if json {
                print(report.json(tensors: metadataOnly ? nil : tensors, keys: keys, summary: summary).rendered())
            } else {
                print(DiffReport.summaryLine(summary, comparedTensors: !metadataOnly, comparedKeys: keys != nil))
            }
        }
        if !matches { throw ExitCode(1) }
    }
}

/// What `diff` prints, from the library's results.
struct DiffReport {
    let a: ModelDiff.Model
    let b: ModelDiff.Model
    let tolerance: ModelDiff.Tolerance

    static func g(_ value: Double) -> String { value.isNaN ? "nan" : String(format: "%.4g", value) }

    static func describe(_ model: ModelDiff.Model) -> String {
        let kind: String
        switch model.format {
        case "gguf": kind = "GGUF v\(model.gguf!.version)"
        case "hf": kind = "Hugging Face directory"
        default: kind = "Meta checkpoint"
        }
        return "\(model.path) (\(kind), \(model.source.tensorInfos.count) tensors)"
    }

    func header() -> String {
        Formatting.columns([
            ["A", Self.describe(a)], ["B", Self.describe(b)],
            ["tolerance", "|a − b| ≤ \(Self.g(tolerance.absolute)) + \(Self.g(tolerance.relative))·|b|"],
        ]) + "\n"
    }

    static let statusWords: [ModelDiff.Status: String] = [
        .equal: "equal", .close: "close", .different: "different", .onlyInA: "only in A", .onlyInB: "only in B",
        .shapeMismatch: "shape", .derived: "derived",
    ]

    static func types(_ diff: ModelDiff.TensorDiff) -> String {
        let types = [diff.a, diff.b].compactMap { $0?.dtype.rawValue }
        return types.count == 2 && types[0] == types[1] ? types[0] : types.joined(separator: " vs ")
    }

    /// Row-major coordinates of flat `index` in `shape`: `[3, 17]`.
    static func coordinates(_ index: Int, _ shape: [Int]) -> String {
        var rest = index
        var coordinates = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            coordinates[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return Formatting.shape(coordinates)
    }

    static func line(_ diff: ModelDiff.TensorDiff, nameWidth: Int) -> String {
        let status = statusWords[diff.status]!
        var cells = [
            diff.name.padding(toLength: max(nameWidth, diff.name.count), withPad: " ", startingAt: 0),
            status.padding(toLength: 9, withPad: " ", startingAt: 0),
            types(diff).padding(toLength: max(12, types(diff).count), withPad: " ", startingAt: 0),
        ]
        switch diff.status {
        case .shapeMismatch:
            cells.append("\(Formatting.shape(diff.a!.shape)) vs \(Formatting.shape(diff.b!.shape))")
        case .onlyInA, .onlyInB, .derived:
            cells.append(Formatting.shape((diff.a ?? diff.b)!.shape))
            if diff.status == .derived { cells.append("(computed from the hyperparameters; not compared)") }
        case .equal:
            cells.append(Formatting.shape(diff.a!.shape))
        case .close:
            cells.append(Formatting.shape(diff.a!.shape))
            cells.append("max |Δ| \(g(diff.statistics!.maxAbsDiff))")
        case .different:
            let s = diff.statistics!
            cells.append(Formatting.shape(diff.a!.shape))
            cells.append("max |Δ| \(g(s.maxAbsDiff))  RMSE \(g(s.rmse))  cos \(s.cosine.map { String(format: "%.6f", $0) } ?? "–")")
            cells.append("\(Formatting.grouped(s.beyondTolerance)) of \(Formatting.grouped(s.elements)) beyond tolerance")
            if let first = s.firstDifference {
                cells.append("first at \(coordinates(first.index, diff.a!.shape)) (index \(first.index)): \(first.a) vs \(first.b)")
            }
        }
        if let note = diff.note { cells.append("(\(note))") }
        return cells.joined(separator: "  ").replacing(/\s+$/, with: "")
    }

    static func typeName(_ value: GGUFValue?) -> String {
        guard let value else { return "–" }
        if case .array(let type, _) = value { return "[\(type)]" }
        return "\(value.type)"
    }

    static func metadataLines(_ keys: [ModelDiff.KeyDiff]) -> String {
        let words: [ModelDiff.KeyStatus: String] = [.equal: "equal", .different: "different", .onlyInA: "only in A", .onlyInB: "only in B"]
        let rows = keys.map { key -> [String] in
            func shown(_ value: GGUFValue?) -> String { value.map { "\(typeName($0)) \(GGUFReport.describe($0, limit: 4))" } ?? "" }
            var detail: String
            switch key.status {
            case .equal, .onlyInA: detail = shown(key.a)
            case .onlyInB: detail = shown(key.b)
            case .different:
                detail = "\(shown(key.a))  vs  \(shown(key.b))"
                if let index = key.firstDifferentElement, case .array(_, let itemsA) = key.a, case .array(_, let itemsB) = key.b {
                    let itemA = index < itemsA.count ? GGUFReport.describe(itemsA[index]) : "(none)"
                    let itemB = index < itemsB.count ? GGUFReport.describe(itemsB[index]) : "(none)"
                    detail += "  (first at \(index): \(itemA) vs \(itemB))"
                }
            }
            return [key.key, words[key.status]!, detail]
        }
        return "metadata\n" + Formatting.columns(rows)
    }

    static func summaryLine(_ summary: ModelDiff.Summary, comparedTensors: Bool, comparedKeys: Bool) -> String {
        var parts: [String] = []
        if comparedTensors {
            let order: [ModelDiff.Status] = [.equal, .close, .different, .onlyInA, .onlyInB, .shapeMismatch, .derived]
            let counted = order.compactMap { status in summary.tensors[status].map { "\($0) \(statusWords[status]!)" } }
            parts.append("tensors: " + (counted.isEmpty ? "none" : counted.joined(separator: ", ")))
        }
        if comparedKeys {
            let order: [ModelDiff.KeyStatus] = [.equal, .different, .onlyInA, .onlyInB]
            let words: [ModelDiff.KeyStatus: String] = [
                .equal: "equal", .different: "different", .onlyInA: "only in A", .onlyInB: "only in B",
            ]
            let counted = order.compactMap { status in summary.keys[status].map { "\($0) \(words[status]!)" } }
            parts.append("metadata keys: " + (counted.isEmpty ? "none" : counted.joined(separator: ", ")))
        } else {
            parts.append("metadata: not compared (GGUF against GGUF only)")
        }
        return "\n" + parts.joined(separator: "; ") + "\n" + (summary.matches ? "MATCH" : "DIFFERENT")
    }

    func json(tensors: [ModelDiff.TensorDiff]?, keys: [ModelDiff.KeyDiff]?, summary: ModelDiff.Summary) -> JSONOutput {
        func side(_ model: ModelDiff.Model) -> JSONOutput {
            .object([("path", .string(model.path)), ("format", .string(model.format))])
        }
        func number(_ value: Double) -> JSONOutput { value.isFinite ? .double(value) : .null }
        func tensor(_ diff: ModelDiff.TensorDiff) -> JSONOutput {
            var fields: [(String, JSONOutput)] = [("name", .string(diff.name)), ("status", .string(diff.status.rawValue))]
            for (label, info) in [("a", diff.a), ("b", diff.b)] {
                fields.append(("dtype_\(label)", .optional(info.map { .string($0.dtype.rawValue) })))
                fields.append(("shape_\(label)", .optional(info.map { .array($0.shape.map { .int($0) }) })))
            }
            if let s = diff.statistics {
                fields += [
                    ("elements", .int(s.elements)), ("max_abs_diff", number(s.maxAbsDiff)), ("rmse", number(s.rmse)),
                    ("cosine", .optional(s.cosine.map { .double($0) })), ("beyond_tolerance", .int(s.beyondTolerance)),
                    (
                        "first_difference",
                        .optional(
                            s.firstDifference.map {
                                .object([("index", .int($0.index)), ("a", number(Double($0.a))), ("b", number(Double($0.b)))])
                            })
                    ),
                ]
            }
            if let note = diff.note { fields.append(("note", .string(note))) }
            return .object(fields)
        }
        func key(_ diff: ModelDiff.KeyDiff) -> JSONOutput {
            .object([
                ("key", .string(diff.key)), ("status", .string(diff.status.rawValue)),
                ("type_a", .optional(diff.a.map { .string(Self.typeName($0)) })),
                ("type_b", .optional(diff.b.map { .string(Self.typeName($0)) })),
                ("value_a", .optional(diff.a.map(GGUFReport.json))), ("value_b", .optional(diff.b.map(GGUFReport.json))),
                ("first_different_element", .optional(diff.firstDifferentElement.map { .int($0) })),
            ])
        }
        return .object([
            ("a", side(a)), ("b", side(b)),
            ("tolerance", .object([("atol", .double(tolerance.absolute)), ("rtol", .double(tolerance.relative))])),
            ("match", .bool(summary.matches)),
            (
                "summary",
                .object([
                    (
                        "tensors",
                        tensors == nil ? .null : .object(ModelDiff.Status.allCases.map { ($0.rawValue, .int(summary.tensors[$0] ?? 0)) })
                    ),
                    (
                        "metadata",
                        keys == nil ? .null : .object(ModelDiff.KeyStatus.allCases.map { ($0.rawValue, .int(summary.keys[$0] ?? 0)) })
                    ),
                ])
            ),
            ("tensors", .optional(tensors.map { .array($0.map(tensor)) })),
            ("metadata", .optional(keys.map { .array($0.map(key)) })),
        ])
    }
}
