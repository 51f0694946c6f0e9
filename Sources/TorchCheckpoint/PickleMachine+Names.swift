import BinaryIO

extension PickleMachine.Result {
    /// Every tensor reachable from the top-level dict, named by dotted path
    /// (`model.layers.0.attention.wq.weight`), in pickle order. A tensor object reachable under
    /// two names (tied weights) is listed under both.
    ///
    /// Iterative, with a visited set and a depth cap, so cycles and deep nesting cannot hang
    /// or overflow the stack; names are capped at `limits.maxNameBytes`, so a long key reused
    /// through the memo cannot multiply into gigabytes of names (a 1 MB pickle made 5.9 GB
    /// before the cap).
    /// - Throws: `InputError` when the top level is not a dict, a container nests deeper than
    ///   `limits.maxNestingForNames`, a name is longer than `limits.maxNameBytes`, or two paths
    ///   produce the same name.
    func namedTensors(limits: PickleMachine.Limits = PickleMachine.Limits()) throws -> [(name: String, tensor: Int)] {
        let maxDepth = limits.maxNestingForNames
        let maxTotalNameBytes = limits.namesFixedBytes + limits.namesBytesPerPickleByte * pickleBytes
        var totalNameBytes = 0
        guard case .dict(let rootIndex) = root else {
            throw InputError(.mismatch, "the checkpoint's top-level object is a \(root.typeName), expected a dict of tensors")
        }
        var result: [(name: String, tensor: Int)] = []
        var seenNames: Set<String> = []
        // One flag per arena slot (a byte each; a Set cost ~20 bytes per container).
        var visitedDicts = [Bool](repeating: false, count: dicts.count)
        var visitedLists = [Bool](repeating: false, count: lists.count)
        var visitedTuples = [Bool](repeating: false, count: tuples.count)
        visitedDicts[rootIndex] = true
        // A stack of (prefix, container, next child, depth). Children are read one at a time
        // from the arena: materialising a container's children (a 4M-element list) doubled the
        // peak memory of a hostile pickle.
        var work: [(prefix: String, container: PickleValue, next: Int, depth: Int)] = [("", root, 0, 0)]
        while !work.isEmpty {
            let top = work.count - 1
            guard work[top].next < childCount(of: work[top].container) else {
                work.removeLast()
                continue
            }
            let (key, value) = child(of: work[top].container, at: work[top].next)
            work[top].next += 1
            switch value {
            case .tensor: break
            case .dict, .list, .tuple: if childCount(of: value) == 0 { continue }  // names nothing
            default: continue  // numbers, strings, None: not part of any tensor name
            }
            let prefixBytes = work[top].prefix.utf8.count
            let nameBytes = prefixBytes + (prefixBytes == 0 ? 0 : 1) + key.utf8.count
            guard nameBytes <= limits.maxNameBytes else {
                let start = work[top].prefix.isEmpty ? key.prefix(80) : work[top].prefix.prefix(80)
                throw InputError(.overLimit, "a tensor name of \(nameBytes) bytes exceeds the cap of \(limits.maxNameBytes) ('\(start)…')")
            }
            totalNameBytes += nameBytes
            guard totalNameBytes <= maxTotalNameBytes else {
                throw InputError(
                    .overLimit,
                    "the tensor names take more than \(maxTotalNameBytes) bytes (\(limits.namesBytesPerPickleByte) per pickle byte + \(limits.namesFixedBytes >> 20) MiB), at '\(key.prefix(80))'"
                )
            }
            let name = prefixBytes == 0 ? key : work[top].prefix + "." + key
            switch value {
            case .tensor(let index):
                guard seenNames.insert(name).inserted else {
                    throw InputError(.malformed, "two entries produce the tensor name '\(name)'")
                }
                result.append((name, index))
            case .dict(let index), .list(let index), .tuple(let index):
                let fresh: Bool
                switch value {
                case .dict: fresh = !visitedDicts[index]; visitedDicts[index] = true
                case .list: fresh = !visitedLists[index]; visitedLists[index] = true
                default: fresh = !visitedTuples[index]; visitedTuples[index] = true
                }
                guard fresh else { continue }
                let depth = work[top].depth + 1
                guard depth <= maxDepth else {
                    throw InputError(.overLimit, "containers nest deeper than \(maxDepth) levels at '\(name.prefix(200))…'")
                }
                work.append((name, value, 0, depth))
            default:
                continue
            }
        }
        return result
    }

    private func childCount(of container: PickleValue) -> Int {
        switch container {
        case .dict(let index): return dicts[index].keys.count
        case .list(let index): return lists[index].count
        case .tuple(let index): return tuples[index].count
        default: return 0
        }
    }

    /// The `position`th child of a container and its name component (the dict key, or the
    /// list or tuple index).
    private func child(of container: PickleValue, at position: Int) -> (String, PickleValue) {
        switch container {
        case .dict(let index): return (keyName(dicts[index].keys[position]), dicts[index].values[position])
        case .list(let index): return ("\(position)", lists[index][position])
        case .tuple(let index): return ("\(position)", tuples[index][position])
        default: preconditionFailure("only containers have children")
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
