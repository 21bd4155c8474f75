import CDNNL
import Core
import GSLNumerics
import Model
import SearchSpace

/// Convolution (full, grouped/depthwise, k×k or 1×k/k×1, any stride, padding
/// (k−1)/2): forward, backward data, backward weights. Weights live in the
/// layout oneDNN chose for the forward pass; backward passes use the same.
final class ConvolutionOp: TrainingOp {
    let parameters: [Parameter]
    private let weight: Parameter
    private let bias: Parameter?
    private let forwardPrimitive: Primitive
    private let backwardData: Primitive?
    private let backwardWeights: Primitive
    private let sink: GradientSink?
    /// Set when the convolution reads its input binarised (`xnor`): it clips
    /// the gradient the convolution hands back for that input.
    var inputBinariser: InputBinariser?
    private var weightReorder: Primitive?
    private var gradientReorder: Primitive?

    init(layer: Layer, batch: Int, source: Memory, destination: Memory, destinationGradient: Memory,
         sink: GradientSink?, context: ComputeContext, initialisation: RandomStream,
         scheme: WeightInitialisation) throws(DNNLError) {
        let i = layer.inputShape, o = layer.outputShape, g = layer.groups
        let kh = layer.kernel.height, kw = layer.kernel.width
        let weightDims = TensorName.plainShape(of: .weight, in: layer)
        var src = source.descriptor.raw, dst = destination.descriptor.raw
        var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
        let biasMD = try MemoryDescriptor(dims: [o.channels], tag: dnnl_a).raw
        let strides = dnnlDims([layer.stride, layer.stride])
        let padding = dnnlDims([layer.padding.height, layer.padding.width])

        var forwardDesc = dnnl_convolution_desc_t()
        try withOptionalPointer(layer.bias ? biasMD : nil) { biasPointer throws(DNNLError) in
            try check(dnnl_convolution_forward_desc_init(&forwardDesc, dnnl_forward_training, dnnl_convolution_direct,
                                                         &src, &weightsAny, biasPointer, &dst, strides, padding, padding),
                      "dnnl_convolution_forward_desc_init (\(layer.name))")
        }
        forwardPrimitive = try Primitive(&forwardDesc, context: context, name: "\(layer.name) forward")
        let weightLayout = forwardPrimitive.memoryDescriptor(dnnl_query_weights_md)

        weight = try Parameter(name: TensorName(layer, .weight), role: .convolutionWeight, in: layer, layout: weightLayout,
                               context: context)
        bias = layer.bias ? try Parameter(name: TensorName(layer, .bias), role: .bias, in: layer,
                                          layout: MemoryDescriptor(biasMD), context: context) : nil
        parameters = [weight] + (bias.map { [$0] } ?? [])

        try scheme.initialise(weight: weight, bias: bias, fanIn: i.channels / g * kh * kw, from: initialisation)

        // Backward data may want the weights in another layout than forward
        // (1×1 kernels transpose their blocking); then it reads a copy,
        // reordered once per step, rather than fall back to a reference kernel.
        var dataWeights: Memory?
        if let sink {
            var diffSrc = sink.target.descriptor.raw
            var dataDesc = dnnl_convolution_desc_t()
            try check(dnnl_convolution_backward_data_desc_init(&dataDesc, dnnl_convolution_direct, &diffSrc, &weightsAny,
                                                               &dst, strides, padding, padding),
                      "dnnl_convolution_backward_data_desc_init (\(layer.name))")
            let primitive = try Primitive(&dataDesc, context: context, hint: forwardPrimitive, name: "\(layer.name) backward data")
            let wanted = primitive.memoryDescriptor(dnnl_query_weights_md)
            if !(wanted == weightLayout) {
                let copy = try Memory(wanted, context: context)
                let reorder = try Primitive(reorderFrom: weightLayout, to: wanted, context: context)
                reorder.bind([(DNNL_ARG_FROM, weight.value), (DNNL_ARG_TO, copy)])
                weightReorder = reorder
                dataWeights = copy
            }
            backwardData = primitive
        } else {
            backwardData = nil
        }
        // Likewise the weight gradient may come in another layout; the optimiser
        // updates value and gradient element by element, so it is reordered
        // into the value's layout.
        var weightsDesc = dnnl_convolution_desc_t()
        try withOptionalPointer(layer.bias ? biasMD : nil) { biasPointer throws(DNNLError) in
            try check(dnnl_convolution_backward_weights_desc_init(&weightsDesc, dnnl_convolution_direct, &src, &weightsAny,
                                                                  biasPointer, &dst, strides, padding, padding),
                      "dnnl_convolution_backward_weights_desc_init (\(layer.name))")
        }
        backwardWeights = try Primitive(&weightsDesc, context: context, hint: forwardPrimitive, name: "\(layer.name) backward weights")
        let gradientLayout = backwardWeights.memoryDescriptor(dnnl_query_diff_weights_md)
        var gradientTarget = weight.gradient
        if !(gradientLayout == weightLayout) {
            gradientTarget = try Memory(gradientLayout, context: context)
            let reorder = try Primitive(reorderFrom: gradientLayout, to: weightLayout, context: context)
            reorder.bind([(DNNL_ARG_FROM, gradientTarget), (DNNL_ARG_TO, weight.gradient)])
            gradientReorder = reorder
        }
        self.sink = sink

        var forwardArgs: [(Int32, Memory)] = [(DNNL_ARG_SRC, source), (DNNL_ARG_WEIGHTS, weight.value), (DNNL_ARG_DST, destination)]
        var weightArgs: [(Int32, Memory)] = [(DNNL_ARG_SRC, source), (DNNL_ARG_DIFF_DST, destinationGradient),
                                             (DNNL_ARG_DIFF_WEIGHTS, gradientTarget)]
        if let bias {
            forwardArgs.append((DNNL_ARG_BIAS, bias.value))
            weightArgs.append((DNNL_ARG_DIFF_BIAS, bias.gradient))
        }
        forwardPrimitive.bind(forwardArgs)
        backwardWeights.bind(weightArgs)
        if let sink {
            backwardData?.bind([(DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_WEIGHTS, dataWeights ?? weight.value),
                                (DNNL_ARG_DIFF_SRC, sink.target)])
        }
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        try backwardWeights.execute()
        try gradientReorder?.execute()
        if let backwardData, let sink {
            try weightReorder?.execute()
            try backwardData.execute()
            // Before it is added to the other readers' gradients, which a binary input's clipping must not touch.
            inputBinariser?.clipGradient(sink.target)
            try sink.finish()
        }
    }
}

/// Calls `body` with a pointer to `value`, or nil when there is none (oneDNN's optional descriptors).
func withOptionalPointer<T>(_ value: T?, _ body: (UnsafeMutablePointer<T>?) throws(DNNLError) -> Void) throws(DNNLError) {
    guard var value else { return try body(nil) }
    try withUnsafeMutablePointer(to: &value) { (p) throws(DNNLError) in try body(p) }
}
