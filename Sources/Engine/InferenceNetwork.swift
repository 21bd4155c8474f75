import CDNNL
public import Model
public import SearchSpace

/// The IR in inference mode on oneDNN: the CPU latency engine.
///
/// It lowers an `InferencePlan`: batch norm already folded into convolutions,
/// activations and residual adds run as post-ops of the step they follow
/// (eltwise, then binary add); a quantised output is rounded after its
/// step, a binarised input (`xnor`) made in a buffer of its own before it.
/// Every primitive is created once; `run()` only executes. Activations are
/// channels-last by default: at batch 1 oneDNN's optimised kernels cover every channel count in that layout, while the
/// blocked one falls back to reference kernels for full convolutions whose
/// channels are not multiples of 16.
public final class InferenceNetwork {
    public let network: Network
    public let batch: Int
    /// IR layer indices each executed step covers, in order (fused groups).
    public let steps: [[Int]]
    let context: ComputeContext
    private let input: Memory
    private var outputs: [Int: Memory] = [:]
    private var primitives: [Primitive] = []
    /// Per primitive, the output it fake-quantises after running (a model
    /// compressed with quantised activations), rounded as training rounds
    /// (`ActivationQuantisation.quantise`), not by oneDNN's own post-ops.
    private var quantised: [(output: Memory, quantisation: ActivationQuantisation)?] = []
    /// Per primitive, the input it reads binarised (a model compressed by
    /// `xnor`): written into a buffer of the convolution's own before it
    /// runs, so a residual add reading the same tensor sees it unchanged.
    private var binarised: [(source: Memory, binary: Memory, binarisation: BinaryInput)?] = []
    private let layout: ActivationLayout

    public convenience init(network: Network, weights: NetworkWeights, batch: Int = 1, context: ComputeContext,
                            layout: ActivationLayout = .nhwc) throws {
        try self.init(plan: InferencePlan(network: network, weights: weights), batch: batch, context: context, layout: layout)
    }

    public init(plan: InferencePlan, batch: Int = 1, context: ComputeContext, layout: ActivationLayout = .nhwc) throws {
        network = plan.network
        self.batch = batch
        self.context = context
        self.layout = layout
        steps = plan.steps.map(\.layers)
        context.activate()
        let image = network.input
        input = try Memory(MemoryDescriptor(dims: [batch, image.channels, image.height, image.width],
                                            tag: layout == .nhwc ? dnnl_acdb : dnnl_abcd), context: context)
        outputs[-1] = input  // a unit's residual add may read the network input
        for step in plan.steps { try lower(step) }
    }

