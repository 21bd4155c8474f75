public import Core

/// A string that is not an architecture: where it went wrong and what was expected there.
public struct ArchitectureSyntaxError: ClassifiedError, Equatable {
    public var kind: ErrorKind { .invalidInput }

    public let text: String
    /// 1-based character position of the problem.
    public let position: Int
    public let message: String

    public var description: String {
        let scalars = Array(text.unicodeScalars)
        // Keep the excerpt short: a long string is cut to a window around the problem.
        let start = max(0, position - 1 - 40)
        let end = min(scalars.count, position - 1 + 40)
        var excerpt = String(String.UnicodeScalarView(scalars[start..<end]))
        var caret = position - 1 - start
        if start > 0 { excerpt = "…" + excerpt; caret += 1 }
        if end < scalars.count { excerpt += "…" }
        return "invalid architecture string at character \(position): \(message)\n  \(excerpt)\n  "
            + String(repeating: " ", count: max(0, caret)) + "^"
    }
}

/// Bounds that keep every architecture trainable and every number far from overflow.
public enum ArchitectureLimits {
    public static let resolution = 1...1024
    public static let width = 0.0625...4.0
    public static let stride = 1...4
    public static let filters = 1...4096
    public static let repeats = 1...16
    public static let expansion = 1...16
    public static let seRatio = 0.0...1.0
    /// Bits per weight a block may store its convolutions in (`_b`); 32 in a space file means float32.
    public static let bits: Set<Int> = [1, 2, 4, 8]
}

extension Architecture {
    /// Parses the text form (grammar in README); the result prints canonically.
    public init(parsing text: String) throws(ArchitectureSyntaxError) {
        var parser = ArchitectureParser(text)
        self = try parser.parse()
    }
}

/// A recursive-descent reader of the grammar, keeping positions for errors.
struct ArchitectureParser {
    private let text: String
    private let scalars: [Unicode.Scalar]
    private var index = 0

    init(_ text: String) {
        self.text = text
        self.scalars = Array(text.unicodeScalars)
    }

    mutating func parse() throws(ArchitectureSyntaxError) -> Architecture {
        try expect("r", "the resolution, as \"r28\"")
        let resolution = try integer("the input resolution in pixels", in: ArchitectureLimits.resolution)
        try expect("_w", "\"_w\" and the width multiplier, as \"_w1.0\"")
        let width = try decimal("the width multiplier", in: ArchitectureLimits.width)
        try expect(":", "\":\" before the stem")
        let stem = try parseStem()
        var blocks: [Architecture.Block] = []
        var strideMarks: [(stride: Int, position: Int)] = [(stem.stride, stemStridePosition)]
        while true {
            try expect("|", "\"|\" and the next block or the head")
            if lookingAt("head") {
                guard !blocks.isEmpty else {
                    throw error("an architecture needs at least one block between the stem and the head")
                }
                let head = try parseHead()
                guard index == scalars.count else {
                    throw error("the head ends the architecture, found \(found())")
                }
                try checkFeatureMaps(resolution: resolution, strides: strideMarks)
                return Architecture(resolution: resolution, width: width, stem: stem, blocks: blocks, head: head)
            }
            let (block, stridePosition) = try parseBlock()
            blocks.append(block)
            strideMarks.append((block.stride, stridePosition))
        }
    }

    private var stemStridePosition = 0

    private mutating func parseStem() throws(ArchitectureSyntaxError) -> Architecture.Stem {
        try expect("stem_k3", "the stem, as \"stem_k3_s1_o16\" (the stem kernel is always 3)")
        try expect("_s", "\"_s\" and the stem stride")
        stemStridePosition = index
        let stride = try integer("the stem stride", in: ArchitectureLimits.stride)
        try expect("_o", "\"_o\" and the stem's output channels")
        let filters = try integer("the stem's output channels", in: ArchitectureLimits.filters)
        return Architecture.Stem(stride: stride, filters: filters)
    }

    private mutating func parseHead() throws(ArchitectureSyntaxError) -> Architecture.Head {
        try expect("head_o", "the head, as \"head_o256\"")
        return Architecture.Head(filters: try integer("the head's channels", in: ArchitectureLimits.filters))
    }

