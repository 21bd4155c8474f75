import CDNNL
import Model
import SearchSpace

/// ReLU6, ReLU and sigmoid: oneDNN eltwise forward and backward (from the input).
final class EltwiseOp: TrainingOp {
    let parameters: [Parameter] = []
    private let forwardPrimitive: Primitive
    private let backwardPrimitive: Primitive?
    private let sink: GradientSink?

    init(layer: Layer, source: Memory, destination: Memory, destinationGradient: Memory, sink: GradientSink?,
         context: ComputeContext) throws(DNNLError) {
        let (algorithm, alpha, beta) = Activation(layer.kind)!.eltwise
        var data = source.descriptor.raw
        var forwardDesc = dnnl_eltwise_desc_t()
        try check(dnnl_eltwise_forward_desc_init(&forwardDesc, dnnl_forward_training, algorithm, &data, alpha, beta),
                  "dnnl_eltwise_forward_desc_init (\(layer.name))")
        forwardPrimitive = try Primitive(&forwardDesc, context: context, name: "\(layer.name) forward")
        forwardPrimitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination)])
        self.sink = sink
        if let sink {
            var diff = destinationGradient.descriptor.raw
            var backwardDesc = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_backward_desc_init(&backwardDesc, algorithm, &diff, &data, alpha, beta),
                      "dnnl_eltwise_backward_desc_init (\(layer.name))")
            let primitive = try Primitive(&backwardDesc, context: context, hint: forwardPrimitive, name: "\(layer.name) backward")
            primitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_DIFF_SRC, sink.target)])
            backwardPrimitive = primitive
        } else {
            backwardPrimitive = nil
        }
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        try backwardPrimitive?.execute()
        try sink?.finish()
    }
}

/// How the residual add hands its gradient to one input.
enum AddGradient {
    /// The input's gradient buffer is the add's own: nothing to do.
    case alias
    /// Nobody needs this input's gradient (the network input).
    case none
    /// Copy (first consumer) or add (a later one) the add's gradient into the input's.
    case primitive(Primitive)
}

/// Residual add: the gradient passes unchanged to both inputs.
final class AddOp: TrainingOp {
    let parameters: [Parameter] = []
    private let forwardPrimitive: Primitive
    private let gradients: [AddGradient]

    init(layer: Layer, sources: [Memory], destination: Memory, gradients: [AddGradient],
         context: ComputeContext) throws(DNNLError) {
        var a = sources[0].descriptor.raw, b = sources[1].descriptor.raw, dst = destination.descriptor.raw
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &a, &b, &dst), "dnnl_binary_desc_init (\(layer.name))")
        forwardPrimitive = try Primitive(&desc, context: context, name: "\(layer.name) forward")
        forwardPrimitive.bind([(DNNL_ARG_SRC_0, sources[0]), (DNNL_ARG_SRC_1, sources[1]), (DNNL_ARG_DST, destination)])
        self.gradients = gradients
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        for case let .primitive(p) in gradients { try p.execute() }
    }
}

/// Squeeze-and-excite gating: y = x · g, g broadcast over height and width.
/// Backward: dx = dy · g; dg = Σ_hw dy · x.
final class ChannelScaleOp: TrainingOp {
    let parameters: [Parameter] = []
    private let forwardPrimitive: Primitive
    private let inputBackward: Primitive?
    private let gateProduct: Primitive?
    private let gateSum: SpatialSum?
    private let sinks: [GradientSink?]

