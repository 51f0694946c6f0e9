import BinaryIO

extension PickleMachine.Result {
    /// Every tensor reachable from the top-level dict, named by dotted path
    /// (`model.layers.0.attention.wq.weight`), in pickle order. A tensor object reachable under
    /// two names (tied weights) is listed under both.
    ///
    /// Iterative, with a visited set and a depth cap, so cycles and deep nesting cannot hang
    /// or overflow the stack.
    /// - Throws: `InputError` when the top level is not a dict, a container nests deeper than
    ///   `maxDepth`, or two paths produce the same name.
    func namedTensors(maxDepth: Int) throws -> [(name: String, tensor: Int)] {
        guard case .dict(let rootIndex) = root else {
            throw InputError("the checkpoint's top-level object is a \(root.typeName), expected a dict of tensors")
        }
        var result: [(name: String, tensor: Int)] = []
        var seenNames: Set<String> = []
        var visitedDicts: Set<Int> = [rootIndex]
        var visitedLists: Set<Int> = []
        var visitedTuples: Set<Int> = []
        // A stack of (prefix, children, depth); children are visited in order.
        var work: [(prefix: String, children: [(String, PickleValue)], next: Int, depth: Int)] = [
            ("", children(of: root), 0, 0)
        ]
        while !work.isEmpty {
            let top = work.count - 1
            guard work[top].next < work[top].children.count else {
                work.removeLast()
                continue
            }
            let (key, value) = work[top].children[work[top].next]
            work[top].next += 1
            let name = work[top].prefix.isEmpty ? key : work[top].prefix + "." + key
            switch value {
            case .tensor(let index):
                guard seenNames.insert(name).inserted else {
                    throw InputError("two entries produce the tensor name '\(name)'")
                }
                result.append((name, index))
            case .dict(let index), .list(let index), .tuple(let index):
                let fresh: Bool
                switch value {
                case .dict: fresh = visitedDicts.insert(index).inserted
                case .list: fresh = visitedLists.insert(index).inserted
                default: fresh = visitedTuples.insert(index).inserted
                }
                guard fresh else { continue }
                let depth = work[top].depth + 1
                guard depth <= maxDepth else {
                    throw InputError("containers nest deeper than \(maxDepth) levels at '\(name.prefix(200))…'")
                }
                work.append((name, children(of: value), 0, depth))
            default:
                continue
            }
        }
        return result
    }

    private func children(of value: PickleValue) -> [(String, PickleValue)] {
        switch value {
        case .dict(let index):
            let dict = dicts[index]
            return zip(dict.keys, dict.values).map { (keyName($0.0), $0.1) }
        case .list(let index):
            return lists[index].enumerated().map { ("\($0.offset)", $0.element) }
        case .tuple(let index):
            return tuples[index].enumerated().map { ("\($0.offset)", $0.element) }
        default:
            return []
        }
    }

    private func keyName(_ key: PickleValue) -> String {
        switch key {
        case .string(let text): return text
        case .int(let number): return "\(number)"
        case .bool(let flag): return flag ? "True" : "False"
        case .none: return "None"
        case .float(let number): return "\(number)"
        default: return "<\(key.typeName)>"
        }
    }
}