    private mutating func parseBlock() throws(ArchitectureSyntaxError) -> (Architecture.Block, stridePosition: Int) {
        let opPosition = index
        guard let op = Architecture.Op.allCases.first(where: { lookingAt($0.rawValue + "_") }) else {
            throw error("expected a block op (conv, sep or mb) or the head, found \(found())")
        }
        index += op.rawValue.unicodeScalars.count
        try expect("_r", "\"_r\" and the block's repeats")
        let repeats = try integer("the block's repeats", in: ArchitectureLimits.repeats)
        try expect("_k", "\"_k\" and a kernel (3, 5, 7, 5s, 7s, 3f, 5f, 7f)")
        let kernel = try kernelForm()
        try expect("_s", "\"_s\" and the block's stride")
        let stridePosition = index
        let stride = try integer("the block's stride", in: ArchitectureLimits.stride)
        var expansion: Int?
        if lookingAt("_e") {
            guard op == .mb else {
                throw error("expansion \"_e\" belongs to mb blocks only; remove it from this \(op.rawValue) block")
            }
            index += 2
            expansion = try integer("the expansion ratio", in: ArchitectureLimits.expansion)
        } else if op == .mb {
            throw error("an mb block needs its expansion ratio here, as \"_e6\", found \(found())")
        }
        var hiddenKept: Double?
        if lookingAt("_h") {
            guard op == .mb, (expansion ?? 1) > 1 else {
                throw error("\"_h\" (the fraction of expanded channels a filter-pruned mb block keeps) belongs to mb blocks with an expansion above 1")
            }
            index += 2
            let keptPosition = index
            let kept = try decimal("the fraction of expanded channels kept", in: 0...1)
            guard kept > 0, kept < 1 else {
                index = keptPosition
                throw error("the fraction of expanded channels kept must lie strictly between 0 and 1; leave \"_h\" out to keep them all")
            }
            hiddenKept = kept
        }
        try expect("_o", "\"_o\" and the block's output channels")
        let filters = try integer("the block's output channels", in: ArchitectureLimits.filters)
        var seRatio: Double?
        if lookingAt("_se") {
            index += 3
            let sePosition = index
            let ratio = try decimal("the squeeze-and-excite ratio", in: ArchitectureLimits.seRatio)
            guard ratio > 0 else {
                index = sePosition
                throw error("a squeeze-and-excite ratio of 0 is written by leaving \"_se\" out")
            }
            seRatio = ratio
        }
        var bits: Int?
        if lookingAt("_b") {
            index += 2
            let bitsPosition = index
            let value = try integer("the bits per weight", in: 1...32)
            guard ArchitectureLimits.bits.contains(value) else {
                index = bitsPosition
                throw error("bits per weight \"_b\" must be 1, 2, 4 or 8 (leave it out for float32), found \(value)")
            }
            bits = value
        }
        var skip = true
        if lookingAt("_noskip") {
            index += 7
            skip = false
        }
        guard index == scalars.count || scalars[index] == "|" else {
            throw error("expected \"_se\", \"_b\", \"_noskip\" or \"|\" after the block \(String(String.UnicodeScalarView(scalars[opPosition..<index]))), found \(found())")
        }
        let block = Architecture.Block(op: op, repeats: repeats, kernel: kernel, stride: stride,
                                       expansion: expansion, filters: filters, seRatio: seRatio, skip: skip,
                                       hiddenKept: hiddenKept, bits: bits)
        return (block, stridePosition)
    }

    /// Rejects a stride larger than the feature map it applies to: it would
    /// shrink the map below one pixel per stride (a 1×1 map strided by 2).
    private mutating func checkFeatureMaps(resolution: Int, strides: [(stride: Int, position: Int)]) throws(ArchitectureSyntaxError) {
        var side = resolution
        for (stride, position) in strides {
            if side < stride {
                index = position
                throw error("stride \(stride) applied to a \(side)×\(side) feature map (input r\(resolution)) would shrink it below 1×1; use stride 1 here or a larger resolution")
            }
            side = (side + stride - 1) / stride
        }
    }

    // MARK: Tokens

    private mutating func kernelForm() throws(ArchitectureSyntaxError) -> Architecture.KernelForm {
        // Longest match first, so "5s" is not read as "5" followed by "s".
        for form in Architecture.KernelForm.allCases.sorted(by: { $0.description.count > $1.description.count })
        where lookingAt(form.description) {
            let after = index + form.description.unicodeScalars.count
            // The kernel must end at "_" (its field's end): "33" or "3s" is no kernel.
            if after < scalars.count, scalars[after] != "_" { continue }
            index = after
            return form
        }
        throw error("expected a kernel (3, 5, 7, 5s, 7s, 3f, 5f, 7f), found \(found())")
    }

    private mutating func integer(_ what: String, in range: ClosedRange<Int>) throws(ArchitectureSyntaxError) -> Int {
        let start = index
        let digits = readDigits()
        guard !digits.isEmpty else { throw error("expected \(what) (digits), found \(found())") }
        guard digits.count <= 9, let value = Int(digits), range.contains(value) else {
            index = start
            throw error("\(what) must be in \(range.lowerBound)...\(range.upperBound), found \(digits)")
        }
        guard digits.count == 1 || digits.first != "0" else {
            index = start
            throw error("\(what) is written without leading zeros, found \(digits)")
        }
        return value
    }

    private mutating func decimal(_ what: String, in range: ClosedRange<Double>) throws(ArchitectureSyntaxError) -> Double {
        let start = index
        let whole = readDigits()
        guard !whole.isEmpty else { throw error("expected \(what) as a decimal like 1.0 or 0.25, found \(found())") }
        guard index < scalars.count, scalars[index] == "." else {
            throw error("expected \(what) as a decimal with a point, like \(whole).0, found \(found())")
        }
        index += 1
        let fraction = readDigits()
        guard !fraction.isEmpty else { throw error("expected the digits after the decimal point of \(what), found \(found())") }
        let literal = whole + "." + fraction
        guard literal.count <= 12, let value = Double(literal), range.contains(value) else {
            index = start
            throw error("\(what) must be in \(range.lowerBound)...\(range.upperBound), found \(literal)")
        }
        return value
    }

    private mutating func readDigits() -> String {
        var digits = ""
        while index < scalars.count, ("0"..."9").contains(scalars[index]) {
            digits.unicodeScalars.append(scalars[index])
            index += 1
        }
        return digits
    }

    private func lookingAt(_ literal: String) -> Bool {
        let expected = Array(literal.unicodeScalars)
        guard index + expected.count <= scalars.count else { return false }
        return Array(scalars[index..<index + expected.count]) == expected
    }

    private mutating func expect(_ literal: String, _ what: String) throws(ArchitectureSyntaxError) {
        guard lookingAt(literal) else { throw error("expected \(what), found \(found())") }
        index += literal.unicodeScalars.count
    }

    /// What stands at the current position, quoted, for error messages.
    private func found() -> String {
        guard index < scalars.count else { return "the end of the string" }
        let end = min(scalars.count, index + 8)
        return "\"" + String(String.UnicodeScalarView(scalars[index..<end])) + (end < scalars.count ? "…" : "") + "\""
    }

    private func error(_ message: String) -> ArchitectureSyntaxError {
        ArchitectureSyntaxError(text: text, position: index + 1, message: message)
    }
}
