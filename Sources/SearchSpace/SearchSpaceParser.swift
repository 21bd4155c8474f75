import Core
import Foundation
import Yams

extension SearchSpace {
    /// Reads and validates a search-space file. Every problem found is reported
    /// with its line and column; nothing half-valid is returned.
    public init(contentsOf path: String) throws(SearchSpaceError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "cannot be read as UTF-8 text" : "no such file; check the path (shipped spaces are under SearchSpaces/)"
            throw SearchSpaceError(path: path, diagnostics: [Diagnostic(line: 0, column: 0, message: reason)])
        }
        try self.init(yaml: text, path: path)
    }

    /// Parses the YAML text of a search space; `path` names it in errors.
    public init(yaml text: String, path: String = "<space>") throws(SearchSpaceError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw SearchSpaceError(path: path, diagnostics: [SearchSpaceParser.diagnostic(forYAMLError: error)])
        }
        guard let root else {
            throw SearchSpaceError(path: path, diagnostics: [Diagnostic(line: 1, column: 1, message: "the file is empty; a search space needs name, stem, head, width, resolution, choices, blocks, proxy and latency")])
        }
        var parser = SearchSpaceParser()
        guard let space = parser.space(root), parser.reader.diagnostics.isEmpty else {
            throw SearchSpaceError(path: path, diagnostics: parser.reader.diagnostics)
        }
        self = space
    }
}

/// The rules of the search-space format (README "Search spaces").
struct SearchSpaceParser {
    var reader = YAMLReader()

    static let blockChoiceKeys = ["op", "kernel", "expansion", "se", "skip", "repeats", "filters"]

