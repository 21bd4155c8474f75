import CDNNL
import SearchSpace

/// The IR in inference mode on oneDNN: the CPU latency engine.
///
/// Batch norm is folded into the preceding convolution's weights and bias
/// (w' = γ/√(σ²+ε)·w, b' = β − γ·μ/√(σ²+ε)); the activation after it, and a
/// residual add that follows, run as post-ops of that convolution (eltwise,
/// then binary add). Every primitive is created once; `run()` only executes.
public final class InferenceNetwork {
    public let network: Network
    public let batch: Int
    /// IR layer indices each executed step covers, in order (fused groups).
    public private(set) var steps: [[Int]] = []
    let context: ComputeContext
    private let input: Memory
    private var outputs: [Int: Memory] = [:]
    private var primitives: [Primitive] = []
    private let layout: ActivationLayout

    public init(network: Network, weights: NetworkWeights, batch: Int = 1, context: ComputeContext,
                layout: ActivationLayout = .blocked) throws {
        self.network = network
        self.batch = batch
        self.context = context
        self.layout = layout
        let layers = network.layers
        let image = network.input
        input = try Memory(MemoryDescriptor(dims: [batch, image.channels, image.height, image.width],
                                            tag: layout == .nhwc ? dnnl_acdb : dnnl_abcd), context: context)
        var readers = [Int](repeating: 0, count: layers.count)
        for layer in layers { for i in layer.inputs { readers[i] += 1 } }

        var i = 0
        while i < layers.count {
            var group = [i]
            // Absorb what follows while it is the only reader of the group's output.
            func next(_ kinds: Set<Layer.Kind>) -> Int? {
                let last = group.last!, j = last + 1
                guard j < layers.count, kinds.contains(layers[j].kind), layers[j].inputs.contains(last),
                      readers[last] == 1 else { return nil }
                if layers[j].kind == .add, layers[j].inputs.contains(where: { outputs[$0] == nil && $0 != last }) { return nil }
                return j
            }
            switch layers[i].kind {
            case .conv:
                if let j = next([.batchNorm]) { group.append(j) }
                if let j = next([.relu6, .relu, .sigmoid]) { group.append(j) }
                if let j = next([.add]) { group.append(j) }
            case .channelScale:
                if let j = next([.add]) { group.append(j) }
            default:
                break
            }
            try lower(group, weights: weights)
            steps.append(group)
            i = group.last! + 1
        }
    }

