import Numerics
import SearchSpace

/// A network's learnt tensors in plain layouts, by name: what training
/// produces and the inference engines, checkpoints and exporters read.
///
/// Names follow the IR's layer names: `<conv>.weight` (OIHW, grouped GOIHW),
/// `<conv>.bias`, `<linear>.weight` (O×I×1×1), `<linear>.bias`,
/// `<bn>.scale`, `<bn>.shift`, `<bn>.running_mean`, `<bn>.running_var`.
public struct NetworkWeights: Sendable {
    public var tensors: [String: [Float]]

    public init(tensors: [String: [Float]] = [:]) { self.tensors = tensors }

    public subscript(name: String) -> [Float]? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }

    /// Weights drawn from `seed`: He-normal convolutions and linear layer,
    /// small random biases, and BN parameters and statistics away from the
    /// identity, so that folding BN is exercised rather than trivial.
    public static func random(for network: Network, seed: UInt64) -> NetworkWeights {
        let stream = RandomStream(seed: seed, name: "random-weights")
        var weights = NetworkWeights()
        func normal(_ count: Int, _ std: Double, _ mean: Double = 0) -> [Float] {
            (0..<count).map { _ in Float(stream.normal(mean: mean, standardDeviation: std)) }
        }
        func uniform(_ count: Int, _ low: Double, _ high: Double) -> [Float] {
            (0..<count).map { _ in Float(stream.uniform(low, high)) }
        }
        for layer in network.layers {
            let i = layer.inputShape, o = layer.outputShape
            switch layer.kind {
            case .conv:
                let fanIn = i.channels / layer.groups * layer.kernel.height * layer.kernel.width
                weights["\(layer.name).weight"] = normal(o.channels * fanIn, (2.0 / Double(fanIn)).squareRoot())
                if layer.bias { weights["\(layer.name).bias"] = normal(o.channels, 0.1) }
            case .linear:
                let fanIn = i.elements
                weights["\(layer.name).weight"] = normal(o.channels * fanIn, (2.0 / Double(fanIn)).squareRoot())
                weights["\(layer.name).bias"] = normal(o.channels, 0.1)
            case .batchNorm:
                weights["\(layer.name).scale"] = uniform(o.channels, 0.5, 1.5)
                weights["\(layer.name).shift"] = normal(o.channels, 0.1)
                weights["\(layer.name).running_mean"] = normal(o.channels, 0.1)
                weights["\(layer.name).running_var"] = uniform(o.channels, 0.5, 1.5)
            default:
                break
            }
        }
        return weights
    }
}

/// A weights set that does not fit the network it is loaded into.
public struct WeightsMismatchError: Error, CustomStringConvertible {
    public let tensor: String
    public let expected: Int
    public let found: Int?

    public var description: String {
        let what = found.map { "has \($0) values, expected \(expected)" } ?? "is missing"
        return "weights tensor '\(tensor)' \(what): the weights belong to another architecture"
    }
}
