public import SearchSpace

/// The IR prepared for inference, shared by the CPU and the Vulkan engines,
/// the exporters and the latency model: layers grouped into steps, batch
/// norm folded into the convolution before it, and the activation and
/// residual add that follow a convolution (or an SE channel scale) fused
/// into that step.
///
/// Folding: w' = γ/√(σ²+ε)·w, b' = β + (b − μ)·γ/√(σ²+ε). Weights stay plain
/// (OIHW, GOIHW grouped; linear O×I) so each engine lays them out its own way.
public struct InferencePlan: Sendable {
    public enum Operation: Sendable {
        /// A convolution with folded weights and bias (`weights` plain, `layer.groups` groups).
        case convolution(layer: Layer, weights: [Float], bias: [Float])
        /// Squeeze-and-excite gating: inputs[0] · inputs[1] (per channel).
        case channelScale
        case add
        case globalAveragePool
        /// Fully connected: weights O×I, bias O.
        case linear(layer: Layer, weights: [Float], bias: [Float])
        /// A lone activation (the IR puts none outside convolution groups today).
        case activation(Activation)
        /// A lone batch norm, as y = x·scale + shift per channel.
        case affine(scale: [Float], shift: [Float])
    }

    /// How a value is post-processed inside a step, in order.
    public enum PostOp: Sendable, Equatable {
        case activation(Activation)
        /// Add the output of IR layer `index` (a residual).
        case add(index: Int)
    }

    public struct Step: Sendable {
        public let operation: Operation
        /// IR layer indices this step covers; its output is the last one's.
        public let layers: [Int]
        /// IR indices of the inputs (empty: the network input).
        public let inputs: [Int]
        public let postOps: [PostOp]
        public let outputShape: TensorShape
        /// Fake quantisation of the step's output after its post-ops (a
        /// model compressed with quantised activations); nil: float.
        public let outputQuantisation: ActivationQuantisation?
        /// A convolution's input binarised before it runs (a model compressed
        /// by `xnor`); nil: as the previous step left it. The tensor itself is
        /// unchanged for its other readers (a residual add).
        public let inputBinarisation: BinaryInput?

        init(operation: Operation, layers: [Int], inputs: [Int], postOps: [PostOp], outputShape: TensorShape,
             outputQuantisation: ActivationQuantisation? = nil, inputBinarisation: BinaryInput? = nil) {
            self.operation = operation
            self.layers = layers
            self.inputs = inputs
            self.postOps = postOps
            self.outputShape = outputShape
            self.outputQuantisation = outputQuantisation
            self.inputBinarisation = inputBinarisation
        }

        public var output: Int { layers.last! }

        /// The same step computing `operation` (weights stored another way).
        public func replacing(_ operation: Operation) -> Step {
            Step(operation: operation, layers: layers, inputs: inputs, postOps: postOps, outputShape: outputShape,
                 outputQuantisation: outputQuantisation, inputBinarisation: inputBinarisation)
        }

        /// The same step with its output fake-quantised by `quantisation`.
        public func quantising(_ quantisation: ActivationQuantisation?) -> Step {
            Step(operation: operation, layers: layers, inputs: inputs, postOps: postOps, outputShape: outputShape,
                 outputQuantisation: quantisation, inputBinarisation: inputBinarisation)
        }

        /// The same step with its input binarised by `binarisation`.
        public func binarisingInput(_ binarisation: BinaryInput?) -> Step {
            Step(operation: operation, layers: layers, inputs: inputs, postOps: postOps, outputShape: outputShape,
                 outputQuantisation: outputQuantisation, inputBinarisation: binarisation)
        }

        /// The activation the step ends with, if any.
        public var finalActivation: Activation? {
            if case let .activation(a)? = postOps.last { return a }
            if case let .activation(a) = operation, postOps.isEmpty { return a }
            return nil
        }
    }

    public let network: Network
    public let steps: [Step]

