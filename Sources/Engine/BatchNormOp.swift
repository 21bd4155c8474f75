import CDNNL
import Model
import SearchSpace

/// Batch normalisation with learnt scale (γ) and shift (β). Training uses the
/// batch's statistics and updates running ones as PyTorch does (momentum 0.1,
/// unbiased variance); evaluation uses the running statistics.
///
/// Frozen (`freeze()`), training normalises with the running statistics,
/// leaves them as they are and gives γ no gradient, so γ/√(σ²+ε), what
/// folding multiplies the convolution before by, stays what it was; β
/// still trains (it folds into the bias).
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
    private let name: String
    private let source: Memory
    private let destination: Memory
    private let destinationGradient: Memory
    private unowned let context: ComputeContext
    /// Built by `freeze()`: most networks never need them.
    private var frozen: (forward: Primitive, backward: Primitive)?

    init(layer: Layer, batch: Int, source: Memory, destination: Memory, destinationGradient: Memory,
         sink: GradientSink, context: ComputeContext) throws(DNNLError) {
        channels = layer.outputShape.channels
        reductionSize = batch * layer.outputShape.height * layer.outputShape.width
        name = layer.name
        self.source = source
        self.destination = destination
        self.destinationGradient = destinationGradient
        self.context = context
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
        inferenceForward.bind(runningStatisticsForward)
        backwardPrimitive.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_MEAN, batchMean), (DNNL_ARG_VARIANCE, batchVariance),
                                (DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_SCALE, scale.value),
                                (DNNL_ARG_SHIFT, shift.value),
                                (DNNL_ARG_DIFF_SRC, sink.target), (DNNL_ARG_DIFF_SCALE, scale.gradient),
                                (DNNL_ARG_DIFF_SHIFT, shift.gradient)])
    }

    /// The arguments of a forward pass normalising with the running statistics.
    private var runningStatisticsForward: [(Int32, Memory)] {
        [(DNNL_ARG_SRC, source), (DNNL_ARG_DST, destination), (DNNL_ARG_SCALE, scale.value),
         (DNNL_ARG_SHIFT, shift.value), (DNNL_ARG_MEAN, runningMean), (DNNL_ARG_VARIANCE, runningVariance)]
    }

    /// From now on, train with the running statistics and γ fixed.
    func freeze() throws(DNNLError) {
        guard frozen == nil else { return }
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | dnnl_use_global_stats.rawValue
        var data = source.descriptor.raw
        var forwardDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_forward_desc_init(&forwardDesc, dnnl_forward_training, &data, Self.epsilon, flags),
                  "dnnl_batch_normalization_forward_desc_init (\(name), frozen)")
        // The training-kind forward is the backward's hint; it computes what the inference one does.
        let forward = try Primitive(&forwardDesc, context: context, name: "\(name) frozen forward")
        var diff = destinationGradient.descriptor.raw
        var backDesc = dnnl_batch_normalization_desc_t()
        try check(dnnl_batch_normalization_backward_desc_init(&backDesc, dnnl_backward, &diff, &data, Self.epsilon, flags),
                  "dnnl_batch_normalization_backward_desc_init (\(name), frozen)")
        let backward = try Primitive(&backDesc, context: context, hint: forward, name: "\(name) frozen backward")
        forward.bind(runningStatisticsForward)
        backward.bind([(DNNL_ARG_SRC, source), (DNNL_ARG_MEAN, runningMean), (DNNL_ARG_VARIANCE, runningVariance),
                       (DNNL_ARG_DIFF_DST, destinationGradient), (DNNL_ARG_SCALE, scale.value), (DNNL_ARG_SHIFT, shift.value),
                       (DNNL_ARG_DIFF_SRC, sink.target), (DNNL_ARG_DIFF_SCALE, scale.gradient),
                       (DNNL_ARG_DIFF_SHIFT, shift.gradient)])
        frozen = (forward, backward)
    }

    func forward(training: Bool) throws(DNNLError) {
        guard training else { return try inferenceForward.execute() }
        if let frozen { return try frozen.forward.execute() }
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
        if let frozen {
            try frozen.backward.execute()
            scale.gradient.buffer.update(repeating: 0)
        } else {
            try backwardPrimitive.execute()
        }
        try sink.finish()
    }
}
