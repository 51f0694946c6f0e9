/// Per-layer tensor names of every naming scheme: a prefix, a layer number, a module name.
enum LayerName {
    /// `(layer, rest)` of `prefix` + `N.` + rest, with N a plain decimal layer number.
    static func split(_ name: String, prefix: String) -> (Int, String)? {
        guard name.hasPrefix(prefix) else { return nil }
        let tail = name.dropFirst(prefix.count)
        guard let dot = tail.firstIndex(of: "."), let layer = Int(tail[..<dot]), layer >= 0, String(layer) == tail[..<dot] else {
            return nil
        }
        return (layer, String(tail[tail.index(after: dot)...]))
    }
}