    /// The input batch, N×C×H×W contiguous: fill it before `run()`.
    public var inputBuffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: input.pointer, count: batch * network.input.elements)
    }

    public func run() throws(DNNLError) {
        for primitive in primitives { try primitive.execute() }
        try context.wait()
    }

    /// The logits, N×classes.
    public var logits: [Float] {
        let last = outputs[network.layers.count - 1]!
        return Array(UnsafeBufferPointer(start: last.pointer, count: batch * network.classes))
    }

    /// The output of IR layer `index` as plain NCHW, if it is materialised
    /// (the last layer of a fused group); nil for layers fused away.
    public func output(ofLayer index: Int) throws(DNNLError) -> [Float]? {
        guard let memory = outputs[index] else { return nil }
        let s = network.layers[index].outputShape
        if network.layers[index].kind == .linear { return try memory.plain(dims: [batch, s.channels], tag: dnnl_ab) }
        return try memory.plain(dims: [batch, s.channels, s.height, s.width], tag: dnnl_abcd)
    }

    // MARK: Lowering

    private func source(_ layer: Layer, _ slot: Int = 0) -> Memory {
        layer.inputs.isEmpty ? input : outputs[layer.inputs[slot]]!
    }

    private func outputMemory(for layer: Layer) throws(DNNLError) -> Memory {
        let o = layer.outputShape
        let md = layer.kind == .linear
            ? try MemoryDescriptor(dims: [batch, o.channels], tag: dnnl_ab)
            : try MemoryDescriptor(dims: [batch, o.channels, o.height, o.width], tag: layout.tag)
        return try Memory(md, context: context)
    }

    private func lower(_ group: [Int], weights: NetworkWeights) throws {
        let layers = group.map { network.layers[$0] }
        let head = layers[0]
        let destination = try outputMemory(for: layers.last!)
        let postOps = try PostOps(layers.dropFirst().filter { $0.kind != .batchNorm }, group: group, outputs: outputs)
        switch head.kind {
        case .conv:
            try lowerConvolution(head, batchNorm: layers.first { $0.kind == .batchNorm }, postOps: postOps,
                                 destination: destination, weights: weights)
        case .channelScale:
            var x = source(head).descriptor.raw, g = source(head, 1).descriptor.raw, dst = destination.descriptor.raw
            var desc = dnnl_binary_desc_t()
            try check(dnnl_binary_desc_init(&desc, dnnl_binary_mul, &x, &g, &dst), "dnnl_binary_desc_init (\(head.name))")
            let p = try Primitive(&desc, context: context, attributes: postOps.attributes, name: head.name)
            p.bind([(DNNL_ARG_SRC_0, source(head)), (DNNL_ARG_SRC_1, source(head, 1)), (DNNL_ARG_DST, destination)]
                   + postOps.arguments)
            primitives.append(p)
        case .add:
            var a = source(head).descriptor.raw, b = source(head, 1).descriptor.raw, dst = destination.descriptor.raw
            var desc = dnnl_binary_desc_t()
            try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &a, &b, &dst), "dnnl_binary_desc_init (\(head.name))")
            let p = try Primitive(&desc, context: context, name: head.name)
            p.bind([(DNNL_ARG_SRC_0, source(head)), (DNNL_ARG_SRC_1, source(head, 1)), (DNNL_ARG_DST, destination)])
            primitives.append(p)
        case .globalAveragePool:
            let kernel = dnnlDims([head.inputShape.height, head.inputShape.width]), zero = dnnlDims([0, 0])
            var src = source(head).descriptor.raw, dst = destination.descriptor.raw
            var desc = dnnl_pooling_desc_t()
            try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_avg_exclude_padding, &src, &dst,
                                                     kernel, kernel, zero, zero), "dnnl_pooling_forward_desc_init (\(head.name))")
            let p = try Primitive(&desc, context: context, name: head.name)
            p.bind([(DNNL_ARG_SRC, source(head)), (DNNL_ARG_DST, destination)])
            primitives.append(p)
        case .linear:
            try lowerLinear(head, destination: destination, weights: weights)
        case .relu6, .relu, .sigmoid:
            let (algorithm, alpha, beta) = PostOps.eltwise(head.kind)
            var data = source(head).descriptor.raw
            var desc = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &data, alpha, beta),
                      "dnnl_eltwise_forward_desc_init (\(head.name))")
            let p = try Primitive(&desc, context: context, name: head.name)
            p.bind([(DNNL_ARG_SRC, source(head)), (DNNL_ARG_DST, destination)])
            primitives.append(p)
        case .batchNorm:
            try lowerBatchNorm(head, destination: destination, weights: weights)
        }
        outputs[group.last!] = destination
    }

    private func lowerConvolution(_ layer: Layer, batchNorm: Layer?, postOps: PostOps, destination: Memory,
                                  weights: NetworkWeights) throws {
        let i = layer.inputShape, o = layer.outputShape, g = layer.groups
        let weightDims = g == 1 ? [o.channels, i.channels, layer.kernel.height, layer.kernel.width]
            : [g, o.channels / g, i.channels / g, layer.kernel.height, layer.kernel.width]
        var w = try tensor(weights, "\(layer.name).weight", count: weightDims.reduce(1, *))
        var b = layer.bias ? try tensor(weights, "\(layer.name).bias", count: o.channels) : [Float](repeating: 0, count: o.channels)
        if let bn = batchNorm {
            let c = o.channels
            let gamma = try tensor(weights, "\(bn.name).scale", count: c), beta = try tensor(weights, "\(bn.name).shift", count: c)
            let mean = try tensor(weights, "\(bn.name).running_mean", count: c)
            let variance = try tensor(weights, "\(bn.name).running_var", count: c)
            let perChannel = w.count / c
            for k in 0..<c {
                let factor = gamma[k] / (variance[k] + BatchNormOp.epsilon).squareRoot()
                for j in 0..<perChannel { w[k * perChannel + j] *= factor }
                b[k] = beta[k] + (b[k] - mean[k]) * factor
            }
        }
        var src = source(layer).descriptor.raw, dst = destination.descriptor.raw
        var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
        var biasMD = try MemoryDescriptor(dims: [o.channels], tag: dnnl_a).raw
        let strides = dnnlDims([layer.stride, layer.stride])
        let padding = dnnlDims([layer.padding.height, layer.padding.width])
        var desc = dnnl_convolution_desc_t()
        try check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src,
                                                     &weightsAny, &biasMD, &dst, strides, padding, padding),
                  "dnnl_convolution_forward_desc_init (\(layer.name))")
        let p = try Primitive(&desc, context: context, attributes: postOps.attributes, name: layer.name)
        let weightMemory = try Memory(p.memoryDescriptor(dnnl_query_weights_md), context: context)
        try weightMemory.setPlain(w, dims: weightDims, tag: g == 1 ? dnnl_oihw : dnnl_goihw)
        let biasMemory = try Memory(MemoryDescriptor(biasMD), context: context)
        biasMemory.pointer.update(from: b, count: b.count)
        p.bind([(DNNL_ARG_SRC, source(layer)), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_BIAS, biasMemory),
                (DNNL_ARG_DST, destination)] + postOps.arguments)
        primitives.append(p)
    }

    private func lowerLinear(_ layer: Layer, destination: Memory, weights: NetworkWeights) throws {
        let i = layer.inputShape, o = layer.outputShape
        let weightDims = [o.channels, i.channels, i.height, i.width]
        var src = source(layer).descriptor.raw, dst = destination.descriptor.raw
        var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
        var biasMD = try MemoryDescriptor(dims: [o.channels], tag: dnnl_a).raw
        var desc = dnnl_inner_product_desc_t()
        try check(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &weightsAny, &biasMD, &dst),
                  "dnnl_inner_product_forward_desc_init (\(layer.name))")
        let p = try Primitive(&desc, context: context, name: layer.name)
        let weightMemory = try Memory(p.memoryDescriptor(dnnl_query_weights_md), context: context)
        try weightMemory.setPlain(try tensor(weights, "\(layer.name).weight", count: weightDims.reduce(1, *)),
                                  dims: weightDims, tag: dnnl_oihw)
        let biasMemory = try Memory(MemoryDescriptor(biasMD), context: context)
        biasMemory.pointer.update(from: try tensor(weights, "\(layer.name).bias", count: o.channels), count: o.channels)
        p.bind([(DNNL_ARG_SRC, source(layer)), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_BIAS, biasMemory),
                (DNNL_ARG_DST, destination)])
        primitives.append(p)
    }

    /// A batch norm with no convolution before it (not produced by the IR
    /// today, kept so any layer list runs).
    private func lowerBatchNorm(_ layer: Layer, destination: Memory, weights: NetworkWeights) throws {
        let c = layer.outputShape.channels
        let vector = try MemoryDescriptor(dims: [c], tag: dnnl_a)
        var data = source(layer).descriptor.raw
        var desc = dnnl_batch_normalization_desc_t()
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | dnnl_use_global_stats.rawValue
        try check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data, BatchNormOp.epsilon, flags),
                  "dnnl_batch_normalization_forward_desc_init (\(layer.name))")
        let p = try Primitive(&desc, context: context, name: layer.name)
        var args: [(Int32, Memory)] = [(DNNL_ARG_SRC, source(layer)), (DNNL_ARG_DST, destination)]
        for (arg, suffix) in [(DNNL_ARG_SCALE, "scale"), (DNNL_ARG_SHIFT, "shift"), (DNNL_ARG_MEAN, "running_mean"),
                              (DNNL_ARG_VARIANCE, "running_var")] {
            let m = try Memory(vector, context: context)
            m.pointer.update(from: try tensor(weights, "\(layer.name).\(suffix)", count: c), count: c)
            args.append((arg, m))
        }
        p.bind(args)
        primitives.append(p)
    }

    private func tensor(_ weights: NetworkWeights, _ name: String, count: Int) throws -> [Float] {
        guard let values = weights[name], values.count == count else {
            throw WeightsMismatchError(tensor: name, expected: count, found: weights[name]?.count)
        }
        return values
    }
}