    static func diagnostic(forYAMLError error: any Error) -> Diagnostic {
        guard let yaml = error as? YamlError else {
            return Diagnostic(line: 1, column: 1, message: "not valid YAML: \(error)")
        }
        switch yaml {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let where_ = context.map { " (\($0.text) started at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return Diagnostic(line: mark.line, column: mark.column, message: "not valid YAML: \(problem)\(where_)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return Diagnostic(line: context.mark.line, column: context.mark.column,
                              message: "key \(duplicates.joined(separator: ", ")) appears twice in one mapping; keep one")
        default:
            return Diagnostic(line: 1, column: 1, message: "not valid YAML: \(yaml)")
        }
    }

    mutating func space(_ root: Node) -> SearchSpace? {
        guard let top = reader.mapping(root, "the search space",
                                       required: ["name", "stem", "head", "width", "resolution", "choices", "blocks", "proxy", "latency"],
                                       optional: ["description", "search_proxy"]) else { return nil }
        let name = top["name"].flatMap { reader.string($0, "name") }
        let summary = top["description"].flatMap { reader.string($0, "description") }
        let stem = top["stem"].flatMap { readStem($0) }
        let head = top["head"].flatMap { readHead($0) }
        let widths = top["width"].flatMap { reader.choiceList($0, "width") { r, n in r.number(n, "a width multiplier", in: ArchitectureLimits.width) } }
        let resolutions = top["resolution"].flatMap { reader.choiceList($0, "resolution") { r, n in r.integer(n, "a resolution", in: ArchitectureLimits.resolution) } }
        let defaults = top["choices"].flatMap { blockChoices($0, "choices", base: nil) }
        let blocks = top["blocks"].flatMap { readBlocks($0, defaults: defaults) }
        let proxy = top["proxy"].flatMap { readProxy($0) }
        let searchProxy = top["search_proxy"].map { readProxy($0, "search_proxy") }
        let latency = top["latency"].flatMap { readLatency($0) }

        guard let name, let stem, let head, let widths, let resolutions, let blocks, let proxy, let latency,
              searchProxy.map({ $0 != nil }) ?? true else {
            return nil
        }
        if let resolutionNode = top["resolution"], let stemNode = top["stem"] {
            checkFeatureMaps(resolutions: resolutions, stemStride: stem.stride, stemNode: stemNode,
                             resolutionNode: resolutionNode, blocks: blocks)
        }
        return SearchSpace(name: name, summary: summary, stem: stem, head: head, widths: widths,
                           resolutions: resolutions, blocks: blocks.map(\.spec), proxy: proxy,
                           searchProxy: searchProxy ?? nil, latency: latency)
    }

    private mutating func readStem(_ node: Node) -> Architecture.Stem? {
        guard let entries = reader.mapping(node, "stem", required: ["filters", "stride"]) else { return nil }
        let filters = entries["filters"].flatMap { reader.integer($0, "stem filters", in: ArchitectureLimits.filters) }
        let stride = entries["stride"].flatMap { reader.integer($0, "stem stride", in: ArchitectureLimits.stride) }
        guard let filters, let stride else { return nil }
        return Architecture.Stem(stride: stride, filters: filters)
    }

    private mutating func readHead(_ node: Node) -> Architecture.Head? {
        guard let entries = reader.mapping(node, "head", required: ["filters"]) else { return nil }
        return entries["filters"].flatMap { reader.integer($0, "head filters", in: ArchitectureLimits.filters) }
            .map(Architecture.Head.init)
    }

    private struct ParsedBlock {
        var spec: SearchSpace.BlockSpec
        var strideNode: Node
    }

    private mutating func readBlocks(_ node: Node, defaults: SearchSpace.BlockChoices?) -> [ParsedBlock]? {
        guard case let .sequence(sequence) = node else {
            reader.report(node, "blocks must be a list of blocks, found \(reader.describe(node))")
            return nil
        }
        guard !sequence.isEmpty else {
            reader.report(node, "blocks is an empty list; a search space needs at least one block")
            return nil
        }
        var parsed: [ParsedBlock] = []
        for (b, item) in sequence.enumerated() {
            let what = "block \(b + 1)"
            guard let entries = reader.mapping(item, what, required: ["filters", "stride", "repeats"], optional: ["choices"]) else { continue }
            let filters = entries["filters"].flatMap { reader.integer($0, "\(what) filters", in: ArchitectureLimits.filters) }
            let stride = entries["stride"].flatMap { reader.integer($0, "\(what) stride", in: ArchitectureLimits.stride) }
            let repeats = entries["repeats"].flatMap { reader.integer($0, "\(what) repeats", in: ArchitectureLimits.repeats) }
            guard let filters, let stride, let repeats else { continue }
            var choices = defaults
            if let own = entries["choices"] {
                choices = blockChoices(own, "\(what) choices", base: defaults)
            }
            // Without choices, their errors (here or in the defaults) are reported already.
            guard let choices else { continue }
            let repeatsNode = entries["choices"]?.mapping?["repeats"] ?? item
            for offset in choices.repeatOffsets where !ArchitectureLimits.repeats.contains(repeats + offset) {
                reader.report(repeatsNode, "\(what): repeats \(repeats) with offset \(offset > 0 ? "+" : "")\(offset) gives \(repeats + offset) repeats, outside \(ArchitectureLimits.repeats.lowerBound)...\(ArchitectureLimits.repeats.upperBound); give this block its own 'choices: {repeats: [...]}' without that offset")
            }
            parsed.append(ParsedBlock(spec: .init(filters: filters, stride: stride, repeats: repeats, choices: choices),
                                      strideNode: entries["stride"]!))
        }
        return parsed.count == sequence.count ? parsed : nil
    }

    /// Per-block choices; keys missing here come from `base` (the top-level
    /// `choices`), which must itself name all of them.
    private mutating func blockChoices(_ node: Node, _ what: String, base: SearchSpace.BlockChoices?) -> SearchSpace.BlockChoices? {
        let required = base == nil ? Self.blockChoiceKeys : []
        // bits is optional everywhere: a space without it does not search weight precision.
        let optional = (base == nil ? [] : Self.blockChoiceKeys) + ["bits"]
        guard let entries = reader.mapping(node, what, required: required, optional: optional) else { return nil }
        let before = reader.diagnostics.count

        let ops = entries["op"].flatMap { reader.choiceList($0, "\(what) op") { r, n in
            r.string(n, "an op").flatMap { text in
                Architecture.Op(rawValue: text) ?? { r.report(n, "unknown op '\(text)'; expected conv, sep or mb"); return nil }()
            }
        } } ?? base?.ops
        let kernels = entries["kernel"].flatMap { reader.choiceList($0, "\(what) kernel") { r, n in
            r.string(n, "a kernel").flatMap { text in
                Architecture.KernelForm(text) ?? { r.report(n, "unknown kernel '\(text)'; expected one of 3, 5, 7 (k×k), 5s, 7s (stacked 3×3), 3f, 5f, 7f (1×k then k×1)"); return nil }()
            }
        } } ?? base?.kernels
        let expansions = entries["expansion"].flatMap { reader.choiceList($0, "\(what) expansion") { r, n in
            r.integer(n, "an expansion ratio", in: ArchitectureLimits.expansion)
        } } ?? base?.expansions
        let seRatios = entries["se"].flatMap { reader.choiceList($0, "\(what) se") { r, n in
            r.number(n, "a squeeze-and-excite ratio", in: ArchitectureLimits.seRatio)
        } } ?? base?.seRatios
        let skips = entries["skip"].flatMap { reader.choiceList($0, "\(what) skip") { r, n in
            r.string(n, "a skip").flatMap { text in
                switch text {
                case "identity": return true
                case "none": return false
                default: r.report(n, "unknown skip '\(text)'; expected identity or none"); return nil
                }
            }
        } } ?? base?.skips
        let repeatOffsets = entries["repeats"].flatMap { reader.choiceList($0, "\(what) repeats") { r, n in
            r.integer(n, "a repeats offset (from the block's base repeats)", in: -15...15)
        } } ?? base?.repeatOffsets
        let multipliers = entries["filters"].flatMap { reader.choiceList($0, "\(what) filters") { r, n in
            r.number(n, "a filter multiplier", in: 0.0625...4.0)
        } } ?? base?.filterMultipliers

        let bits = entries["bits"].flatMap { reader.choiceList($0, "\(what) bits") { r, n in
            r.integer(n, "bits per weight (1, 2, 4, 8; 32 for float32)", in: 1...32).flatMap { value in
                ArchitectureLimits.bits.contains(value) || value == 32 ? value
                    : { r.report(n, "bits per weight \(value) is not 1, 2, 4, 8 or 32 (float32)"); return nil }()
            }
        } } ?? base?.bits

        guard reader.diagnostics.count == before, let ops, let kernels, let expansions, let seRatios, let skips,
              let repeatOffsets, let multipliers else { return nil }
        return SearchSpace.BlockChoices(ops: ops, kernels: kernels, expansions: expansions, seRatios: seRatios,
                                        skips: skips, repeatOffsets: repeatOffsets, filterMultipliers: multipliers, bits: bits)
    }

    private mutating func readProxy(_ node: Node, _ what: String = "proxy") -> SearchSpace.ProxyTask? {
        guard let e = reader.mapping(node, what, required: ["subset", "epochs", "batch"],
                                     optional: ["learning_rate", "warmup_epochs", "label_smoothing", "validation_subset"]) else { return nil }
        let subset = e["subset"].flatMap { reader.integer($0, "proxy subset (training images)", in: Limits.trainingSubset) }
        let epochs = e["epochs"].flatMap { reader.integer($0, "proxy epochs", in: Limits.epochs) }
        let batch = e["batch"].flatMap { reader.integer($0, "proxy batch", in: Limits.batch) }
        let lr = e["learning_rate"].map { reader.number($0, "proxy learning_rate", in: Limits.learningRate) } ?? 0.1
        let warmup = e["warmup_epochs"].map { reader.number($0, "proxy warmup_epochs", in: Limits.warmupEpochs) } ?? 0
        let smoothing = e["label_smoothing"].map { reader.number($0, "proxy label_smoothing", in: Limits.labelSmoothing) } ?? 0
        let validation = e["validation_subset"].map { reader.integer($0, "proxy validation_subset (validation images)", in: Limits.validationSubset) }
        guard let subset, let epochs, let batch, let lr, let warmup, let smoothing, validation.map({ $0 != nil }) ?? true else { return nil }
        guard subset >= batch else {
            reader.report(e["subset"], "proxy subset (\(subset) images) is smaller than one batch (\(batch)); raise subset or lower batch")
            return nil
        }
        return SearchSpace.ProxyTask(subset: subset, epochs: epochs, batch: batch, learningRate: lr,
                                     warmupEpochs: warmup, labelSmoothing: smoothing, validationSubset: validation ?? nil)
    }

    private mutating func readLatency(_ node: Node) -> SearchSpace.LatencyTarget? {
        guard let e = reader.mapping(node, "latency", required: ["engine", "target_ms"], optional: ["constraint"]) else { return nil }
        let engine = e["engine"].flatMap { n in
            reader.string(n, "latency engine").flatMap { text in
                LatencyEngineName(rawValue: text) ?? { reader.report(n, "unknown latency engine '\(text)'; expected cpu or vulkan"); return nil }()
            }
        }
        let target = e["target_ms"].flatMap { reader.number($0, "latency target_ms", in: Limits.targetMilliseconds) }
        var constraint = SearchSpace.LatencyTarget.Constraint.soft
        if let n = e["constraint"] {
            let text = reader.string(n, "latency constraint")
            if let text, let value = SearchSpace.LatencyTarget.Constraint(rawValue: text) {
                constraint = value
            } else if let text {
                reader.report(n, "unknown latency constraint '\(text)'; expected soft or hard")
            }
        }
        guard let engine, let target else { return nil }
        return SearchSpace.LatencyTarget(engine: engine, targetMilliseconds: target, constraint: constraint)
    }

    /// At the smallest resolution, no stride may exceed the feature map it
    /// applies to: that would shrink the map below 1×1 (the rule of the
    /// architecture grammar, checked here so every sampled string parses).
    private mutating func checkFeatureMaps(resolutions: [Int], stemStride: Int, stemNode: Node,
                                           resolutionNode: Node, blocks: [ParsedBlock]) {
        guard let smallest = resolutions.min() else { return }
        var side = smallest
        let strides = [(stemStride, stemNode.mapping?["stride"] ?? stemNode, "the stem")]
            + blocks.enumerated().map { ($1.spec.stride, $1.strideNode, "block \($0 + 1)") }
        for (stride, node, what) in strides {
            if side < stride {
                reader.report(node, "\(what)'s stride \(stride) meets a \(side)×\(side) feature map at resolution \(smallest) and would shrink it below 1×1; use stride 1 here or remove resolution \(smallest)")
                return
            }
            side = (side + stride - 1) / stride
        }
    }
}
