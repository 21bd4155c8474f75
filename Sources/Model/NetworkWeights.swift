public import Core
public import SearchSpace

/// A network's learnt tensors in plain layouts, by name: what training
/// produces and the inference engines, checkpoints and exporters read.
/// Names and shapes are `TensorName`'s.
public struct NetworkWeights: Sendable {
    public var tensors: [String: [Float]]

    public init(tensors: [String: [Float]] = [:]) { self.tensors = tensors }

    public subscript(name: TensorName) -> [Float]? {
        get { tensors[name.description] }
        set { tensors[name.description] = newValue }
    }

    public subscript(name: String) -> [Float]? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }

    /// The tensor `name`, checked to hold `count` values.
    public func tensor(_ name: TensorName, count: Int) throws(WeightsMismatchError) -> [Float] {
        guard let values = self[name], values.count == count else {
            throw WeightsMismatchError(tensor: name.description, expected: count, found: self[name]?.count)
        }
        return values
    }

    /// Weights drawn from `random`: He-normal convolutions and linear layer,
    /// small random biases, and BN parameters and statistics away from the
    /// identity, so that folding BN is exercised rather than trivial.
    public static func random(for network: Network, using random: some RandomSource) -> NetworkWeights {
        var weights = NetworkWeights()
        func normal(_ count: Int, _ std: Double, _ mean: Double = 0) -> [Float] {
            (0..<count).map { _ in Float(random.normal(mean: mean, standardDeviation: std)) }
        }
        func uniform(_ count: Int, _ low: Double, _ high: Double) -> [Float] {
            (0..<count).map { _ in Float(random.uniform(low, high)) }
        }
        for layer in network.layers {
            let c = layer.outputShape.channels
            switch layer.kind {
            case .conv, .linear:
                let shape = TensorName.plainShape(of: .weight, in: layer)
                let fanIn = shape.dropFirst(shape.count == 5 ? 2 : 1).reduce(1, *)
                weights[TensorName(layer, .weight)] = normal(shape.reduce(1, *), (2.0 / Double(fanIn)).squareRoot())
                if layer.bias { weights[TensorName(layer, .bias)] = normal(c, 0.1) }
            case .batchNorm:
                weights[TensorName(layer, .scale)] = uniform(c, 0.5, 1.5)
                weights[TensorName(layer, .shift)] = normal(c, 0.1)
                weights[TensorName(layer, .runningMean)] = normal(c, 0.1)
                weights[TensorName(layer, .runningVariance)] = uniform(c, 0.5, 1.5)
            case .relu6, .relu, .sigmoid, .add, .channelScale, .globalAveragePool:
                break
            }
        }
        return weights
    }
}

/// A weights set that does not fit the network it is loaded into.
public struct WeightsMismatchError: ClassifiedError, Sendable {
    public let tensor: String
    public let expected: Int
    public let found: Int?

    public init(tensor: String, expected: Int, found: Int?) {
        self.tensor = tensor
        self.expected = expected
        self.found = found
    }

    public var kind: ErrorKind { .invalidInput }

    public var description: String {
        let what = found.map { "has \($0) values, expected \(expected)" } ?? "is missing"
        return "weights tensor '\(tensor)' \(what): the weights belong to another architecture"
    }
}
