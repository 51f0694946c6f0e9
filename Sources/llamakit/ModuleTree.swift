import Llama
import TensorCore

/// Prints tensors as the module tree PyTorch prints for a model:
/// `Transformer(` … `(layers): ModuleList( (0-31): 32 x TransformerBlock(` … `)`.
///
/// Built from dotted names, so it works for any state dict; Llama names get Meta's class names.
struct ModuleTree {
    private final class Node {
        var children: [(String, Node)] = []
        var tensor: TensorInfo?
        func child(_ name: String) -> Node {
            if let found = children.first(where: { $0.0 == name }) { return found.1 }
            let node = Node()
            children.append((name, node))
            return node
        }
    }

    private let root = Node()
    private let config: LlamaConfig?

    init(tensors: [TensorInfo], config: LlamaConfig?) {
        self.config = config
        for info in tensors {
            var node = root
            for part in info.name.split(separator: ".") { node = node.child(String(part)) }
            node.tensor = info
        }
    }

    func render() -> String {
        let isLlama = root.children.contains { $0.0 == "tok_embeddings" }
        return describe(root, name: isLlama ? "Transformer" : "Module", indent: "")
    }

    /// A one-line signature for a leaf module (a node whose children are all tensors).
    private func signature(_ node: Node, name: String) -> String? {
        guard !node.children.isEmpty, node.children.allSatisfy({ $0.1.tensor != nil && $0.1.children.isEmpty }) else { return nil }
        let weight = node.children.first { $0.0 == "weight" }?.1.tensor
        let hasBias = node.children.contains { $0.0 == "bias" }
        if let weight, weight.shape.count == 2 {
            if name == "tok_embeddings" || name.contains("embed") {
                return "Embedding(\(weight.shape[0]), \(weight.shape[1]))"
            }
            return "Linear(in_features=\(weight.shape[1]), out_features=\(weight.shape[0]), bias=\(hasBias ? "True" : "False"))"
        }
        if let weight, weight.shape.count == 1, name.contains("norm") {
            return "RMSNorm((\(weight.shape[0]),), eps=\(config.map { "\($0.normEps)" } ?? "?"))"
        }
        return nil
    }

    private func className(_ name: String) -> String {
        switch name {
        case "attention": return "Attention"
        case "feed_forward": return "FeedForward"
        case "layers": return "ModuleList"
        default: return "Module"
        }
    }

    private func describe(_ node: Node, name: String, indent: String) -> String {
        var lines = ["\(name)("]
        let inner = indent + "  "
        // Numbered children with the same structure collapse into "(0-31): 32 x Block(".
        var index = 0
        let children = node.children
        while index < children.count {
            let (key, child) = children[index]
            if let tensor = child.tensor, child.children.isEmpty {
                lines.append("\(inner)(\(key)): Tensor(\(tensor.dtype.rawValue)\(Formatting.shape(tensor.shape)))")
                index += 1
                continue
            }
            var end = index + 1
            if Int(key) != nil {
                let shape = structure(child)
                while end < children.count, Int(children[end].0) != nil, structure(children[end].1) == shape { end += 1 }
            }
            let label = end - index > 1 ? "(\(key)-\(children[end - 1].0)): \(end - index) x " : "(\(key)): "
            if let leaf = signature(child, name: key) {
                lines.append(inner + label + leaf)
            } else {
                let childClass = Int(key) != nil ? (node === root ? "Module" : "TransformerBlock") : className(key)
                lines.append(inner + label + describe(child, name: childClass, indent: inner))
            }
            index = end
        }
        lines.append("\(indent))")
        return lines.joined(separator: "\n")
    }

    /// A string that equals for two subtrees with the same names, dtypes and shapes.
    private func structure(_ node: Node) -> String {
        var parts: [String] = []
        if let tensor = node.tensor { parts.append("\(tensor.dtype)\(tensor.shape)") }
        for (key, child) in node.children { parts.append("\(key){\(structure(child))}") }
        return parts.joined(separator: ",")
    }
}
