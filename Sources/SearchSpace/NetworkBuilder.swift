/// Lowers an `Architecture` to layers, following the block definitions in README:
///
/// - `mb`:   [1×1 expand → BN → act] → depthwise(kernel) → BN → act → [SE] → 1×1 project → BN
/// - `sep`:  depthwise(kernel) → BN → act → [SE] → 1×1 → BN → act
/// - `conv`: conv(kernel) → BN → act → [SE]
///
/// Each conv of a stacked or factorised kernel gets its own BN and act; the
/// stride is on the first. Repeats after the first have stride 1. A residual
/// add follows when stride is 1, channels are kept and the block allows skips.
struct NetworkBuilder {
    let architecture: Architecture
    let input: NetworkInput
    private(set) var layers: [Layer] = []
    private var unit = "stem"

    init(architecture: Architecture, input: NetworkInput) {
        self.architecture = architecture
        self.input = input
    }

    /// The layer index of the network input.
    private static let networkInput = -1

    mutating func build() {
        let w = architecture.width
        let image = TensorShape(channels: input.channels, height: architecture.resolution, width: architecture.resolution)
        var x = Value(index: Self.networkInput, shape: image)

        unit = "stem"
        x = convBNAct(x, name: "stem", out: Architecture.scaledChannels(architecture.stem.filters, width: w),
                      kernel: KernelSize(height: 3, width: 3), stride: architecture.stem.stride, depthwise: false)

        for (b, block) in architecture.blocks.enumerated() {
            let out = Architecture.scaledChannels(block.filters, width: w)
            for r in 0..<block.repeats {
                unit = "b\(b + 1).\(r + 1)"
                x = lower(block, from: x, out: out, stride: r == 0 ? block.stride : 1)
            }
        }

        unit = "head"
        x = convBNAct(x, name: "head", out: Architecture.scaledChannels(architecture.head.filters, width: w),
                      kernel: .one, stride: 1, depthwise: false)
        x = append("head.pool", .globalAveragePool, [x], out: TensorShape(channels: x.shape.channels, height: 1, width: 1))
        let features = x.shape.channels
        x = append("head.linear", .linear, [x], out: TensorShape(channels: input.classes, height: 1, width: 1),
                   bias: true, params: features * input.classes + input.classes, macs: features * input.classes)
    }

    private mutating func lower(_ block: Architecture.Block, from blockInput: Value, out: Int, stride: Int) -> Value {
        let inChannels = blockInput.shape.channels
        var x = blockInput
        switch block.op {
        case .mb:
            let expanded = block.expandedChannels(input: inChannels)
            if (block.expansion ?? 1) > 1 {
                x = convBNAct(x, name: "\(unit).expand", out: expanded, kernel: .one, stride: 1, depthwise: false)
            }
            x = kernelConvs(block.kernel, from: x, name: "\(unit).dw", out: expanded, stride: stride, depthwise: true)
            x = squeezeExcite(block, x, blockInputChannels: inChannels)
            x = convBN(x, name: "\(unit).project", out: out, kernel: .one, stride: 1, depthwise: false)
        case .sep:
            x = kernelConvs(block.kernel, from: x, name: "\(unit).dw", out: inChannels, stride: stride, depthwise: true)
            x = squeezeExcite(block, x, blockInputChannels: inChannels)
            x = convBNAct(x, name: "\(unit).pw", out: out, kernel: .one, stride: 1, depthwise: false)
        case .conv:
            x = kernelConvs(block.kernel, from: x, name: "\(unit).conv", out: out, stride: stride, depthwise: false)
            x = squeezeExcite(block, x, blockInputChannels: inChannels)
        }
        if block.skip && stride == 1 && inChannels == out {
            x = append("\(unit).add", .add, [blockInput, x], out: x.shape)
        }
        return x
    }

    /// The convolutions of a kernel form, each followed by BN and ReLU6.
    private mutating func kernelConvs(_ form: Architecture.KernelForm, from input: Value, name: String,
                                      out: Int, stride: Int, depthwise: Bool) -> Value {
        let convs = form.convolutions
        var x = input
        for (i, k) in convs.enumerated() {
            let suffix = convs.count == 1 ? "" : "\(i + 1)"
            x = convBNAct(x, name: name + suffix, out: out, kernel: KernelSize(height: k.height, width: k.width),
                          stride: i == 0 ? stride : 1, depthwise: depthwise)
        }
        return x
    }

    /// Squeeze-and-excite: max(1, ⌊C·ratio⌋) reduced channels, C being the block's input channels.
    private mutating func squeezeExcite(_ block: Architecture.Block, _ x: Value, blockInputChannels: Int) -> Value {
        guard let ratio = block.seRatio else { return x }
        let channels = x.shape.channels
        let reduced = max(1, Int((Double(blockInputChannels) * ratio).rounded(.down)))
        let vector = { (c: Int) in TensorShape(channels: c, height: 1, width: 1) }
        var gate = append("\(unit).se.pool", .globalAveragePool, [x], out: vector(channels))
        gate = conv(gate, name: "\(unit).se.reduce", out: reduced, kernel: .one, stride: 1, groups: 1, bias: true)
        gate = append("\(unit).se.relu", .relu, [gate], out: gate.shape)
        gate = conv(gate, name: "\(unit).se.expand", out: channels, kernel: .one, stride: 1, groups: 1, bias: true)
        gate = append("\(unit).se.sigmoid", .sigmoid, [gate], out: gate.shape)
        return append("\(unit).se.scale", .channelScale, [x, gate], out: x.shape)
    }

    // MARK: Primitives

    private mutating func convBNAct(_ x: Value, name: String, out: Int, kernel: KernelSize, stride: Int, depthwise: Bool) -> Value {
        let y = convBN(x, name: name, out: out, kernel: kernel, stride: stride, depthwise: depthwise)
        return append("\(name).act", .relu6, [y], out: y.shape)
    }

    private mutating func convBN(_ x: Value, name: String, out: Int, kernel: KernelSize, stride: Int, depthwise: Bool) -> Value {
        let y = conv(x, name: name, out: out, kernel: kernel, stride: stride,
                     groups: depthwise ? x.shape.channels : 1, bias: false)
        return append("\(name).bn", .batchNorm, [y], out: y.shape, params: 2 * out)
    }

    private mutating func conv(_ x: Value, name: String, out: Int, kernel: KernelSize, stride: Int, groups: Int, bias: Bool) -> Value {
        let shape = TensorShape(channels: out,
                                height: (x.shape.height + stride - 1) / stride,
                                width: (x.shape.width + stride - 1) / stride)
        let weights = out * (x.shape.channels / groups) * kernel.height * kernel.width
        return append(name, .conv, [x], out: shape, kernel: kernel, stride: stride, groups: groups, bias: bias,
                      params: weights + (bias ? out : 0), macs: weights * shape.height * shape.width)
    }

    private struct Value {
        let index: Int
        let shape: TensorShape
    }

    private mutating func append(_ name: String, _ kind: Layer.Kind, _ inputs: [Value], out: TensorShape,
                                 kernel: KernelSize = .one, stride: Int = 1, groups: Int = 1, bias: Bool = false,
                                 params: Int = 0, macs: Int = 0) -> Value {
        let layer = Layer(index: layers.count, name: name, unit: unit, kind: kind,
                          inputs: inputs.map(\.index).filter { $0 != Self.networkInput },
                          kernel: kernel, stride: stride, groups: groups, bias: bias,
                          inputShape: inputs[0].shape, outputShape: out, params: params, macs: macs)
        layers.append(layer)
        return Value(index: layer.index, shape: out)
    }
}