    public init(network: Network, weights: NetworkWeights) throws(WeightsMismatchError) {
        self.network = network
        let layers = network.layers
        var readers = [Int](repeating: 0, count: layers.count)
        for layer in layers { for i in layer.inputs where i >= 0 { readers[i] += 1 } }
        var materialised: Set<Int> = [-1]  // the network input
        var steps: [Step] = []
        var i = 0
        while i < layers.count {
            var group = [i]
            func next(_ accepts: (Layer.Kind) -> Bool) -> Int? {
                let last = group.last!, j = last + 1
                guard j < layers.count, accepts(layers[j].kind), layers[j].inputs.contains(last),
                      readers[last] == 1 else { return nil }
                // A residual add fuses only when its other input already exists.
                if layers[j].kind == .add, layers[j].inputs.contains(where: { $0 != last && !materialised.contains($0) }) {
                    return nil
                }
                return j
            }
            let head = layers[i]
            switch head.kind {
            case .conv:
                if let j = next({ $0 == .batchNorm }) { group.append(j) }
                if let j = next({ Activation($0) != nil }) { group.append(j) }
                if let j = next({ $0 == .add }) { group.append(j) }
            case .channelScale:
                if let j = next({ $0 == .add }) { group.append(j) }
            default:
                break
            }
            let postOps: [PostOp] = group.dropFirst().compactMap { j in
                if let activation = Activation(layers[j].kind) { return .activation(activation) }
                if layers[j].kind == .add { return .add(index: layers[j].inputs.first { !group.contains($0) }!) }
                return nil
            }
            let batchNorm = group.dropFirst().map { layers[$0] }.first { $0.kind == .batchNorm }
            steps.append(Step(operation: try Self.operation(head, batchNorm: batchNorm, weights: weights), layers: group,
                              inputs: head.inputs, postOps: postOps, outputShape: layers[group.last!].outputShape))
            materialised.insert(group.last!)
            i = group.last! + 1
        }
        self.steps = steps
    }

    /// A plan from steps already made (a variant of another plan).
    init(network: Network, steps: [Step]) {
        self.network = network
        self.steps = steps
    }

    private static func operation(_ layer: Layer, batchNorm: Layer?, weights: NetworkWeights) throws(WeightsMismatchError) -> Operation {
        let o = layer.outputShape
        switch layer.kind {
        case .conv:
            var w = try weights.tensor(TensorName(layer, .weight), count: TensorName.plainShape(of: .weight, in: layer).reduce(1, *))
            var b = layer.bias ? try weights.tensor(TensorName(layer, .bias), count: o.channels)
                : [Float](repeating: 0, count: o.channels)
            if let bn = batchNorm {
                let (scale, shift) = try folding(bn, weights: weights)
                let perChannel = w.count / o.channels
                for k in 0..<o.channels {
                    for j in 0..<perChannel { w[k * perChannel + j] *= scale[k] }
                    b[k] = b[k] * scale[k] + shift[k]
                }
            }
            return .convolution(layer: layer, weights: w, bias: b)
        case .linear:
            return .linear(layer: layer, weights: try weights.tensor(TensorName(layer, .weight),
                                                                     count: TensorName.plainShape(of: .weight, in: layer).reduce(1, *)),
                           bias: try weights.tensor(TensorName(layer, .bias), count: o.channels))
        case .batchNorm:
            let (scale, shift) = try folding(layer, weights: weights)
            return .affine(scale: scale, shift: shift)
        case .channelScale: return .channelScale
        case .add: return .add
        case .globalAveragePool: return .globalAveragePool
        case .relu6, .relu, .sigmoid: return .activation(Activation(layer.kind)!)
        }
    }

    /// BN in evaluation mode as y = x·scale + shift: scale = γ/√(σ²+ε), shift = β − μ·scale.
    public static func folding(_ bn: Layer, weights: NetworkWeights) throws(WeightsMismatchError) -> (scale: [Float], shift: [Float]) {
        let c = bn.outputShape.channels
        let gamma = try weights.tensor(TensorName(bn, .scale), count: c)
        let beta = try weights.tensor(TensorName(bn, .shift), count: c)
        let mean = try weights.tensor(TensorName(bn, .runningMean), count: c)
        let variance = try weights.tensor(TensorName(bn, .runningVariance), count: c)
        let scale = (0..<c).map { gamma[$0] / (variance[$0] + BatchNormalization.epsilon).squareRoot() }
        return (scale, (0..<c).map { beta[$0] - mean[$0] * scale[$0] })
    }
}
