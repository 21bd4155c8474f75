import Model
import GSLNumerics
import SearchSpace
import Testing

@Suite("The C-free model: tensor names, activations, the inference plan")
struct ModelTests {
    static let arch = "r20_w0.5:stem_k3_s1_o16|mb_r2_k3_s2_e3_o24_se0.25|sep_r1_k3f_s1_o24|head_o64"

    @Test("Tensor names print and parse back, and order by layer then role")
    func names() {
        let name = TensorName("b2.1.dw", .runningVariance)
        #expect(name.description == "b2.1.dw.running_var")
        #expect(TensorName(parsing: "b2.1.dw.running_var") == name)
        #expect(TensorName(parsing: "b2.1.dw.gamma") == nil)
        #expect(TensorName("a", .weight) < TensorName("a", .bias))
    }

    @Test("Every learnt tensor of a network has a name, and random weights fill exactly those")
    func ownedTensors() throws {
        let network = Network(try Architecture(parsing: Self.arch))
        let owned = network.layers.flatMap(TensorName.owned(by:))
        let weights = NetworkWeights.random(for: network, using: RandomStream(seed: 1, name: "t"))
        #expect(Set(weights.tensors.keys) == Set(owned.map(\.description)))
        for layer in network.layers {
            for name in TensorName.owned(by: layer) {
                #expect(weights[name]?.count == TensorName.plainShape(of: name.role, in: layer).reduce(1, *))
            }
        }
        // Parameters counted by the IR are the weights, biases and BN's γ and β (not its statistics).
        let trainable = owned.filter { $0.role != .runningMean && $0.role != .runningVariance }
        #expect(trainable.map { weights[$0]!.count }.reduce(0, +) == network.params)
    }

    @Test("The plan fuses BN, the activation and the residual add into the convolution before them")
    func fusion() throws {
        let network = Network(try Architecture(parsing: Self.arch))
        let plan = try InferencePlan(network: network, weights: .random(for: network, using: RandomStream(seed: 2, name: "t")))
        #expect(!plan.steps.contains { if case .affine = $0.operation { return true } else { return false } })
        let add = try #require(network.layers.first { $0.kind == .add })
        let step = try #require(plan.steps.first { $0.layers.contains(add.index) })
        #expect(step.postOps.contains { if case .add = $0 { return true } else { return false } })
        #expect(plan.steps.count < network.layers.count)
        #expect(Activation(.relu6) == .relu6 && Activation(.conv) == nil)
    }

    @Test("Folding: conv → BN equals one convolution with w·γ/√(σ²+ε) and β − μ·γ/√(σ²+ε)")
    func folding() throws {
        let network = Network(try Architecture(parsing: Self.arch))
        let weights = NetworkWeights.random(for: network, using: RandomStream(seed: 3, name: "t"))
        let plan = try InferencePlan(network: network, weights: weights)
        guard case let .convolution(layer, folded, bias) = plan.steps[0].operation else {
            Issue.record("the stem is not a convolution step")
            return
        }
        let bn = network.layers[1]
        let gamma = weights[TensorName(bn, .scale)]!, beta = weights[TensorName(bn, .shift)]!
        let mean = weights[TensorName(bn, .runningMean)]!, variance = weights[TensorName(bn, .runningVariance)]!
        let raw = weights[TensorName(layer, .weight)]!
        let perChannel = raw.count / gamma.count
        for k in 0..<gamma.count {
            let scale = gamma[k] / (variance[k] + BatchNormalization.epsilon).squareRoot()
            #expect(abs(folded[k * perChannel] - raw[k * perChannel] * scale) < 1e-6)
            #expect(abs(bias[k] - (beta[k] - mean[k] * scale)) < 1e-6)
        }
    }

    @Test("Weights of another architecture are refused, naming the tensor")
    func mismatch() throws {
        let network = Network(try Architecture(parsing: Self.arch))
        let other = Network(try Architecture(parsing: Self.arch.replacingOccurrences(of: "head_o64", with: "head_o32")))
        #expect(throws: WeightsMismatchError.self) {
            _ = try InferencePlan(network: network, weights: .random(for: other, using: RandomStream(seed: 1, name: "t")))
        }
    }

    @Test("int8 weights: symmetric per output channel, read back within half a step, zero channels stay zero")
    func int8() {
        let weights: [Float] = [0.5, -1.0, 0.25, 0.0, 0, 0, 0, 0, 3, 2, -1, 0.001]
        let q = Int8Weights(weights, outputChannels: 3)
        #expect(q.scales == [1.0 / 127, 1, 3.0 / 127])
        #expect(q.values[1] == -127 && q.values[8] == 127)
        for (i, (w, back)) in zip(weights, q.dequantised).enumerated() {
            #expect(abs(w - back) <= q.scales[i / 4] / 2 + 1e-7)
        }
        #expect(q.dequantised[4..<8].allSatisfy { $0 == 0 })
    }

    @Test("A plan stored at fp16 or int8 differs from fp32 by at most the storage's rounding")
    func storing() throws {
        let network = Network(try Architecture(parsing: Self.arch))
        let plan = try InferencePlan(network: network, weights: .random(for: network, using: RandomStream(seed: 5, name: "t")))
        for precision in WeightPrecision.allCases {
            let stored = plan.storing(precision)
            for (a, b) in zip(plan.steps, stored.steps) {
                guard case let .convolution(_, w, bias) = a.operation, case let .convolution(_, v, storedBias) = b.operation else { continue }
                #expect(bias == storedBias)
                let largest = zip(w, v).map { abs($0 - $1) / max(abs($0), 1e-3) }.max() ?? 0
                switch precision {
                case .fp32: #expect(w == v)
                case .fp16: #expect(largest < 1e-3)
                case .int8: #expect(w != v)
                }
            }
        }
    }
}
