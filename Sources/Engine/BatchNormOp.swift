import CDNNL
import Model
import SearchSpace

/// Batch normalisation with learnt scale (γ) and shift (β). Training uses the
/// batch's statistics and updates running ones as PyTorch does (momentum 0.1,
/// unbiased variance); evaluation uses the running statistics.
final class BatchNormOp: TrainingOp {
    static let epsilon = BatchNormalization.epsilon
    static let momentum = BatchNormalization.momentum

    let parameters: [Parameter]
    let scale: Parameter
    let shift: Parameter
    /// Running statistics, plain, one per channel.
    let runningMean: Memory
    let runningVariance: Memory
    private let batchMean: Memory
    private let batchVariance: Memory
    private let trainingForward: Primitive
    private let inferenceForward: Primitive
    private let backwardPrimitive: Primitive
    private let sink: GradientSink
    private let channels: Int
    /// Elements per channel in one batch, for the unbiased variance.
    private let reductionSize: Int

    init(layer: Layer, batch: Int, source: Memory, destination: Memory, destinationGradient: Memory,
         sink: GradientSink, context: ComputeContext) throws(DNNLError) {
        channels = layer.outputShape.channels
        reductionSize = batch * layer.outputShape.height * layer.outputShape.width
        let vector = try MemoryDescriptor(dims: [channels], tag: dnnl_a)
        scale = try Parameter(name: TensorName(layer, .scale), role: .batchNormScale, in: layer, layout: vector, context: context)
        shift = try Parameter(name: TensorName(layer, .shift), role: .batchNormShift, in: layer, layout: vector, context: context)
        parameters = [scale, shift]
        scale.fill(1)
        runningMean = try Memory(vector, context: context)
        runningVariance = try Memory(vector, context: context)
        runningVariance.pointer.update(repeating: 1, count: channels)
        batchMean = try Memory(vector, context: context)
        batchVariance = try Memory(vector, context: context)
        self.sink = sink

        var data = source.descriptor.raw
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
        var trainDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_forward_desc_init(&trainDesc, dnnl_forward_training, &data, Self.epsilon, flags),
                  "dnnl_batch_normalization_forward_desc_init (\(layer.name))")
        trainingForward = try Primitive(&trainDesc, context: context, name: "\(layer.name) forward")
        var inferDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_forward_desc_init(&inferDesc, dnnl_forward_inference, &data, Self.epsilon,
                                                             flags | dnnl_use_global_stats.rawValue),
                  "dnnl_batch_normalization_forward_desc_init (\(layer.name), inference)")
        inferenceForward = try Primitive(&inferDesc, context: context, name: "\(layer.name) inference")
        var diff = destinationGradient.descriptor.raw
        var backDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_backward_desc_init(&backDesc, dnnl_backward, &diff, &data, Self.epsilon, flags),
                  "dnnl_batch_normalization_backward_desc_init (\(layer.name))")
        backwardPrimitive = try Primitive(&backDesc, context: context, hint: trainingForward, name: "\(layer.name) backward")

        trainingForward.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination), (DNNL_ARG_SCALE, scale.value),
                              (DNNL_ARG_SHIFT, shift.value), (DNNL_ARG_MEAN, batchMean), (DNNL_ARG_VARIANCE, batchVariance)])
        inferenceForward.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination), (DNNL_ARG_SCALE, scale.value),
                               (DNNL_ARG_SHIFT, shift.value), (DNNL_ARG_MEAN, runningMean), (DNNL_ARG_VARIANCE, runningVariance)])
        backwardPrimitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_MEAN, batchMean), (DNNL_ARG_VARIANCE, batchVariance),
                                (DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_SCALE, scale.value),
                                (DNNL_ARG_SHIFT, shift.value),
                                (DNNL_ARG_DIFF_SRC, sink.target), (DNNL_ARG_DIFF_SCALE, scale.gradient),
                                (DNNL_ARG_DIFF_SHIFT, shift.gradient)])
    }

    func forward(training: Bool) throws(DNNLError) {
        guard training else { return try inferenceForward.execute() }
        try trainingForward.execute()
        let m = Self.momentum
        let unbias = Float(reductionSize) / Float(max(1, reductionSize - 1))
        let mean = batchMean.pointer, variance = batchVariance.pointer
        let runMean = runningMean.pointer, runVariance = runningVariance.pointer
        for c in 0..<channels {
            runMean[c] = (1 - m) * runMean[c] + m * mean[c]
            runVariance[c] = (1 - m) * runVariance[c] + m * variance[c] * unbias
        }
    }

    func backward() throws(DNNLError) {
        try backwardPrimitive.execute()
        try sink.finish()
    }
}
