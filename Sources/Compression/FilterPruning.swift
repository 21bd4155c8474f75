import Core
public import Model
public import SearchSpace

/// Structured pruning (Li et al. 2017, "Pruning Filters for Efficient
/// ConvNets"): the filters with the smallest L1 norm go, and with them the
/// channels they feed, so what is left is a smaller *dense* network that
/// runs faster on any engine, not a sparse one.
///
/// Where filters can go without touching a residual: the 1×1 expansion of
/// every MBConv block (the expanded channels run through the depthwise
/// convolutions, squeeze-and-excite and into the projection; `_h` in the
/// architecture string records what is kept) and the head's 1×1 convolution
/// (its channels feed the pooled classifier; the head keeps a multiple of 8,
/// as the width multiplier's rounding does). Block outputs stay: residual
/// adds tie them across blocks.
public struct FilterPruning: Sendable {
    /// The pruned architecture and its weights, sliced from the original's.
    public let architecture: Architecture
    public let weights: NetworkWeights
    /// Per pruned layer, the channels kept (indices into the original's).
    public let kept: [String: [Int]]

    /// Prunes `fraction` of the prunable filters of `network` by L1 norm.
    public init(_ network: Network, weights: NetworkWeights, fraction: Double) throws {
        let original = network.architecture
        let keep = 1 - fraction
        let blocks = original.blocks.map { b in
            Architecture.Block(op: b.op, repeats: b.repeats, kernel: b.kernel, stride: b.stride, expansion: b.expansion,
                               filters: b.filters, seRatio: b.seRatio, skip: b.skip,
                               hiddenKept: (b.expansion ?? 1) > 1 ? (b.hiddenKept ?? 1) * keep : nil, bits: b.bits)
        }
        let headChannels = network.layers.first { $0.name == "head" }!.outputShape.channels
        let headWanted = max(8, Int((Double(headChannels) * keep / 8).rounded()) * 8)
        // A head_o that the width multiplier turns into the wanted channels: the plain quotient when
        // it does, else the smallest that does (none: the head stays).
        let quotient = Int((Double(headWanted) / original.width).rounded())
        let headFilters = Architecture.scaledChannels(quotient, width: original.width) == headWanted ? quotient
            : (1...ArchitectureLimits.filters.upperBound).first {
                Architecture.scaledChannels($0, width: original.width) == headWanted
            } ?? original.head.filters
        architecture = Architecture(resolution: original.resolution, width: original.width, stem: original.stem, blocks: blocks,
                                    head: .init(filters: headFilters))
        let pruned = Network(architecture)

        // The channels each pruned layer keeps: its filters of largest L1 norm, in their original order.
        var kept: [String: [Int]] = [:]
        for layer in pruned.layers where layer.kind == .conv && (layer.name.hasSuffix(".expand") || layer.name == "head") {
            let before = network.layers.first { $0.name == layer.name }!
            let filters = before.outputShape.channels
            guard layer.outputShape.channels < filters else { continue }
            let w = try weights.tensor(TensorName(before, .weight), count: TensorName.plainShape(of: .weight, in: before).reduce(1, *))
            let perFilter = w.count / filters
            let norms = (0..<filters).map { f in w[(f * perFilter)..<((f + 1) * perFilter)].reduce(Float(0)) { $0 + abs($1) } }
            let ranked = (0..<filters).sorted { (norms[$0], -$0) > (norms[$1], -$1) }
            kept[layer.name] = Array(ranked.prefix(layer.outputShape.channels)).sorted()
        }
        self.kept = kept

        var sliced = NetworkWeights()
        for layer in pruned.layers {
            let before = network.layers.first { $0.name == layer.name }!
            let (rows, columns) = Self.selection(layer, kept: kept)
            for name in TensorName.owned(by: layer) {
                let shape = TensorName.plainShape(of: name.role, in: before)
                let values = try weights.tensor(name, count: shape.reduce(1, *))
                sliced[name] = Self.slice(values, shape: shape, rows: name.role == .weight || shape.count == 1 ? rows : nil,
                                          columns: name.role == .weight ? columns : nil)
            }
        }
        self.weights = sliced
    }

    /// The output channels (rows) and input channels (columns) of `layer`'s
    /// tensors that survive, nil where all do. A unit's expanded channels
    /// run from its expansion to its projection; the head's into the classifier.
    static func selection(_ layer: Layer, kept: [String: [Int]]) -> (rows: [Int]?, columns: [Int]?) {
        let unit = layer.unit
        if unit == "head" {
            let head = kept["head"]
            switch layer.name {
            case "head", "head.bn": return (head, nil)
            case "head.linear": return (nil, head)
            default: return (nil, nil)
            }
        }
        guard let hidden = kept[unit + ".expand"] else { return (nil, nil) }
        let name = layer.name
        if name.hasPrefix(unit + ".expand") || name.hasPrefix(unit + ".dw") || name == unit + ".se.expand" { return (hidden, nil) }
        if name == unit + ".se.reduce" || name == unit + ".project" { return (nil, hidden) }
        return (nil, nil)
    }

    /// `values` (plain, first dimension output channels; a grouped tensor's
    /// groups count as its output channels) with only `rows` of the first
    /// dimension and `columns` of the second.
    static func slice(_ values: [Float], shape: [Int], rows: [Int]?, columns: [Int]?) -> [Float] {
        // Grouped GOIHW with one channel per group: the groups are the rows.
        let dims = shape.count == 5 ? [shape[0] * shape[1]] + Array(shape[2...]) : shape
        let outputs = dims[0]
        let inputs = dims.count > 1 ? dims[1] : 1
        let inner = dims.count > 2 ? dims[2...].reduce(1, *) : 1
        var out: [Float] = []
        for r in rows ?? Array(0..<outputs) {
            for c in columns ?? Array(0..<inputs) {
                let start = (r * inputs + c) * inner
                out.append(contentsOf: values[start..<(start + inner)])
            }
        }
        return out
    }
}
