/// Path rules of ZooKeeper (`PathUtils.validatePath`) and helpers to split paths.
///
/// A valid path starts with "/", has no empty, "." or ".." component, no trailing "/" (except the
/// root) and none of the forbidden code points (NUL, C0/C1 controls, U+D800–U+F8FF, U+FFF0–U+FFFF).
public enum PathUtils {
    public static func isValid(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/")
        guard path.utf8.first == slash else { return false }
        if path.utf8.count == 1 { return true }
        guard path.utf8.last != slash else { return false }
        for scalar in path.unicodeScalars where isForbidden(scalar) { return false }
        for component in path.utf8.split(separator: slash, omittingEmptySubsequences: false).dropFirst() {
            if component.isEmpty { return false }
            if component.elementsEqual(".".utf8) || component.elementsEqual("..".utf8) { return false }
        }
        return true
    }

    private static func isForbidden(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return v == 0
            || (v > 0x00 && v <= 0x1F)
            || (v >= 0x7F && v <= 0x9F)
            || (v >= 0xD800 && v <= 0xF8FF)
            || (v >= 0xFFF0 && v <= 0xFFFF)
            || v > 0xFFFF  // a surrogate pair in Java's UTF-16, inside the forbidden range
    }

    /// The parent of a path as Apache computes it (`substring(0, lastIndexOf('/'))`): "" for
    /// top-level nodes, which the tree maps to the root.
    public static func parent(of path: String) -> String? {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func childName(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// Joins a parent path and a child name ("/" + "a" is "/a").
    public static func join(_ parent: String, _ child: String) -> String {
        parent == "/" || parent.isEmpty ? "/" + child : parent + "/" + child
    }
}
