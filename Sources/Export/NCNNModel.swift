public import Core
public import Foundation
public import Model
import SearchSpace

/// An inference plan in ncnn's own format (`.param` text + `.bin` weights,
/// "param and model file structure" in ncnn's wiki): what most Android
/// deployments run, on the CPU or through Vulkan. BN is folded; a step's
/// activation is fused into its Convolution / ConvolutionDepthWise
/// (`activation_type`); residuals are BinaryOp add; SE is Pooling →
/// Convolution(ReLU) → Convolution(sigmoid) → BinaryOp mul; the head is
/// Pooling → InnerProduct. Blobs are named after the IR layers, the input
/// `image` (C×H×W), the output `logits`.
public struct NCNNModel: Sendable {
    /// ncnn's magic first line of a `.param` file.
    static let magic = 7767517

    /// The `.param` text.
    public let param: String
    /// The `.bin` bytes: each weight tensor behind a 4-byte tag (0: float32;
    /// 0x01306B47: float16, padded to 4 bytes), biases raw float32, in layer order.
    public let bin: Data

    /// `precision` fp16 stores the weights as ncnn's half-precision blobs
    /// (ncnn reads them back to float32 unless told to compute in fp16);
    /// int8 is not one of ncnn's weight storages and is refused.
    public init(plan: InferencePlan, precision: WeightPrecision = .fp32) throws(NasError) {
        guard precision != .int8 else {
            throw .invalidInput("ncnn models are written in fp32 or fp16; int8 weights are exported as ONNX only")
        }
        guard !plan.transformsActivations else {
            throw .invalidInput("a model with quantised or binary activations is written as ONNX (QuantizeLinear/DequantizeLinear, Sign) only")
        }
        var builder = NCNNBuilder(network: plan.network)
        for step in plan.steps { builder.lower(step) }
        (param, bin) = builder.finish(halfPrecision: precision == .fp16)
    }
}

private struct NCNNLayer {
    var type: String
    var name: String
    var inputs: [String]
    var outputs: [String]
    var params: [String]
    /// Weight blobs in load order: (values, tagged as a weight).
    var blobs: [(values: [Float], tagged: Bool)] = []
}

private struct NCNNBuilder {
    let network: Network
    private var layers: [NCNNLayer] = []

    init(network: Network) {
        self.network = network
        let s = network.input
        layers.append(NCNNLayer(type: "Input", name: "image", inputs: [], outputs: ["image"],
                                params: ["0=\(s.width)", "1=\(s.height)", "2=\(s.channels)"]))
    }

    func value(_ index: Int) -> String {
        if index < 0 { return "image" }
        return index == network.layers.count - 1 ? "logits" : network.layers[index].name
    }

    /// ncnn's activation_type and its params for a fused activation.
    static func fused(_ activation: Activation) -> [String] {
        switch activation {
        case .relu: return ["9=1"]
        case .relu6: return ["9=3", "-23310=2,\(number(0)),\(number(6))"]
        case .sigmoid: return ["9=4"]
        }
    }

    static func number(_ x: Float) -> String { String(format: "%e", Double(x)) }