    /// Gives `body` the input batch in the engine's layout (NHWC by default;
    /// for a one-channel image the same as NCHW) to fill before `run()`.
    /// The buffer is valid inside `body` only.
    package func withInput<Result>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: input.pointer, count: batch * network.input.elements))
    }

    /// Sets the input batch from values in the engine's layout.
    public func setInput(_ values: [Float]) {
        withInput { buffer in
            precondition(values.count == buffer.count, "an input of \(values.count) values for a buffer of \(buffer.count)")
            _ = buffer.update(fromContentsOf: values)
        }
    }

    public func run() throws(DNNLError) {
        context.activate()
        for (index, primitive) in primitives.enumerated() {
            if let (source, binary, binarisation) = binarised[index] {
                try context.wait()
                binarisation.binarise(UnsafeBufferPointer(source.buffer), into: binary.buffer)
            }
            try primitive.execute()
            if let (output, quantisation) = quantised[index] {
                try context.wait()
                quantisation.quantise(output.buffer)
            }
        }
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

    private func source(_ step: InferencePlan.Step, _ slot: Int = 0) -> Memory {
        step.inputs.isEmpty ? input : outputs[step.inputs[slot]]!
    }

    private func lower(_ step: InferencePlan.Step) throws {
        let o = step.outputShape
        let last = network.layers[step.output]
        let destination = try Memory(last.kind == .linear
            ? MemoryDescriptor(dims: [batch, o.channels], tag: dnnl_ab)
            : MemoryDescriptor(dims: [batch, o.channels, o.height, o.width], tag: layout.tag), context: context)
        let postOps = try PostOps(step.postOps, outputs: outputs)
        let name = network.layers[step.layers[0]].name
        var arguments: [(Int32, Memory)] = [(DNNL_ARG_DST, destination)] + postOps.arguments
        var binaryInput: (source: Memory, binary: Memory, binarisation: BinaryInput)?
        let primitive: Primitive
        switch step.operation {
        case let .convolution(layer, weights, bias):
            let weightDims = TensorName.plainShape(of: .weight, in: layer)
            let input = source(step)
            var convolutionInput = input
            if let binarisation = step.inputBinarisation {
                convolutionInput = try Memory(input.descriptor, context: context)
                binaryInput = (input, convolutionInput, binarisation)
            }
            var src = input.descriptor.raw, dst = destination.descriptor.raw
            var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
            var biasMD = try MemoryDescriptor(dims: [o.channels], tag: dnnl_a).raw
            let strides = dnnlDims([layer.stride, layer.stride])
            let padding = dnnlDims([layer.padding.height, layer.padding.width])
            var desc = dnnl_convolution_desc_t()
            try check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src,
                                                         &weightsAny, &biasMD, &dst, strides, padding, padding),
                      "dnnl_convolution_forward_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, attributes: postOps.attributes, name: name)
            let weightMemory = try Memory(primitive.memoryDescriptor(dnnl_query_weights_md), context: context)
            try weightMemory.setPlain(weights, dims: weightDims, tag: weightDims.count == 5 ? dnnl_goihw : dnnl_oihw)
            arguments += [(DNNL_ARG_SRC, convolutionInput), (DNNL_ARG_WEIGHTS, weightMemory),
                          (DNNL_ARG_BIAS, try vector(bias))]
        case let .linear(layer, weights, bias):
            let weightDims = TensorName.plainShape(of: .weight, in: layer)
            var src = source(step).descriptor.raw, dst = destination.descriptor.raw
            var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
            var biasMD = try MemoryDescriptor(dims: [o.channels], tag: dnnl_a).raw
            var desc = dnnl_inner_product_desc_t()
            try check(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &weightsAny, &biasMD, &dst),
                      "dnnl_inner_product_forward_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, name: name)
            let weightMemory = try Memory(primitive.memoryDescriptor(dnnl_query_weights_md), context: context)
            try weightMemory.setPlain(weights, dims: weightDims, tag: dnnl_oihw)
            arguments += [(DNNL_ARG_SRC, source(step)), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_BIAS, try vector(bias))]
        case .channelScale, .add:
            var a = source(step).descriptor.raw, b = source(step, 1).descriptor.raw, dst = destination.descriptor.raw
            var desc = dnnl_binary_desc_t()
            let algorithm = if case .add = step.operation { dnnl_binary_add } else { dnnl_binary_mul }
            try check(dnnl_binary_desc_init(&desc, algorithm, &a, &b, &dst), "dnnl_binary_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, attributes: postOps.attributes, name: name)
            arguments += [(DNNL_ARG_SRC_0, source(step)), (DNNL_ARG_SRC_1, source(step, 1))]
        case .globalAveragePool:
            let s = network.layers[step.layers[0]].inputShape
            let kernel = dnnlDims([s.height, s.width]), zero = dnnlDims([0, 0])
            var src = source(step).descriptor.raw, dst = destination.descriptor.raw
            var desc = dnnl_pooling_desc_t()
            try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_avg_exclude_padding, &src, &dst,
                                                     kernel, kernel, zero, zero), "dnnl_pooling_forward_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, name: name)
            arguments.append((DNNL_ARG_SRC, source(step)))
        case let .activation(activation):
            let (algorithm, alpha, beta) = activation.eltwise
            var data = source(step).descriptor.raw
            var desc = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, algorithm, &data, alpha, beta),
                      "dnnl_eltwise_forward_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, name: name)
            arguments.append((DNNL_ARG_SRC, source(step)))
        case let .affine(scale, shift):
            // y = x·scale + shift as a batch norm with mean 0 and variance 1 − ε.
            let c = o.channels
            var data = source(step).descriptor.raw
            var desc = dnnl_batch_normalization_desc_t()
            let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | dnnl_use_global_stats.rawValue
            try check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data, BatchNormalization.epsilon, flags),
                      "dnnl_batch_normalization_forward_desc_init (\(name))")
            primitive = try Primitive(&desc, context: context, name: name)
            arguments += [(DNNL_ARG_SRC, source(step)), (DNNL_ARG_SCALE, try vector(scale)), (DNNL_ARG_SHIFT, try vector(shift)),
                          (DNNL_ARG_MEAN, try vector([Float](repeating: 0, count: c))),
                          (DNNL_ARG_VARIANCE, try vector([Float](repeating: 1 - BatchNormalization.epsilon, count: c)))]
        }
        primitive.bind(arguments)
        primitives.append(primitive)
        binarised.append(binaryInput)
        quantised.append(step.outputQuantisation.map { (destination, $0) })
        outputs[step.output] = destination
    }

    private func vector(_ values: [Float]) throws(DNNLError) -> Memory {
        let memory = try Memory(MemoryDescriptor(dims: [values.count], tag: dnnl_a), context: context)
        memory.pointer.update(from: values, count: values.count)
        return memory
    }
}

