/// The shape of one image's activations: channels × height × width.
public struct TensorShape: Hashable, Sendable, Codable, CustomStringConvertible {
    public let channels: Int
    public let height: Int
    public let width: Int

    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var elements: Int { channels * height * width }
    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// What the network reads and predicts. nasd's proxy task is Fashion-MNIST:
/// one grey channel, ten classes.
public struct NetworkInput: Hashable, Sendable {
    public let channels: Int
    public let classes: Int

    public init(channels: Int, classes: Int) {
        self.channels = channels
        self.classes = classes
    }

    public static let fashionMNIST = NetworkInput(channels: 1, classes: 10)
}

/// One operation of the network IR. Engines execute these; the trainer, both
/// engines, the latency model and the exporter read shapes, params and MACs
/// from here and never re-derive them.
public struct Layer: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Convolution with "same" padding; `groups == input channels` is depthwise.
        case conv
        case batchNorm = "batch_norm"
        case relu6
        case relu
        case sigmoid
        /// Residual add of `inputs[0]` and `inputs[1]`.
        case add
        /// Squeeze-and-excite gating: `inputs[0]` scaled per channel by `inputs[1]` (C×1×1).
        case channelScale = "channel_scale"
        case globalAveragePool = "global_avg_pool"
        /// Fully connected, with bias.
        case linear
    }

    /// Position in `Network.layers`.
    public let index: Int
    /// Readable and unique: "b2.1.dw", "head.linear".
    public let name: String
    /// The operator unit this layer belongs to ("stem", "b2.1" = block 2, repeat 1,
    /// "head"): what the latency table measures as one piece.
    public let unit: String
    public let kind: Kind
    /// Indices of the layers this one reads; empty means the network input.
    /// In a unit's sub-network (`Network.unit`), −1 names the network input
    /// where a layer reads it beside another layer (a residual add).
    public let inputs: [Int]
    /// Kernel height and width (1×1 for non-convolutions).
    public let kernel: KernelSize
    public let stride: Int
    public let groups: Int
    /// Whether the layer has a bias (convs followed by BN have none).
    public let bias: Bool
    public let inputShape: TensorShape
    public let outputShape: TensorShape
    /// Trainable parameters: weights, biases, BN's γ and β.
    public let params: Int
    /// Multiply-accumulates for one image (convolutions and linear layers).
    public let macs: Int

    /// Zero padding on each side of a conv: (k−1)/2, symmetric. For the odd
    /// kernels nasd uses this gives "same" output, ⌈side/stride⌉, and it is
    /// what ONNX, PyTorch and oneDNN all express directly.
    public var padding: KernelSize {
        KernelSize(height: (kernel.height - 1) / 2, width: (kernel.width - 1) / 2)
    }

    public init(index: Int, name: String, unit: String, kind: Kind, inputs: [Int], kernel: KernelSize, stride: Int,
                groups: Int, bias: Bool, inputShape: TensorShape, outputShape: TensorShape, params: Int, macs: Int) {
        self.index = index
        self.name = name
        self.unit = unit
        self.kind = kind
        self.inputs = inputs
        self.kernel = kernel
        self.stride = stride
        self.groups = groups
        self.bias = bias
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.params = params
        self.macs = macs
    }
}

public struct KernelSize: Hashable, Sendable, Codable, CustomStringConvertible {
    public let height: Int
    public let width: Int
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }
    public static let one = KernelSize(height: 1, width: 1)
    public var description: String { "\(height)×\(width)" }
}

/// An architecture decoded into the network IR: layers in execution order.
public struct Network: Sendable {
    public let architecture: Architecture
    public let input: TensorShape
    public let classes: Int
    public let layers: [Layer]

    public var params: Int { layers.reduce(0) { $0 + $1.params } }
    public var macs: Int { layers.reduce(0) { $0 + $1.macs } }
    public var output: TensorShape { layers.last!.outputShape }

    /// Decodes `architecture` for images with `input.channels` channels into `input.classes` classes.
    public init(_ architecture: Architecture, input: NetworkInput = .fashionMNIST) {
        var builder = NetworkBuilder(architecture: architecture, input: input)
        builder.build()
        self.architecture = architecture
        self.input = TensorShape(channels: input.channels, height: architecture.resolution, width: architecture.resolution)
        self.classes = input.classes
        self.layers = builder.layers
    }

    /// The layers of one operator unit ("stem", "b2.1", "head") as a network
    /// of their own, reading a tensor of the unit's input shape: what the
    /// latency table measures in isolation. Indices are renumbered from 0.
    public func unit(_ name: String) -> Network? {
        let members = layers.filter { $0.unit == name }
        guard let first = members.first else { return nil }
        let base = first.index
        let renumbered = members.map { l in
            Layer(index: l.index - base, name: l.name, unit: l.unit, kind: l.kind,
                  inputs: l.index == base ? [] : l.inputs.map { $0 >= base ? $0 - base : -1 }, kernel: l.kernel, stride: l.stride,
                  groups: l.groups, bias: l.bias, inputShape: l.inputShape, outputShape: l.outputShape,
                  params: l.params, macs: l.macs)
        }
        return Network(architecture: architecture, input: first.inputShape, classes: members.last!.outputShape.channels,
                       layers: renumbered)
    }

    /// Operator units in execution order.
    public var units: [String] {
        var seen: [String] = []
        for layer in layers where seen.last != layer.unit { seen.append(layer.unit) }
        return seen
    }

    init(architecture: Architecture, input: TensorShape, classes: Int, layers: [Layer]) {
        self.architecture = architecture
        self.input = input
        self.classes = classes
        self.layers = layers
    }
}
