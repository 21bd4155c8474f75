public import Core
import Foundation

/// One categorical choice of a search space: what a controller emits a token for.
public struct Decision: Hashable, Sendable {
    /// "resolution", "width", or "b3.kernel" (block 3's kernel).
    public let name: String
    /// The choices as they print, in token order.
    public let choices: [String]
}

extension SearchSpace {
    /// Every decision, in the order tokens are emitted: resolution, width, then
    /// per block op, kernel, expansion, se, skip, repeats, filters; then, in a
    /// space that searches weight precision, each block's bits (last, so a
    /// space without them keeps its decisions, and its runs their sequences).
    public var decisions: [Decision] {
        var list = [
            Decision(name: "resolution", choices: resolutions.map(String.init)),
            Decision(name: "width", choices: widths.map(Architecture.decimal)),
        ]
        for (b, block) in blocks.enumerated() {
            let c = block.choices
            let prefix = "b\(b + 1)."
            list += [
                Decision(name: prefix + "op", choices: c.ops.map(\.rawValue)),
                Decision(name: prefix + "kernel", choices: c.kernels.map(\.description)),
                Decision(name: prefix + "expansion", choices: c.expansions.map(String.init)),
                Decision(name: prefix + "se", choices: c.seRatios.map(Architecture.decimal)),
                Decision(name: prefix + "skip", choices: c.skips.map { $0 ? "identity" : "none" }),
                Decision(name: prefix + "repeats", choices: c.repeatOffsets.map { block.repeats + $0 }.map(String.init)),
                Decision(name: prefix + "filters", choices: c.filterMultipliers.map(Architecture.decimal)),
            ]
        }
        if searchesBits {
            for (b, block) in blocks.enumerated() {
                list.append(Decision(name: "b\(b + 1).bits", choices: (block.choices.bits ?? [32]).map(String.init)))
            }
        }
        return list
    }

    /// The architecture a token sequence (one index per decision) selects.
    public func architecture(tokens: [Int]) -> Architecture {
        precondition(tokens.count == 2 + (searchesBits ? 8 : 7) * blocks.count, "expected one token per decision")
        let built = blocks.enumerated().map { b, spec in
            let t = Array(tokens[(2 + 7 * b)..<(2 + 7 * b + 7)])
            let c = spec.choices
            return Architecture.Block(
                op: c.ops[t[0]], repeats: spec.repeats + c.repeatOffsets[t[5]], kernel: c.kernels[t[1]],
                stride: spec.stride, expansion: c.expansions[t[2]],
                filters: Self.filters(base: spec.filters, multiplier: c.filterMultipliers[t[6]]),
                seRatio: c.seRatios[t[3]], skip: c.skips[t[4]],
                bits: searchesBits ? (c.bits ?? [32])[tokens[2 + 7 * blocks.count + b]] : nil)
        }
        return Architecture(resolution: resolutions[tokens[0]], width: widths[tokens[1]],
                            stem: stem, blocks: built, head: head)
    }

    /// A block's output channels before the width multiplier: base × multiplier, rounded.
    static func filters(base: Int, multiplier: Double) -> Int {
        max(1, Int((Double(base) * multiplier).rounded()))
    }

    /// Draws `count` architectures, each decision uniform and independent.
    public func sample(count: Int, from stream: some RandomSource) -> [Architecture] {
        let sizes = decisions.map(\.choices.count)
        return (0..<max(0, count)).map { _ in
            architecture(tokens: sizes.map { stream.uniformInt($0) })
        }
    }

    /// log10 of the number of distinct architectures (distinct canonical strings).
    ///
    /// Choices that do not change the network collapse: an expansion on a
    /// `conv` or `sep` block, a `none` skip where no residual could exist, filter
    /// multipliers that round to the same count. So the count runs block by
    /// block over the channel count each block hands the next.
    public var log10Size: Double {
        var total = 0.0
        for width in widths {
            var ways: [Int: Double] = [Architecture.scaledChannels(stem.filters, width: width): 1]
            for spec in blocks {
                var next: [Int: Double] = [:]
                for (inChannels, count) in ways {
                    for (outChannels, variants) in blockVariants(spec, inChannels: inChannels, width: width) {
                        next[outChannels, default: 0] += count * variants
                    }
                }
                ways = next
            }
            total += ways.values.reduce(0, +)
        }
        let precisions = blocks.reduce(1.0) { $0 * Double($1.choices.bits?.count ?? 1) }
        return log10(total * Double(resolutions.count) * precisions)
    }

    /// For one block given its input channels: distinct block strings, grouped
    /// by the channel count they output.
    private func blockVariants(_ spec: BlockSpec, inChannels: Int, width: Double) -> [Int: Double] {
        let c = spec.choices
        let opVariants = Double(c.ops.filter { $0 != .mb }.count + (c.ops.contains(.mb) ? c.expansions.count : 0))
        let perRepeat = opVariants * Double(c.kernels.count) * Double(c.seRatios.count)
        var result: [Int: Double] = [:]
        for filters in Set(c.filterMultipliers.map { Self.filters(base: spec.filters, multiplier: $0) }) {
            let out = Architecture.scaledChannels(filters, width: width)
            for offset in c.repeatOffsets {
                let probe = Architecture.Block(op: .conv, repeats: spec.repeats + offset, kernel: .square(3),
                                               stride: spec.stride, expansion: nil, filters: filters,
                                               seRatio: nil, skip: true)
                let skipVariants = probe.skipMeaningful(inChannels: inChannels, outChannels: out) ? Double(c.skips.count) : 1
                result[out, default: 0] += perRepeat * skipVariants
            }
        }
        return result
    }
}
