/// The argument parsing of zkCli's commands: Apache commons-cli 1.5's `DefaultParser` (what Debian's
/// zkCli.sh runs with), for options that have short names only. Its behaviour is part of zkCli's
/// output: options may follow the path (`get /a -s`), flags may be bundled (`-sw`) and values
/// attached (`-v5`, `-v=5`), and its exceptions are printed by class name
/// (`org.apache.commons.cli.MissingArgumentException: Missing argument for option: v`).
struct OptionSpec {
    var name: String
    var hasArg: Bool
    var description: String
}

struct OptionSpecs {
    var options: [OptionSpec]
    /// Mutually exclusive options (commons-cli `OptionGroup`), and whether one of them is required.
    var group: (names: [String], required: Bool)?

    init(_ options: [OptionSpec], group: (names: [String], required: Bool)? = nil) {
        self.options = options
        self.group = group
    }

    func option(_ name: String) -> OptionSpec? { options.first { $0.name == name } }
}

struct ParsedCommandLine {
    /// Options in the order given, each with its value if it takes one.
    var options: [(name: String, value: String?)] = []
    var args: [String] = []

    func has(_ name: String) -> Bool { options.contains { $0.name == name } }
    /// `getOptionValue`: the first value given.
    func value(_ name: String) -> String? { options.first { $0.name == name && $0.value != nil }?.value ?? nil }
}

/// A commons-cli ParseException; zkCli prints `toString()` of it.
struct OptionParseError: Error {
    var exceptionClass: String
    var message: String
    var description: String { "org.apache.commons.cli.\(exceptionClass): \(message)" }
}

struct OptionParser {
    private let specs: OptionSpecs
    private var result = ParsedCommandLine()
    /// The option waiting for its value.
    private var current: OptionSpec?
    private var skipParsing = false
    private var selectedInGroup: String?

    static func parse(_ specs: OptionSpecs, _ tokens: [String]) throws(OptionParseError) -> ParsedCommandLine {
        var parser = OptionParser(specs: specs)
        for token in tokens { try parser.handleToken(token) }
        try parser.checkRequiredArgs()
        if let group = specs.group, group.required, parser.selectedInGroup == nil {
            let names = group.names.compactMap { specs.option($0) }.map { "-\($0.name) \($0.description)" }
            throw OptionParseError(exceptionClass: "MissingOptionException",
                                   message: "Missing required option: [" + names.joined(separator: ", ") + "]")
        }
        return parser.result
    }

    private init(specs: OptionSpecs) { self.specs = specs }

    private mutating func handleToken(_ token: String) throws(OptionParseError) {
        if skipParsing {
            result.args.append(token)
        } else if token == "--" {
            skipParsing = true
        } else if current != nil && isArgument(token) {
            addValue(OptionParser.stripQuotes(token))
        } else if token.hasPrefix("--") {
            try unknownToken(token)  // no option has a long name
        } else if token.hasPrefix("-") && token != "-" {
            try handleShortOption(token)
        } else {
            try unknownToken(token)
        }
    }

    private mutating func handleShortOption(_ token: String) throws(OptionParseError) {
        let t = String(token.dropFirst())
        if t.count == 1 || !t.contains("=") {
            if let option = specs.option(t) {
                try handleOption(option)
            } else if t.count == 1 {
                try unknownToken(token)
            } else {
                try handleConcatenatedOptions(token)
            }
            return
        }
        // -S=V
        let pos = t.firstIndex(of: "=")!
        let name = String(t[..<pos])
        let value = String(t[t.index(after: pos)...])
        if name.count == 1, let option = specs.option(name), option.hasArg {
            try handleOption(option)
            addValue(value)
        } else {
            try unknownToken(token)
        }
    }

    private mutating func handleConcatenatedOptions(_ token: String) throws(OptionParseError) {
        let chars = Array(token)
        for i in 1..<chars.count {
            guard let option = specs.option(String(chars[i])) else {
                try unknownToken(token)
                return
            }
            try handleOption(option)
            if current != nil && chars.count != i + 1 {
                addValue(String(chars[(i + 1)...]))
                return
            }
        }
    }

    private mutating func handleOption(_ option: OptionSpec) throws(OptionParseError) {
        try checkRequiredArgs()
        if let group = specs.group, group.names.contains(option.name) {
            if let selected = selectedInGroup, selected != option.name {
                throw OptionParseError(exceptionClass: "AlreadySelectedException",
                                       message: "The option '\(option.name)' was specified but an option from this group has already been selected: '\(selected)'")
            }
            selectedInGroup = option.name
        }
        result.options.append((option.name, nil))
        current = option.hasArg ? option : nil
    }

    private mutating func addValue(_ value: String) {
        result.options[result.options.count - 1].value = value
        current = nil
    }

    private func checkRequiredArgs() throws(OptionParseError) {
        if let current {
            throw OptionParseError(exceptionClass: "MissingArgumentException", message: "Missing argument for option: \(current.name)")
        }
    }

    private mutating func unknownToken(_ token: String) throws(OptionParseError) {
        if token.hasPrefix("-") && token.count > 1 {
            throw OptionParseError(exceptionClass: "UnrecognizedOptionException", message: "Unrecognized option: \(token)")
        }
        result.args.append(token)
    }

    /// A token is an option's value unless it looks like an option (and is not a negative number).
    private func isArgument(_ token: String) -> Bool {
        !isShortOption(token) || OptionParser.isNumber(token)
    }

    private func isShortOption(_ token: String) -> Bool {
        guard token.hasPrefix("-"), token.count > 1 else { return false }
        let body = token.dropFirst()
        let name = body.firstIndex(of: "=").map { String(body[..<$0]) } ?? String(body)
        if specs.option(name) != nil { return true }
        return name.first.map { specs.option(String($0)) != nil } ?? false
    }

    /// `Double.parseDouble` accepts it: an optional sign, then digits or a point (an exponent and a
    /// d/f suffix may follow), or Infinity or NaN.
    static func isNumber(_ token: String) -> Bool {
        var t = Substring(token.trimmingASCIISpaces)
        if let last = t.last, "dDfF".contains(last) { t = t.dropLast() }
        let unsigned = t.hasPrefix("-") || t.hasPrefix("+") ? t.dropFirst() : t
        if unsigned == "Infinity" || unsigned == "NaN" { return true }
        guard let first = unsigned.first, first.isASCII, first.isNumber || first == "." else { return false }
        return Double(t) != nil
    }

    /// commons-cli 1.5 `Util.stripLeadingAndTrailingQuotes`.
    static func stripQuotes(_ s: String) -> String {
        guard s.count > 1, s.hasPrefix("\""), s.hasSuffix("\"") else { return s }
        let inner = s.dropFirst().dropLast()
        return inner.contains("\"") ? s : String(inner)
    }
}

extension StringProtocol {
    /// Java's `String.trim()`: drops characters up to U+0020 at both ends.
    var trimmingASCIISpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isASCII, f.asciiValue! <= 0x20 { s = s.dropFirst() }
        while let l = s.last, l.isASCII, l.asciiValue! <= 0x20 { s = s.dropLast() }
        return String(s)
    }
}
