import Core
import Yams

/// Reads typed values out of a composed YAML tree, recording every problem
/// with its line and column instead of stopping at the first.
struct YAMLReader {
    private(set) var diagnostics: [Diagnostic] = []

    mutating func report(_ node: Node?, _ message: String) {
        let mark = node?.mark
        diagnostics.append(Diagnostic(line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    /// The entries of a mapping; reports unknown keys (listing the known ones)
    /// and missing required keys (at the mapping itself).
    mutating func mapping(_ node: Node, _ what: String, required: [String], optional: [String] = []) -> [String: Node]? {
        guard case let .mapping(mapping) = node else {
            report(node, "\(what) must be a mapping of keys to values, found \(describe(node))")
            return nil
        }
        var entries: [String: Node] = [:]
        let known = required + optional
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                report(key, "keys of \(what) must be plain names, found \(describe(key))")
                continue
            }
            guard known.contains(name) else {
                report(key, "unknown key '\(name)' in \(what); expected one of: \(known.joined(separator: ", "))")
                continue
            }
            if entries[name] != nil {
                report(key, "key '\(name)' appears twice in \(what); keep one")
            }
            entries[name] = value
        }
        for name in required where entries[name] == nil {
            report(node, "\(what) is missing the key '\(name)'")
        }
        return entries
    }

    mutating func integer(_ node: Node, _ what: String, in range: ClosedRange<Int>) -> Int? {
        guard let scalar = node.scalar, let value = Int(scalar.string) else {
            report(node, "\(what) must be a whole number, found \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            report(node, "\(what) must be in \(range.lowerBound)...\(range.upperBound), found \(value)")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ what: String, in range: ClosedRange<Double>) -> Double? {
        guard let scalar = node.scalar, let value = Double(scalar.string), value.isFinite else {
            report(node, "\(what) must be a number, found \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            report(node, "\(what) must be in \(range.lowerBound)...\(range.upperBound), found \(scalar.string)")
            return nil
        }
        return value
    }

    /// A whole number within one of the shared `Limits` (the CLI checks the same).
    mutating func integer(_ node: Node, _ what: String, in limit: Limit<Int>) -> Int? {
        guard let value = integer(node, what, in: Int.min...Int.max) else { return nil }
        guard limit.contains(value) else {
            report(node, "\(what) must be in \(limit.text), found \(value)")
            return nil
        }
        return value
    }

    /// A number within one of the shared `Limits` (the CLI checks the same).
    mutating func number(_ node: Node, _ what: String, in limit: Limit<Double>) -> Double? {
        guard let value = number(node, what, in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) else { return nil }
        guard limit.contains(value) else {
            report(node, "\(what) must be in \(limit.text), found \(node.scalar?.string ?? "\(value)")")
            return nil
        }
        return value
    }

    mutating func string(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar else {
            report(node, "\(what) must be text, found \(describe(node))")
            return nil
        }
        return scalar.string
    }

    /// A non-empty list without repeats, each element read by `element`.
    mutating func choiceList<T: Hashable>(_ node: Node, _ what: String,
                                          _ element: (inout YAMLReader, Node) -> T?) -> [T]? {
        guard case let .sequence(sequence) = node else {
            report(node, "\(what) must be a list of choices, like [a, b], found \(describe(node))")
            return nil
        }
        guard !sequence.isEmpty else {
            report(node, "\(what) is an empty list; give at least one choice")
            return nil
        }
        var values: [T] = []
        var failed = false
        for item in sequence {
            guard let value = element(&self, item) else { failed = true; continue }
            if values.contains(value) {
                report(item, "\(what) lists \(item.scalar?.string ?? "a choice") twice; remove the repeat")
                failed = true
                continue
            }
            values.append(value)
        }
        return failed ? nil : values
    }

    func describe(_ node: Node) -> String {
        switch node {
        case let .scalar(scalar): return scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