    init(layer: Layer, input: Memory, gate: Memory, destination: Memory, destinationGradient: Memory,
         sinks: [GradientSink?], product: Memory, batch: Int, layout: ActivationLayout, context: ComputeContext) throws(DNNLError) {
        var x = input.descriptor.raw, g = gate.descriptor.raw, dst = destination.descriptor.raw
        var desc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_mul, &x, &g, &dst), "dnnl_binary_desc_init (\(layer.name))")
        forwardPrimitive = try Primitive(&desc, context: context, name: "\(layer.name) forward")
        forwardPrimitive.bind([(DNNL_ARG_SRC_0, input), (DNNL_ARG_SRC_1, gate), (DNNL_ARG_DST, destination)])
        self.sinks = sinks

        var dy = destinationGradient.descriptor.raw
        if let sink = sinks[0] {
            var dx = sink.target.descriptor.raw
            var d = dnnl_binary_desc_t()
            try check(dnnl_binary_desc_init(&d, dnnl_binary_mul, &dy, &g, &dx), "dnnl_binary_desc_init (\(layer.name) dx)")
            let p = try Primitive(&d, context: context, name: "\(layer.name) backward input")
            p.bind([(DNNL_ARG_SRC_0, destinationGradient), (DNNL_ARG_SRC_1, gate), (DNNL_ARG_DST, sink.target)])
            inputBackward = p
        } else {
            inputBackward = nil
        }
        if let sink = sinks[1] {
            var prod = product.descriptor.raw
            var d = dnnl_binary_desc_t()
            try check(dnnl_binary_desc_init(&d, dnnl_binary_mul, &dy, &x, &prod), "dnnl_binary_desc_init (\(layer.name) dy·x)")
            let p = try Primitive(&d, context: context, name: "\(layer.name) backward product")
            p.bind([(DNNL_ARG_SRC_0, destinationGradient), (DNNL_ARG_SRC_1, input), (DNNL_ARG_DST, product)])
            gateProduct = p
            // oneDNN 2.6 has only a reference kernel for this reduction in our layouts: a quarter
            // to a third of a training step on SE networks (scripts/profile-training.py).
            gateSum = SpatialSum(source: product, destination: sink.target, shape: layer.inputShape, batch: batch,
                                 layout: layout)
        } else {
            gateProduct = nil
            gateSum = nil
        }
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        if let inputBackward {
            try inputBackward.execute()
            try sinks[0]?.finish()
        }
        if let gateProduct, let gateSum {
            try gateProduct.execute()
            // The product must be in memory before the sum reads it.
            try gateProduct.context.wait()
            gateSum.run()
            try sinks[1]?.finish()
        }
    }
}

/// Global average pooling: N×C×H×W → N×C×1×1.
final class GlobalAveragePoolOp: TrainingOp {
    let parameters: [Parameter] = []
    private let forwardPrimitive: Primitive
    private let backwardPrimitive: Primitive?
    private let sink: GradientSink?

    init(layer: Layer, source: Memory, destination: Memory, destinationGradient: Memory, sink: GradientSink?,
         context: ComputeContext) throws(DNNLError) {
        let kernel = dnnlDims([layer.inputShape.height, layer.inputShape.width])
        let zero = dnnlDims([0, 0])
        var src = source.descriptor.raw, dst = destination.descriptor.raw
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_training, dnnl_pooling_avg_exclude_padding, &src, &dst,
                                                 kernel, kernel, zero, zero),
                  "dnnl_pooling_forward_desc_init (\(layer.name))")
        forwardPrimitive = try Primitive(&desc, context: context, name: "\(layer.name) forward")
        forwardPrimitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination)])
        self.sink = sink
        if let sink {
            var diffSrc = sink.target.descriptor.raw, diffDst = destinationGradient.descriptor.raw
            var back = dnnl_pooling_desc_t()
            try check(dnnl_pooling_backward_desc_init(&back, dnnl_pooling_avg_exclude_padding, &diffSrc, &diffDst,
                                                      kernel, kernel, zero, zero),
                      "dnnl_pooling_backward_desc_init (\(layer.name))")
            let p = try Primitive(&back, context: context, hint: forwardPrimitive, name: "\(layer.name) backward")
            p.bind([(DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_DIFF_SRC, sink.target)])
            backwardPrimitive = p
        } else {
            backwardPrimitive = nil
        }
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        try backwardPrimitive?.execute()
        try sink?.finish()
    }
}
