/// A JSON value with object keys in insertion order, rendered the way Apache ZooKeeper's AdminServer
/// renders its answers (Jackson's default pretty printer): two-space indentation, `"key" : value`,
/// `[ ]` and `{ }` for empty containers, doubles always with a fraction (`0.0`).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch a {
        case .null: if case .null = b { return true }
        case .bool(let x): if case .bool(let y) = b { return x == y }
        case .int(let x): if case .int(let y) = b { return x == y }
        case .double(let x): if case .double(let y) = b { return x == y }
        case .string(let x): if case .string(let y) = b { return x == y }
        case .array(let x): if case .array(let y) = b { return x == y }
        case .object(let x):
            if case .object(let y) = b { return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 } }
        }
        return false
    }

    public static func int(_ value: Int) -> JSONValue { .int(Int64(value)) }

    /// The pretty-printed text (no trailing newline, as Jackson writes it).
    public var rendered: String {
        var out = ""
        render(into: &out, indent: 0)
        return out
    }

    private func render(into out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += JSONValue.text(of: value)
        case .string(let value): JSONValue.quote(value, into: &out)
        case .array(let items):
            guard !items.isEmpty else { out += "[ ]"; return }
            out += "[ "
            for (index, item) in items.enumerated() {
                if index > 0 { out += ", " }
                item.render(into: &out, indent: indent)
            }
            out += " ]"
        case .object(let members):
            guard !members.isEmpty else { out += "{ }"; return }
            out += "{\n"
            let inner = String(repeating: " ", count: indent + 2)
            for (index, (key, value)) in members.enumerated() {
                out += inner
                JSONValue.quote(key, into: &out)
                out += " : "
                value.render(into: &out, indent: indent + 2)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    /// Java's `Double.toString` for the values our figures take: integral values keep ".0".
    public static func text(of value: Double) -> String {
        guard value.isFinite else { return "null" }  // JSON has no NaN or infinities
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return String(value)
    }

    static let escapes: [Unicode.Scalar: String] = [
        "\"": "\\\"", "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u{08}": "\\b", "\u{0C}": "\\f",
    ]

    static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            if let escaped = JSONValue.escapes[scalar] {
                out += escaped
            } else if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
