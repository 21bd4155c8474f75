public import Foundation
public import Model
import SearchSpace
import SwiftProtobuf

/// An inference plan as an ONNX model (opset 13): what onnxruntime, and the
/// converters to TFLite, Core ML and ncnn, load. BN is already folded into
/// the convolutions' weights and biases; ReLU6 is Clip(0, 6); SE is
/// GlobalAveragePool → Conv → Relu → Conv → Sigmoid → Mul; residuals are Add.
/// The input `image` is N×C×r×r float32 with a symbolic batch `N`, the
/// output `logits` N×classes.
///
/// Weight precision: fp16 stores convolution and linear weights as float16,
/// each read back by a Cast to float32; int8 stores them per output channel
/// as int8 with a float32 scale, read back by DequantizeLinear (axis 0). The
/// graph computes in float32 either way; biases stay float32.
///
/// A compressed model's weights (`stored`, by tensor name) keep their
/// encoding in the file: a codebook as uint8 indices → Cast → Gather from
/// the float32 codebook (→ Mul by the folded batch norm's per-channel
/// scale); integers (quantised, binary) as int8 → DequantizeLinear with a
/// per-channel scale; sparse and dense tensors as float32. Quantised
/// activations (a step's `outputQuantisation`) are QuantizeLinear →
/// DequantizeLinear pairs, the QDQ form onnxruntime runs with integer kernels;
/// a binarised convolution input (`inputBinarisation`) is Sign → Mul.
public struct ONNXModel: Sendable {
    public static let opset: Int64 = 13
    /// ONNX IR version 7 is the one opset 13 was released with; every runtime since reads it.
    public static let irVersion: Int64 = 7
    public static let inputName = "image"
    public static let outputName = "logits"

    private var model = Onnx_ModelProto()

    /// - Parameter metadata: stored in `metadata_props` (architecture, hash,
    ///   how to normalise and resize the input).
    public init(plan: InferencePlan, precision: WeightPrecision = .fp32, stored: [String: StoredWeight] = [:],
                metadata: [String: String] = [:], producerVersion: String = "") {
        var graph = Onnx_GraphProto()
        graph.name = plan.network.architecture.hash
        let network = plan.network
        let input = network.input
        graph.input = [Self.valueInfo(Self.inputName, dims: [.symbolic("N"), .fixed(input.channels), .fixed(input.height),
                                                              .fixed(input.width)])]
        graph.output = [Self.valueInfo(Self.outputName, dims: [.symbolic("N"), .fixed(network.classes)])]
        var builder = GraphBuilder(network: network, precision: precision, stored: stored)
        for step in plan.steps { builder.lower(step) }
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        model.graph = graph
        model.irVersion = Self.irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        model.opsetImport = [opset]
        model.producerName = "nasd"
        model.producerVersion = producerVersion
        model.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
    }

    /// The model's bytes (protocol buffers, as `.onnx` files hold them).
    public func serialized() throws -> Data { try model.serializedData() }

    private enum Dimension {
        case fixed(Int)
        case symbolic(String)
    }

    private static func valueInfo(_ name: String, dims: [Dimension]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case let .fixed(n): dim.dimValue = Int64(n)
            case let .symbolic(name): dim.dimParam = name
            }
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// Lowers plan steps to ONNX nodes, naming each value after the IR layer
/// that produces it (the network's last value is `logits`).
private struct GraphBuilder {
    let network: Network
    let precision: WeightPrecision
    let stored: [String: StoredWeight]
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []

    init(network: Network, precision: WeightPrecision, stored: [String: StoredWeight]) {
        self.network = network
        self.precision = precision
        self.stored = stored
    }

    /// The ONNX value holding IR layer `index`'s output (−1: the network input).
    func value(_ index: Int) -> String {
        if index < 0 { return ONNXModel.inputName }
        return index == network.layers.count - 1 ? ONNXModel.outputName : network.layers[index].name
    }

