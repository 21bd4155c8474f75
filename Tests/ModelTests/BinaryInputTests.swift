import GSLNumerics
import Model
import SearchSpace
import Testing

@Suite("XNOR-Net's binary convolution inputs: sign times a scale, which convolutions, which plans need the CPU engine")
struct BinaryInputTests {
    @Test("sign(x)·scale with sign(0) = 0, as ONNX's Sign; the buffer form gives the same values; a scale is never 0 or NaN")
    func values() {
        let binary = BinaryInput(scale: 0.5)
        #expect(binary.binarise(3) == 0.5 && binary.binarise(-1e-30) == -0.5 && binary.binarise(0) == 0 && binary.binarise(-0.0) == 0)
        let source: [Float] = [2, -7, 0, 1e-8, -0.25, 6]
        var destination = [Float](repeating: 9, count: source.count)
        source.withUnsafeBufferPointer { s in destination.withUnsafeMutableBufferPointer { binary.binarise(s, into: $0) } }
        #expect(destination == source.map(binary.binarise))
        #expect(destination == [0.5, -0.5, 0, 0.5, -0.5, 0.5])
        #expect(BinaryInput(scale: 0).scale == 1 && BinaryInput(scale: .nan).scale == 1 && BinaryInput(scale: -2).scale == 1)
    }

    @Test("Every convolution but the first is binarisable; binarising marks exactly those steps, and only such plans transform activations")
    func convolutions() throws {
        let network = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|mb_r2_k3_s2_e4_o16_se0.25|head_o64"))
        let plan = try InferencePlan(network: network, weights: NetworkWeights.random(for: network, using: RandomStream(seed: 3, name: "t")))
        let convolutions = plan.steps.compactMap { step -> Int? in
            if case .convolution = step.operation { return step.layers[0] }
            return nil
        }
        let binarisable = plan.binarisableConvolutions
        #expect(binarisable == Array(convolutions.dropFirst()))
        #expect(!binarisable.isEmpty && network.layers[convolutions[0]].inputs.isEmpty)
        #expect(binarisable.allSatisfy { network.layers[$0].kind == .conv })
        #expect(!plan.transformsActivations)
        let binarised = plan.binarisingInputs(Dictionary(uniqueKeysWithValues: binarisable.map { ($0, BinaryInput(scale: 2)) }))
        #expect(binarised.transformsActivations)
        #expect(binarised.steps.filter { $0.inputBinarisation != nil }.map { $0.layers[0] } == binarisable)
        // Re-encoding the weights keeps a step's binarisation.
        #expect(binarised.decoding([:]).steps.filter { $0.inputBinarisation != nil }.count == binarisable.count)
    }
}
