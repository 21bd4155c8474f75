/// How an exported model stores its convolution and linear weights. Biases
/// and activations stay float32 in every variant: the runtimes read the
/// weights back to float32 and compute in it.
public enum WeightPrecision: String, Sendable, CaseIterable, Codable {
    case fp32
    /// IEEE half precision: half the size, about three significant digits.
    case fp16
    /// Symmetric per-output-channel int8 with a float32 scale per channel
    /// (scale = max |w| / 127, zero point 0): a quarter of the size.
    case int8
}

/// A weight tensor quantised symmetrically per output channel (its first
/// dimension): `values[i] · scales[channel]` is the weight read back.
public struct Int8Weights: Sendable, Equatable {
    public let values: [Int8]
    public let scales: [Float]

    public init(_ weights: [Float], outputChannels: Int) {
        let perChannel = weights.count / max(outputChannels, 1)
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: outputChannels)
        for c in 0..<outputChannels {
            let slice = weights[(c * perChannel)..<((c + 1) * perChannel)]
            let largest = slice.map(abs).max() ?? 0
            // An all-zero channel keeps scale 1: any scale reads zeros back as zeros.
            let scale = largest > 0 ? largest / 127 : 1
            scales[c] = scale
            for i in slice.indices { values[i] = Int8(max(-127, min(127, (weights[i] / scale).rounded()))) }
        }
        self.values = values
        self.scales = scales
    }

    /// The weights as a runtime reads them back (DequantizeLinear).
    public var dequantised: [Float] {
        let perChannel = values.count / max(scales.count, 1)
        return values.indices.map { Float(values[$0]) * scales[$0 / perChannel] }
    }
}

extension InferencePlan {
    /// This plan with its convolution and linear weights as a model stored at
    /// `precision` gives them back: the weights a runtime computes with. Run
    /// on nasd's engines, it gives the logits (and test accuracy) of that
    /// variant of the exported model.
    public func storing(_ precision: WeightPrecision) -> InferencePlan {
        guard precision != .fp32 else { return self }
        func stored(_ weights: [Float], _ outputs: Int) -> [Float] {
            switch precision {
            case .fp32: return weights
            case .fp16: return weights.map { Float(Float16($0)) }
            case .int8: return Int8Weights(weights, outputChannels: outputs).dequantised
            }
        }
        let converted = steps.map { step -> Step in
            let operation: Operation
            switch step.operation {
            case let .convolution(layer, weights, bias):
                operation = .convolution(layer: layer, weights: stored(weights, layer.outputShape.channels), bias: bias)
            case let .linear(layer, weights, bias):
                operation = .linear(layer: layer, weights: stored(weights, layer.outputShape.channels), bias: bias)
            default:
                operation = step.operation
            }
            return step.replacing(operation)
        }
        return InferencePlan(network: network, steps: converted)
    }
}