    mutating func lower(_ step: InferencePlan.Step) {
        let head = network.layers[step.layers[0]]
        let inputs = step.inputs.isEmpty ? [ONNXModel.inputName] : step.inputs.map(value)
        // The operation's own result, before post-ops; the last post-op writes the step's output
        // (its float value when the output is quantised next).
        let output = value(step.output)
        let final = step.outputQuantisation == nil ? output : output + ".float"
        var current = step.postOps.isEmpty ? final : head.name + ".out"
        switch step.operation {
        case let .convolution(layer, weights, bias):
            let shape = TensorName.plainShape(of: .weight, in: layer)
            // GOIHW flattened is OIHW with I/G input channels: ONNX's grouped layout.
            let onnxShape = shape.count == 5 ? [shape[0] * shape[1]] + Array(shape[2...]) : shape
            let w = weight(TensorName(layer, .weight).description, weights, dims: onnxShape)
            let b = constant(TensorName(layer, .bias).description, bias, dims: [bias.count])
            var input = inputs[0]
            if let binarisation = step.inputBinarisation {
                // XNOR-Net's binary input: Sign, times the tensor's scale; the tensor itself stays for its other readers.
                let scale = constant(layer.name + ".binary.scale", [binarisation.scale], dims: [])
                node("Sign", layer.name + ".sign", [input], [layer.name + ".sign"])
                node("Mul", layer.name + ".binary", [layer.name + ".sign", scale], [layer.name + ".binary"])
                input = layer.name + ".binary"
            }
            node("Conv", layer.name, [input, w, b], [current], attributes: [
                .ints("kernel_shape", [layer.kernel.height, layer.kernel.width]),
                .ints("strides", [layer.stride, layer.stride]),
                .ints("pads", [layer.padding.height, layer.padding.width, layer.padding.height, layer.padding.width]),
                .int("group", layer.groups),
            ])
        case let .linear(layer, weights, bias):
            let flat = layer.name + ".flat"
            node("Flatten", flat, [inputs[0]], [flat], attributes: [.int("axis", 1)])
            let w = weight(TensorName(layer, .weight).description, weights,
                           dims: [layer.outputShape.channels, layer.inputShape.elements])
            let b = constant(TensorName(layer, .bias).description, bias, dims: [bias.count])
            node("Gemm", layer.name, [flat, w, b], [current], attributes: [.int("transB", 1)])
        case .channelScale:
            node("Mul", head.name, [inputs[0], inputs[1]], [current])
        case .add:
            node("Add", head.name, [inputs[0], inputs[1]], [current])
        case .globalAveragePool:
            node("GlobalAveragePool", head.name, [inputs[0]], [current])
        case let .activation(activation):
            activationNode(activation, head.name, from: inputs[0], to: current)
        case let .affine(scale, shift):
            let c = scale.count
            let s = constant(head.name + ".scale", scale, dims: [1, c, 1, 1])
            let t = constant(head.name + ".shift", shift, dims: [1, c, 1, 1])
            node("Mul", head.name + ".mul", [inputs[0], s], [head.name + ".scaled"])
            node("Add", head.name, [head.name + ".scaled", t], [current])
        }
        // The IR layers the post-ops stand for (a folded BN is none), in order.
        let postLayers = step.layers.dropFirst().map { network.layers[$0] }.filter { Activation($0.kind) != nil || $0.kind == .add }
        for (k, (postOp, layer)) in zip(step.postOps, postLayers).enumerated() {
            let output = k == step.postOps.count - 1 ? final : layer.name
            switch postOp {
            case let .activation(activation):
                activationNode(activation, layer.name, from: current, to: output)
            case let .add(other):
                node("Add", layer.name, [current, value(other)], [output])
            }
            current = output
        }
        if let quantisation = step.outputQuantisation {
            quantise(quantisation, network.layers[step.output].name, from: final, to: output)
        }
    }

    /// A step's output as an integer deployment holds it: QuantizeLinear per
    /// tensor (zero point 0; uint8 when never negative, int8 otherwise) →
    /// DequantizeLinear. Codes narrower than 8 bits are clipped to their
    /// range first, since QuantizeLinear saturates only at 8 bits.
    private mutating func quantise(_ q: ActivationQuantisation, _ name: String, from input: String, to output: String) {
        var source = input
        if q.bits < 8 {
            let low = constant(name + ".q.min", [Float(q.lowestCode) * q.step], dims: [])
            let high = constant(name + ".q.max", [Float(q.levels) * q.step], dims: [])
            source = name + ".q.clipped"
            node("Clip", name + ".q.clip", [input, low, high], [source])
        }
        let scale = constant(name + ".q.scale", [q.step], dims: [])
        let zero = integerTensor(name + ".q.zero_point", q.signed ? .int8 : .uint8, Data(count: 1), dims: [])
        node("QuantizeLinear", name + ".quantize", [source, scale, zero], [name + ".q"])
        node("DequantizeLinear", name + ".dequantize", [name + ".q", scale, zero], [output])
    }

    private mutating func activationNode(_ activation: Activation, _ name: String, from input: String, to output: String) {
        switch activation {
        case .relu6:
            // Opset 11+ takes Clip's bounds as inputs, not attributes.
            let low = constant(name + ".min", [0], dims: [])
            let high = constant(name + ".max", [6], dims: [])
            node("Clip", name, [input, low, high], [output])
        case .relu: node("Relu", name, [input], [output])
        case .sigmoid: node("Sigmoid", name, [input], [output])
        }
    }

