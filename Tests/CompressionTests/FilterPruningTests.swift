@testable import Compression
import Engine
import Model
import SearchSpace
import Testing

@Suite("Filter pruning: the smallest-L1 filters go, and the smaller dense network computes what the original did without them")
struct FilterPruningTests {
    @Test("Channels whose filters are zero are the ones removed; the pruned network's logits equal the original's")
    func prunesDeadChannels() throws {
        let architecture = try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|mb_r2_k3_s2_e4_o16_se0.25|mb_r1_k5s_s1_e3_o16|head_o64")
        let network = Network(architecture)
        var weights = NetworkWeights.random(for: network, seed: 7)
        // Make the last quarter of every expansion, and of the head, contribute nothing: zero filters,
        // and batch norms that map zero to zero all along their channels' path.
        for layer in network.layers where layer.kind == .conv && (layer.name.hasSuffix(".expand") || layer.name == "head") {
            let channels = layer.outputShape.channels
            let dead = Array((channels - (channels - Int((Double(channels) * 0.75).rounded())))..<channels)
            let name = TensorName(layer, .weight)
            var w = weights[name]!
            let per = w.count / channels
            for c in dead { for i in 0..<per { w[c * per + i] = 0 } }
            weights[name] = w
            let path = network.layers.filter { (bn: Layer) -> Bool in
                guard bn.kind == .batchNorm, bn.unit == layer.unit else { return false }
                return bn.name.hasPrefix(layer.unit + ".expand") || bn.name.hasPrefix(layer.unit + ".dw") || bn.name == "head.bn"
            }
            for bn in path {
                for role in [TensorName.Role.shift, .runningMean] {
                    var values = weights[TensorName(bn, role)]!
                    for c in dead { values[c] = 0 }
                    weights[TensorName(bn, role)] = values
                }
            }
        }
        let pruning = try FilterPruning(network, weights: weights, fraction: 0.25)
        #expect(pruning.architecture.description
                == "r16_w1.0:stem_k3_s1_o8|mb_r2_k3_s2_e4_h0.75_o16_se0.25|mb_r1_k5s_s1_e3_h0.75_o16|head_o48")
        let smaller = Network(pruning.architecture)
        #expect(smaller.macs < network.macs)
        // Exactly the zeroed channels went (the kept ones are the first three quarters).
        for (layer, kept) in pruning.kept { #expect(kept == Array(0..<kept.count), "\(layer)") }

        let input: [Float] = (0..<(4 * 16 * 16)).map { (i: Int) -> Float in Float((i * 37) % 101) / 101 }
        func logits(_ network: Network, _ weights: NetworkWeights) throws -> [Float] {
            let engine = try InferenceNetwork(plan: try InferencePlan(network: network, weights: weights), batch: 4,
                                              context: try ComputeContext(threads: 1))
            engine.setInput(input)
            try engine.run()
            return engine.logits
        }
        let before = try logits(network, weights)
        let after = try logits(smaller, pruning.weights)
        let largest = zip(before, after).map { (a: Float, b: Float) -> Float in abs(a - b) }.max() ?? 1
        #expect(before.count == 40 && largest < 1e-4, "\(before.prefix(10)) vs \(after.prefix(10))")
    }

    @Test("The _h field parses, prints canonically, and is refused where no expansion exists; pruning keeps a block's _b")
    func grammar() throws {
        let coded = try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|mb_r1_k3_s2_e4_o16_b4|head_o64")
        let pruned = try FilterPruning(Network(coded), weights: NetworkWeights.random(for: Network(coded), seed: 1), fraction: 0.5)
        #expect(pruned.architecture.description == "r16_w1.0:stem_k3_s1_o8|mb_r1_k3_s2_e4_h0.5_o16_b4|head_o32")
        let text = "r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_h0.5_o16|head_o64"
        #expect(try Architecture(parsing: text).description == text)
        #expect(Network(try Architecture(parsing: text)).layers.first { $0.name == "b1.1.expand" }?.outputShape.channels == 48)
        #expect(throws: ArchitectureSyntaxError.self) { try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e1_h0.5_o16|head_o64") }
        #expect(throws: ArchitectureSyntaxError.self) { try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_h1.0_o16|head_o64") }
        #expect(throws: ArchitectureSyntaxError.self) { try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_h0.5_o16|head_o64") }
    }
}
