import GSLNumerics
import Model
import SearchSpace
import Testing

@Suite("Quantised activations: codes, rounding and saturation as ONNX's QuantizeLinear; which tensors, signed or not")
struct ActivationQuantisationTests {
    @Test("Codes: uint8-style 0…2^b−1 when non-negative, two's complement when signed; half to even; saturation at both ends")
    func codes() {
        let relu6 = ActivationQuantisation(bits: 8, signed: false, range: 6)
        #expect(relu6.levels == 255 && relu6.lowestCode == 0 && relu6.step == Float(6) / 255)
        #expect(relu6.quantise(-1) == 0 && relu6.quantise(7) == 255 * relu6.step)
        #expect(relu6.saturated(relu6.quantise(6.5)) && !relu6.saturated(relu6.quantise(3)))
        let signed = ActivationQuantisation(bits: 4, signed: true, range: 7)
        #expect(signed.levels == 7 && signed.lowestCode == -8 && signed.step == 1)
        // Half to even, as QuantizeLinear rounds: 2.5 → 2, 3.5 → 4, −2.5 → −2.
        #expect(signed.quantise(2.5) == 2 && signed.quantise(3.5) == 4 && signed.quantise(-2.5) == -2)
        #expect(signed.quantise(-100) == -8 && signed.quantise(100) == 7)
        #expect(signed.saturated(-8) && signed.saturated(7) && !signed.saturated(-7))
        // Every value lands on the grid, within half a step of where it was inside the range.
        for x in stride(from: Float(-6.9), through: 6.9, by: 0.37) {
            let q = signed.quantise(x)
            #expect(q == q.rounded() && abs(q - x) <= 0.5 + 1e-6, "\(x) → \(q)")
        }
        // A tensor observed only as zeros still gets a usable step.
        #expect(ActivationQuantisation(bits: 8, signed: true, range: 0).step > 0)
        #expect(ActivationQuantisation(bits: 8, signed: true, range: .nan).range == 1)
    }

    @Test("Every tensor between steps but the logits; ReLU6 and sigmoid fix their ranges; pooled or gated non-negative tensors stay unsigned")
    func outputs() throws {
        let network = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|mb_r2_k3_s2_e4_o16_se0.25|head_o64"))
        let plan = try InferencePlan(network: network, weights: NetworkWeights.random(for: network, using: RandomStream(seed: 3, name: "t")))
        let outputs = plan.quantisableOutputs
        #expect(outputs.map(\.layer) == plan.steps.dropLast().map(\.output))
        #expect(!outputs.contains { $0.layer == network.layers.count - 1 })
        for (layer, signed, range) in outputs {
            let step = try #require(plan.steps.first { $0.output == layer })
            switch step.finalActivation {
            case .relu6: #expect(!signed && range == 6, "\(network.layers[layer].name)")
            case .sigmoid: #expect(!signed && range == 1, "\(network.layers[layer].name)")
            case .relu: #expect(!signed && range == nil, "\(network.layers[layer].name)")
            case nil:
                switch step.operation {
                case .globalAveragePool, .channelScale:
                    // SE pools and gates a ReLU6 output: never negative.
                    #expect(!signed, "\(network.layers[layer].name)")
                default:
                    #expect(signed && range == nil, "\(network.layers[layer].name)")
                }
            }
        }
        #expect(outputs.contains { $0.signed } && outputs.contains { !$0.signed })
        let quantised = plan.quantisingActivations([outputs[0].layer: ActivationQuantisation(bits: 8, signed: false, range: 6)])
        #expect(quantised.steps[0].outputQuantisation?.range == 6)
        #expect(quantised.steps.dropFirst().allSatisfy { $0.outputQuantisation == nil })
    }
}