    mutating func lower(_ step: InferencePlan.Step) {
        let head = network.layers[step.layers[0]]
        let inputs = step.inputs.isEmpty ? ["image"] : step.inputs.map(value)
        let final = value(step.output)
        var postOps = step.postOps[...]
        var current = postOps.isEmpty ? final : head.name + ".out"
        switch step.operation {
        case let .convolution(layer, weights, bias):
            var activation: [String] = []
            if case let .activation(a)? = postOps.first {
                activation = Self.fused(a)
                postOps = postOps.dropFirst()
                if postOps.isEmpty { current = final }
            }
            let o = layer.outputShape.channels
            var params = ["0=\(o)", "1=\(layer.kernel.width)", "11=\(layer.kernel.height)", "3=\(layer.stride)",
                          "13=\(layer.stride)", "4=\(layer.padding.width)", "14=\(layer.padding.height)", "5=1",
                          "6=\(weights.count)"]
            if layer.groups > 1 { params.append("7=\(layer.groups)") }
            layers.append(NCNNLayer(type: layer.groups > 1 ? "ConvolutionDepthWise" : "Convolution", name: layer.name,
                                    inputs: [inputs[0]], outputs: [current], params: params + activation,
                                    blobs: [(weights, true), (bias, false)]))
        case let .linear(layer, weights, bias):
            layers.append(NCNNLayer(type: "InnerProduct", name: layer.name, inputs: [inputs[0]], outputs: [current],
                                    params: ["0=\(layer.outputShape.channels)", "1=1", "2=\(weights.count)"],
                                    blobs: [(weights, true), (bias, false)]))
        case .channelScale:
            layers.append(NCNNLayer(type: "BinaryOp", name: head.name, inputs: inputs, outputs: [current], params: ["0=2"]))
        case .add:
            layers.append(NCNNLayer(type: "BinaryOp", name: head.name, inputs: inputs, outputs: [current], params: ["0=0"]))
        case .globalAveragePool:
            // Adaptive 1×1 keeps the C×1×1 shape a following 1×1 convolution (SE) reads;
            // global_pooling would flatten it to C.
            layers.append(NCNNLayer(type: "Pooling", name: head.name, inputs: [inputs[0]], outputs: [current],
                                    params: ["0=1", "7=1", "8=1", "18=1"]))
        case let .activation(activation):
            layers.append(Self.standalone(activation, head.name, from: inputs[0], to: current))
        case let .affine(scale, shift):
            layers.append(NCNNLayer(type: "Scale", name: head.name, inputs: [inputs[0]], outputs: [current],
                                    params: ["0=\(scale.count)", "1=1"], blobs: [(scale, false), (shift, false)]))
        }
        // The IR layers the remaining post-ops stand for, in order.
        let postLayers = step.layers.dropFirst().map { network.layers[$0] }.filter { Activation($0.kind) != nil || $0.kind == .add }
            .suffix(postOps.count)
        for (k, (postOp, layer)) in zip(postOps, postLayers).enumerated() {
            let output = k == postOps.count - 1 ? final : layer.name
            switch postOp {
            case let .activation(activation):
                layers.append(Self.standalone(activation, layer.name, from: current, to: output))
            case let .add(other):
                layers.append(NCNNLayer(type: "BinaryOp", name: layer.name, inputs: [current, value(other)], outputs: [output],
                                        params: ["0=0"]))
            }
            current = output
        }
    }

    static func standalone(_ activation: Activation, _ name: String, from input: String, to output: String) -> NCNNLayer {
        switch activation {
        case .relu: return NCNNLayer(type: "ReLU", name: name, inputs: [input], outputs: [output], params: [])
        case .relu6: return NCNNLayer(type: "Clip", name: name, inputs: [input], outputs: [output],
                                      params: ["0=\(number(0))", "1=\(number(6))"])
        case .sigmoid: return NCNNLayer(type: "Sigmoid", name: name, inputs: [input], outputs: [output], params: [])
        }
    }

    /// ncnn lets each blob feed one layer: a blob read by several (a block's
    /// input by its first convolution and its residual add, an SE input by
    /// the pool and the multiply) goes through a Split first.
    func finish(halfPrecision: Bool) -> (param: String, bin: Data) {
        var readers: [String: Int] = [:]
        for layer in layers { for input in layer.inputs { readers[input, default: 0] += 1 } }
        var copies: [String: [String]] = [:]
        var out: [NCNNLayer] = []
        for var layer in layers {
            layer.inputs = layer.inputs.map { input in
                guard var names = copies[input], !names.isEmpty else { return input }
                let name = names.removeFirst()
                copies[input] = names
                return name
            }
            out.append(layer)
            for output in layer.outputs where (readers[output] ?? 0) > 1 {
                let names = (0..<readers[output]!).map { "\(output)_split\($0)" }
                copies[output] = names
                out.append(NCNNLayer(type: "Split", name: output + ".split", inputs: [output], outputs: names, params: []))
            }
        }
        let blobs = Set(out.flatMap(\.outputs)).count
        var lines = ["\(NCNNModel.magic)", "\(out.count) \(blobs)"]
        var bin = Data()
        for layer in out {
            let fields = [layer.type.padding(toLength: max(16, layer.type.count), withPad: " ", startingAt: 0),
                          layer.name.padding(toLength: max(24, layer.name.count), withPad: " ", startingAt: 0),
                          "\(layer.inputs.count)", "\(layer.outputs.count)"] + layer.inputs + layer.outputs + layer.params
            lines.append(fields.joined(separator: " "))
            for blob in layer.blobs {
                if blob.tagged && halfPrecision {
                    withUnsafeBytes(of: UInt32(0x0130_6B47).littleEndian) { bin.append(contentsOf: $0) }
                    let half = blob.values.map { Float16($0).bitPattern }
                    half.withUnsafeBufferPointer { bin.append($0) }
                    if half.count % 2 == 1 { bin.append(contentsOf: [0, 0]) }  // ncnn aligns each blob to 4 bytes
                } else {
                    if blob.tagged { bin.append(contentsOf: [0, 0, 0, 0]) }  // tag 0: float32 follows
                    blob.values.withUnsafeBufferPointer { bin.append($0) }
                }
            }
        }
        return (lines.joined(separator: "\n") + "\n", bin)
    }
}
