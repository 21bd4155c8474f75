import Engine
import Model
import GSLNumerics
import SearchSpace
import Testing

@Suite("CPU inference engine")
struct InferenceParityTests {
    static func architecture(kernel: String) -> String {
        "r16_w1.0:stem_k3_s1_o16|mb_r1_k\(kernel)_s1_e1_o16|mb_r2_k\(kernel)_s2_e3_o24_se0.25|sep_r1_k\(kernel)_s1_o24"
            + "|conv_r2_k\(kernel)_s2_o32_se0.25|head_o64"
    }

    /// The trainer's evaluation-mode forward pass with the same weights and input.
    static func reference(_ network: Network, _ weights: NetworkWeights, _ input: [Float], batch: Int) throws -> [Float] {
        let training = try TrainingNetwork(network: network, batch: batch, context: try ComputeContext(threads: 1),
                                           initialisation: RandomStream(seed: 0, name: "unused"))
        try training.load(weights)
        training.setInput(input)
        try training.forward(training: false)
        return training.logits
    }

    @Test("Equals the trainer's evaluation forward within 1e-4, for every op and kernel form (BN folded, post-ops fused)",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func parity(kernel: String) throws {
        let network = Network(try Architecture(parsing: Self.architecture(kernel: kernel)))
        let weights = NetworkWeights.random(for: network, seed: 7)
        for batch in [1, 3] {
            let stream = RandomStream(seed: UInt64(batch), name: "input")
            let input = (0..<batch * network.input.elements).map { _ in Float(stream.normal()) }
            let engine = try InferenceNetwork(network: network, weights: weights, batch: batch,
                                              context: try ComputeContext(threads: 1))
            engine.setInput(input)
            try engine.run()
            let expected = try Self.reference(network, weights, input, batch: batch)
            let difference = zip(engine.logits, expected).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-4, "max |Δ| \(difference) for kernel \(kernel), batch \(batch)")
            #expect(expected.map(abs).max()! > 1e-2)  // a real signal, not zeros on both sides
        }
    }

    @Test("BN is folded and activations and residual adds fused: fewer steps than layers")
    func fusion() throws {
        let network = Network(try Architecture(parsing:
            "r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r3_k3_s2_e6_o32|mb_r2_k3_s1_e6_o64|head_o256"))
        let engine = try InferenceNetwork(network: network, weights: .random(for: network, seed: 1),
                                          context: try ComputeContext(threads: 1))
        // 74 IR layers: 25 convolutions (each with its BN, act and add), pool, linear.
        #expect(engine.steps.count == 27)
        #expect(engine.steps.allSatisfy { group in group.allSatisfy { network.layers[$0].kind != .batchNorm } || group.count > 1 })
        #expect(engine.steps.flatMap { $0 } == Array(0..<network.layers.count))
    }

    @Test("Each network runs with its own context's thread count, whichever context was created last")
    func threadCounts() throws {
        let network = Network(try Architecture(parsing: Self.architecture(kernel: "3")))
        let two = try ComputeContext(threads: 2)
        let training = try TrainingNetwork(network: network, batch: 2, context: two, initialisation: RandomStream(seed: 1, name: "w"))
        let one = try ComputeContext(threads: 1)  // sets OpenMP's count to 1 on this thread
        #expect(ComputeContext.threadsInForce == 1)
        try training.forward(training: true)
        #expect(ComputeContext.threadsInForce == 2)
        let engine = try InferenceNetwork(network: network, weights: .random(for: network, seed: 1), context: one)
        try engine.run()
        #expect(ComputeContext.threadsInForce == 1)
    }

    @Test("Weights for another architecture are refused with the tensor named")
    func mismatch() throws {
        let network = Network(try Architecture(parsing: Self.architecture(kernel: "3")))
        let other = Network(try Architecture(parsing: Self.architecture(kernel: "5")))
        do {
            _ = try InferenceNetwork(network: network, weights: .random(for: other, seed: 1), context: try ComputeContext(threads: 1))
            Issue.record("accepted weights of another architecture")
        } catch {
            #expect("\(error)".contains("another architecture"))
        }
    }
}