    private enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
    }

    private mutating func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String],
                               attributes: [Attribute] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = outputs
        node.attribute = attributes.map { a in
            var attribute = Onnx_AttributeProto()
            switch a {
            case let .int(name, value):
                attribute.name = name
                attribute.type = .int
                attribute.i = Int64(value)
            case let .ints(name, values):
                attribute.name = name
                attribute.type = .ints
                attribute.ints = values.map(Int64.init)
            }
            return attribute
        }
        nodes.append(node)
    }

    /// Adds a weight tensor (first dimension: output channels) at the model's
    /// precision; returns the name of its float32 value.
    private mutating func weight(_ name: String, _ values: [Float], dims: [Int]) -> String {
        if let encoding = stored[name] { return compressed(name, encoding, dims: dims) }
        switch precision {
        case .fp32:
            return constant(name, values, dims: dims)
        case .fp16:
            var tensor = Onnx_TensorProto()
            tensor.name = name + ".fp16"
            tensor.dataType = Int32(Onnx_TensorProto.DataType.float16.rawValue)
            tensor.dims = dims.map(Int64.init)
            let half = values.map { Float16($0).bitPattern }
            tensor.rawData = half.withUnsafeBufferPointer { Data(buffer: $0) }
            initializers.append(tensor)
            node("Cast", name + ".cast", [tensor.name], [name], attributes: [.int("to", Onnx_TensorProto.DataType.float.rawValue)])
            return name
        case .int8:
            let quantised = Int8Weights(values, outputChannels: dims[0])
            return dequantised(name, codes: quantised.values, codesName: name + ".int8", scales: quantised.scales, dims: dims)
        }
    }

    /// Adds a compressed weight in its own encoding; returns the name of its float32 value.
    private mutating func compressed(_ name: String, _ encoding: StoredWeight, dims: [Int]) -> String {
        switch encoding {
        case let .codebook(indices, _, codebook, scales):
            let codes = integerTensor(name + ".indices", .uint8, indices.withUnsafeBufferPointer { Data(buffer: $0) }, dims: dims)
            // Gather takes int32 or int64 indices; the file keeps one byte per weight.
            node("Cast", name + ".cast", [codes], [name + ".index"], attributes: [.int("to", Onnx_TensorProto.DataType.int32.rawValue)])
            let table = constant(name + ".codebook", codebook, dims: [codebook.count])
            let shared = scales == nil ? name : name + ".shared"
            node("Gather", name + ".gather", [table, name + ".index"], [shared], attributes: [.int("axis", 0)])
            if let scales {
                let perChannel = constant(name + ".channel_scale", scales, dims: [dims[0]] + [Int](repeating: 1, count: dims.count - 1))
                node("Mul", name + ".scale", [shared, perChannel], [name])
            }
            return name
        case let .integers(values, _, scales):
            return dequantised(name, codes: values, codesName: name + ".codes", scales: scales, dims: dims)
        case let .sparse(values), let .dense(values):
            return constant(name, values, dims: dims)
        }
    }

    /// int8 codes read back by DequantizeLinear (axis 0, zero point 0) with a float32 scale per output channel.
    private mutating func dequantised(_ name: String, codes: [Int8], codesName: String, scales: [Float], dims: [Int]) -> String {
        let tensor = integerTensor(codesName, .int8, codes.withUnsafeBufferPointer { Data(buffer: $0) }, dims: dims)
        let scale = constant(name + ".scale", scales, dims: [dims[0]])
        let zero = integerTensor(name + ".zero_point", .int8, Data(count: dims[0]), dims: [dims[0]])
        node("DequantizeLinear", name + ".dequantize", [tensor, scale, zero], [name], attributes: [.int("axis", 0)])
        return name
    }

    /// Adds an 8-bit initializer from its raw bytes and returns its name.
    private mutating func integerTensor(_ name: String, _ type: Onnx_TensorProto.DataType, _ bytes: Data, dims: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(type.rawValue)
        tensor.dims = dims.map(Int64.init)
        tensor.rawData = bytes
        initializers.append(tensor)
        return name
    }

    /// Adds a float32 initializer and returns its name.
    private mutating func constant(_ name: String, _ values: [Float], dims: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = dims.map(Int64.init)
        // raw_data is little-endian float32, as ONNX specifies (and x86 and ARM are).
        tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        initializers.append(tensor)
        return name
    }
}
