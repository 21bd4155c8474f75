import CDNNL
import Core
import GSLNumerics
import Model
import SearchSpace

/// The classifier's fully connected layer: N×C×1×1 → N×classes, with bias.
final class LinearOp: TrainingOp {
    let parameters: [Parameter]
    private let forwardPrimitive: Primitive
    private let backwardData: Primitive?
    private let backwardWeights: Primitive
    private let sink: GradientSink?

    init(layer: Layer, batch: Int, source: Memory, destination: Memory, destinationGradient: Memory,
         sink: GradientSink?, context: ComputeContext, initialisation: RandomStream,
         scheme: WeightInitialisation) throws(DNNLError) {
        let inputs = layer.inputShape.channels, outputs = layer.outputShape.channels
        let weightDims = TensorName.plainShape(of: .weight, in: layer)
        var src = source.descriptor.raw, dst = destination.descriptor.raw
        var weightsAny = try MemoryDescriptor(dims: weightDims, tag: dnnl_format_tag_any).raw
        var biasMD = try MemoryDescriptor(dims: [outputs], tag: dnnl_a).raw
        var desc = dnnl_inner_product_desc_t()
        try check(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_training, &src, &weightsAny, &biasMD, &dst),
                  "dnnl_inner_product_forward_desc_init (\(layer.name))")
        forwardPrimitive = try Primitive(&desc, context: context, name: "\(layer.name) forward")
        let weightLayout = forwardPrimitive.memoryDescriptor(dnnl_query_weights_md)
        let weight = try Parameter(name: TensorName(layer, .weight), role: .linearWeight, in: layer, layout: weightLayout,
                                   context: context)
        let bias = try Parameter(name: TensorName(layer, .bias), role: .bias, in: layer, layout: MemoryDescriptor(biasMD),
                                 context: context)
        parameters = [weight, bias]
        try scheme.initialise(weight: weight, bias: bias, fanIn: inputs * layer.inputShape.height * layer.inputShape.width,
                              from: initialisation)

        var weightsChosen = weightLayout.raw
        self.sink = sink
        if let sink {
            var diffSrc = sink.target.descriptor.raw
            var d = dnnl_inner_product_desc_t()
            try check(dnnl_inner_product_backward_data_desc_init(&d, &diffSrc, &weightsChosen, &dst),
                      "dnnl_inner_product_backward_data_desc_init (\(layer.name))")
            let p = try Primitive(&d, context: context, hint: forwardPrimitive, name: "\(layer.name) backward data")
            p.bind([(DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_WEIGHTS, weight.value), (DNNL_ARG_DIFF_SRC, sink.target)])
            backwardData = p
        } else {
            backwardData = nil
        }
        var w = dnnl_inner_product_desc_t()
        try check(dnnl_inner_product_backward_weights_desc_init(&w, &src, &weightsChosen, &biasMD, &dst),
                  "dnnl_inner_product_backward_weights_desc_init (\(layer.name))")
        backwardWeights = try Primitive(&w, context: context, hint: forwardPrimitive, name: "\(layer.name) backward weights")
        forwardPrimitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_WEIGHTS, weight.value), (DNNL_ARG_BIAS, bias.value),
                               (DNNL_ARG_DST, destination)])
        backwardWeights.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DIFF_DST, destinationGradient),
                              (DNNL_ARG_DIFF_WEIGHTS, weight.gradient), (DNNL_ARG_DIFF_BIAS, bias.gradient)])
    }

    func forward(training: Bool) throws(DNNLError) { try forwardPrimitive.execute() }

    func backward() throws(DNNLError) {
        try backwardWeights.execute()
        if let backwardData, let sink {
            try backwardData.execute()
            try sink.finish()
        }
    }
}