/// The fused tail of a group as oneDNN post-ops: eltwise for an activation,
/// binary add for a residual (its other input bound as the post-op's source).
struct PostOps {
    private(set) var attributes: dnnl_primitive_attr_t?
    private(set) var arguments: [(Int32, Memory)] = []
    private let owner: AttributesOwner?

    init(_ layers: [Layer], group: [Int], outputs: [Int: Memory]) throws(DNNLError) {
        guard !layers.isEmpty else {
            owner = nil
            return
        }
        var ops: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
        defer { dnnl_post_ops_destroy(ops) }
        for (index, layer) in layers.enumerated() {
            if layer.kind == .add {
                let other = layer.inputs.first { !group.contains($0) }!
                var md = outputs[other]!.descriptor.raw
                try check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &md), "dnnl_post_ops_append_binary")
                arguments.append(((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * Int32(index + 1)) | DNNL_ARG_SRC_1, outputs[other]!))
            } else {
                let (algorithm, alpha, beta) = Self.eltwise(layer.kind)
                try check(dnnl_post_ops_append_eltwise(ops, 1, algorithm, alpha, beta), "dnnl_post_ops_append_eltwise")
            }
        }
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
        try check(dnnl_primitive_attr_set_post_ops(attr, ops), "dnnl_primitive_attr_set_post_ops")
        attributes = attr
        owner = AttributesOwner(attr!)
    }

    static func eltwise(_ kind: Layer.Kind) -> (dnnl_alg_kind_t, Float, Float) {
        switch kind {
        case .relu6: return (dnnl_eltwise_clip_v2, 0, 6)
        case .relu: return (dnnl_eltwise_relu, 0, 0)
        default: return (dnnl_eltwise_logistic, 0, 0)
        }
    }
}

/// Frees primitive attributes once nothing refers to them.
final class AttributesOwner {
    let attributes: dnnl_primitive_attr_t
    init(_ attributes: dnnl_primitive_attr_t) { self.attributes = attributes }
    deinit { dnnl_primitive_attr_destroy(attributes) }
}
