/// Validation limits shared by every entry point (RPC, import, store load).
public enum GraphLimits {
    /// Longest type, relation or attribute name, in bytes.
    static let maxNameLength = 64
    /// Longest node key, in bytes.
    public static let maxKeyLength = 1024
    /// Longest node text, in bytes.
    public static let maxTextLength = 1 << 20
    /// Largest feature dimension of a node type.
    static let maxFeatureDimension = 65_536
    /// Most named attributes on one edge.
    static let maxAttributesPerEdge = 64
    /// Most node types, edge types and attribute names each (ids are 16-bit).
    static let maxTypes = 4096
    /// Most nodes and edges (slots and vertex ids are 32-bit).
    public static let maxNodes = Int(UInt32.max - 1)
    static let maxEdges = Int(UInt32.max - 3)

    /// Names: a lowercase letter, then lowercase letters, digits, '_' or '-'.
    static func validateName(_ name: String, what: String) throws(GraphError) {
        guard !name.isEmpty else { throw .invalid("\(what) name is empty") }
        guard name.utf8.count <= maxNameLength else {
            throw .invalid("\(what) name '\(name.prefix(80))…' is longer than \(maxNameLength) bytes")
        }
        var first = true
        for byte in name.utf8 {
            let ok: Bool
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): ok = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): ok = !first
            default: ok = false
            }
            guard ok else {
                throw .invalid("\(what) name '\(name)' is not valid: use a lowercase letter followed by lowercase letters, digits, '_' or '-'")
            }
            first = false
        }
    }

    static func validateKey(_ key: String) throws(GraphError) {
        guard !key.isEmpty else { throw .invalid("node key is empty") }
        guard key.utf8.count <= maxKeyLength else {
            throw .invalid("node key '\(key.prefix(40))…' is longer than \(maxKeyLength) bytes")
        }
    }
}
