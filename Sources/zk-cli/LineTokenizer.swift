/// Splits an interactive line into a command and its arguments exactly as zkCli's
/// `MyCommandOptions.parseCommand` does with the regular expression
/// `\s*([^"']\S*|"[^"]*"|'[^']*')\s*` (searched repeatedly) and then strips the quotes of a
/// quoted argument. Its corner cases show: a line of blanks is one argument " ", and an unclosed
/// quote is an ordinary character.
enum LineTokenizer {
    static func tokens(_ line: String) -> [String] {
        let chars = Array(line.unicodeScalars)
        var result: [String] = []
        var position = 0
        while position < chars.count, let (group, quoted, end) = find(chars, from: position) {
            var value = String(String.UnicodeScalarView(chars[group]))
            if quoted { value = String(String.UnicodeScalarView(chars[(group.lowerBound + 1)..<(group.upperBound - 1)])) }
            result.append(value)
            position = end
        }
        return result
    }

    /// Java's `\s`: space, \t, \n, \u000B, \f, \r.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\u{0B}" || c == "\u{0C}" || c == "\r"
    }

    private static func find(_ chars: [Unicode.Scalar], from position: Int) -> (Range<Int>, Bool, Int)? {
        for start in position..<chars.count {
            var spaces = 0
            while start + spaces < chars.count && isSpace(chars[start + spaces]) { spaces += 1 }
            // The leading \s* is greedy; give back blanks until one of the alternatives matches.
            for k in stride(from: spaces, through: 0, by: -1) {
                if let (group, quoted) = alternative(chars, at: start + k) {
                    var end = group.upperBound
                    while end < chars.count && isSpace(chars[end]) { end += 1 }
                    return (group, quoted, end)
                }
            }
        }
        return nil
    }

    private static func alternative(_ chars: [Unicode.Scalar], at i: Int) -> (Range<Int>, Bool)? {
        guard i < chars.count else { return nil }
        let c = chars[i]
        if c != "\"" && c != "'" {
            var end = i + 1
            while end < chars.count && !isSpace(chars[end]) { end += 1 }
            return (i..<end, false)
        }
        guard let close = chars[(i + 1)...].firstIndex(of: c) else { return nil }
        return (i..<(close + 1), true)
    }
}