/// The fused tail of a group as oneDNN post-ops: eltwise for an activation,
/// binary add for a residual (its other input bound as the post-op's source).
struct PostOps {
    private(set) var attributes: dnnl_primitive_attr_t?
    private(set) var arguments: [(Int32, Memory)] = []
    private let owner: AttributesOwner?

    init(_ postOps: [InferencePlan.PostOp], outputs: [Int: Memory]) throws(DNNLError) {
        guard !postOps.isEmpty else {
            owner = nil
            return
        }
        var ops: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&ops), "dnnl_post_ops_create")
        defer { dnnl_post_ops_destroy(ops) }
        for (index, postOp) in postOps.enumerated() {
            switch postOp {
            case let .add(other):
                var md = outputs[other]!.descriptor.raw
                try check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &md), "dnnl_post_ops_append_binary")
                arguments.append(((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * Int32(index + 1)) | DNNL_ARG_SRC_1, outputs[other]!))
            case let .activation(activation):
                let (algorithm, alpha, beta) = activation.eltwise
                try check(dnnl_post_ops_append_eltwise(ops, 1, algorithm, alpha, beta), "dnnl_post_ops_append_eltwise")
            }
        }
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create")
        try check(dnnl_primitive_attr_set_post_ops(attr, ops), "dnnl_primitive_attr_set_post_ops")
        attributes = attr
        owner = AttributesOwner(attr!)
    }
}

extension Activation {
    /// The activation as oneDNN's eltwise algorithm with its α and β, for
    /// training primitives and inference post-ops alike.
    var eltwise: (algorithm: dnnl_alg_kind_t, alpha: Float, beta: Float) {
        switch self {
        case .relu6: return (dnnl_eltwise_clip_v2, 0, 6)
        case .relu: return (dnnl_eltwise_relu, 0, 0)
        case .sigmoid: return (dnnl_eltwise_logistic, 0, 0)
        }
    }
}

/// Frees primitive attributes once nothing refers to them.
final class AttributesOwner {
    let attributes: dnnl_primitive_attr_t
    init(_ attributes: dnnl_primitive_attr_t) { self.attributes = attributes }
    deinit { dnnl_primitive_attr_destroy(attributes) }
}
