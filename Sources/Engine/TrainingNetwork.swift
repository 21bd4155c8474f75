import CDNNL
public import Core
public import Model
public import GSLNumerics
public import SearchSpace

/// How activations are laid out between layers. One layout for the whole
/// network, so data is reordered only where it enters and leaves.
public enum ActivationLayout: String, CaseIterable, Sendable, Codable {
    /// oneDNN's blocked channels (nChw16c with AVX-512, nChw8c otherwise): its
    /// most mature training kernels.
    case blocked
    /// Channels last: no channel padding.
    case nhwc

    var tag: dnnl_format_tag_t {
        switch self {
        case .nhwc: return dnnl_acdb
        case .blocked: return ComputeContext.isa.hasPrefix("avx512") ? dnnl_aBcd16b : dnnl_aBcd8b
        }
    }

    /// Channels per block in the blocked layout.
    var channelBlock: Int { ComputeContext.isa.hasPrefix("avx512") ? 16 : 8 }
}

/// An IR network instantiated for training at one batch size: every
/// primitive created once, every buffer allocated once, executed per step.
public final class TrainingNetwork {
    public let layers: [Layer]
    public let batch: Int
    public let inputShape: TensorShape
    public let layout: ActivationLayout
    public let parameters: [Parameter]
    let context: ComputeContext
    private let input: Memory
    private let inputGradient: Memory?
    private let activations: [Memory]
    private let gradients: [Memory]
    private let ops: [any TrainingOp]
    private let batchNorms: [(name: String, op: BatchNormOp)]

    /// - Parameters:
    ///   - initialisation: the stream weights are drawn from, by `scheme`.
    ///   - inputGradient: also compute the gradient of the input (for tests).
    public init(layers: [Layer], input inputShape: TensorShape, batch: Int, context: ComputeContext,
                layout: ActivationLayout = .blocked, initialisation: RandomStream,
                scheme: WeightInitialisation = .recommended,
                inputGradient wantsInputGradient: Bool = false) throws(DNNLError) {
        self.layers = layers
        self.batch = batch
        self.inputShape = inputShape
        self.layout = layout
        self.context = context
        context.activate()
        let referencesBefore = context.referenceKernels.count
        let inputDims = [batch, inputShape.channels, inputShape.height, inputShape.width]
        // Channels-last networks read a one-channel image as channels-last (the
        // same bytes as NCHW), so the stem has a fast kernel; `withInput` still hands out NCHW.
        let inputMD = try MemoryDescriptor(dims: inputDims, tag: layout == .nhwc && inputShape.channels == 1 ? dnnl_acdb : dnnl_abcd)
        input = try Memory(inputMD, context: context)
        inputGradient = wantsInputGradient ? try Memory(inputMD, context: context) : nil

        // Activations: one buffer per layer output, in the network's layout.
        var descriptors: [MemoryDescriptor] = []
        for layer in layers {
            let o = layer.outputShape
            switch layer.kind {
            case .linear:
                descriptors.append(try MemoryDescriptor(dims: [batch, o.channels], tag: dnnl_ab))
            case .batchNorm, .relu6, .relu, .sigmoid:
                descriptors.append(layer.inputs.first.map { descriptors[$0] } ?? inputMD)
            default:
                descriptors.append(try MemoryDescriptor(dims: nchw(batch, (o.channels, o.height, o.width)), tag: layout.tag))
            }
        }
        var activations: [Memory] = []
        for md in descriptors { activations.append(try Memory(md, context: context)) }
        self.activations = activations

        let plan = try GradientPlan(layers: layers, descriptors: descriptors, context: context)
        self.gradients = plan.gradients
        var pool = ScratchPool(context: context)

        var ops: [any TrainingOp] = []
        var batchNorms: [(String, BatchNormOp)] = []
        let inputGradientMemory = inputGradient
        for layer in layers {
            let sources = layer.inputs.isEmpty ? [input] : layer.inputs.map { activations[$0] }
            let destination = activations[layer.index]
            let destinationGradient = plan.gradients[layer.index]
            let sinkFor = { (slot: Int) throws(DNNLError) -> GradientSink? in
                try plan.sink(for: layer, slot: slot, inputGradient: inputGradientMemory, pool: &pool)
            }
            switch layer.kind {
            case .conv:
                ops.append(try ConvolutionOp(layer: layer, batch: batch, source: sources[0], destination: destination,
                                             destinationGradient: destinationGradient, sink: try sinkFor(0),
                                             context: context, initialisation: initialisation, scheme: scheme))
            case .batchNorm:
                // BN's backward always yields the input gradient; with nobody to read it, it goes to scratch.
                var sink = try sinkFor(0)
                if sink == nil { sink = GradientSink(target: try pool.scratch(sources[0].descriptor, purpose: "discarded"), accumulate: nil) }
                let op = try BatchNormOp(layer: layer, batch: batch, source: sources[0], destination: destination,
                                         destinationGradient: destinationGradient, sink: sink!, context: context)
                ops.append(op)
                batchNorms.append((layer.name, op))
            case .relu6, .relu, .sigmoid:
                ops.append(try EltwiseOp(layer: layer, source: sources[0], destination: destination,
                                         destinationGradient: destinationGradient, sink: try sinkFor(0), context: context))
            case .add:
                let gradients = try (0..<2).map { (slot) throws(DNNLError) in
                    try plan.addGradient(for: layer, slot: slot, inputGradient: inputGradientMemory)
                }
                ops.append(try AddOp(layer: layer, sources: sources, destination: destination, gradients: gradients,
                                     context: context))
            case .channelScale:
                ops.append(try ChannelScaleOp(layer: layer, input: sources[0], gate: sources[1], destination: destination,
                                              destinationGradient: destinationGradient,
                                              sinks: [try sinkFor(0), try sinkFor(1)],
                                              product: try pool.scratch(sources[0].descriptor, purpose: "product"),
                                              batch: batch, layout: layout, context: context))
            case .globalAveragePool:
                ops.append(try GlobalAveragePoolOp(layer: layer, source: sources[0], destination: destination,
                                                   destinationGradient: destinationGradient, sink: try sinkFor(0),
                                                   context: context))
            case .linear:
                ops.append(try LinearOp(layer: layer, batch: batch, source: sources[0], destination: destination,
                                        destinationGradient: destinationGradient, sink: try sinkFor(0),
                                        context: context, initialisation: initialisation, scheme: scheme))
            }
        }
        self.ops = ops
        self.batchNorms = batchNorms
        self.parameters = ops.flatMap(\.parameters)
        referenceKernels = Array(context.referenceKernels[referencesBefore...])
    }

    /// Builds the network an architecture decodes to.
    public convenience init(network: Network, batch: Int, context: ComputeContext, layout: ActivationLayout = .blocked,
                            initialisation: RandomStream, scheme: WeightInitialisation = .recommended) throws(DNNLError) {
        try self.init(layers: network.layers, input: network.input, batch: batch, context: context, layout: layout,
                      initialisation: initialisation, scheme: scheme)
    }

    /// Reference kernels this network runs (empty when every primitive is optimised).
    public private(set) var referenceKernels: [String] = []

    /// Builds in the blocked layout, oneDNN's fastest for training here, unless
    /// some primitive would then fall back to a reference kernel (full
    /// convolutions whose channels are not multiples of the block, among
    /// others); then channels-last, which has optimised kernels for any count.
    /// The weights drawn are the same either way.
    public static func fastest(network: Network, batch: Int, context: ComputeContext,
                               initialisation: RandomStream, scheme: WeightInitialisation = .recommended) throws -> TrainingNetwork {
        let saved = initialisation.state()
        let blocked = try TrainingNetwork(network: network, batch: batch, context: context, layout: .blocked,
                                          initialisation: initialisation, scheme: scheme)
        if blocked.referenceKernels.isEmpty { return blocked }
        try initialisation.restore(saved)
        return try TrainingNetwork(network: network, batch: batch, context: context, layout: .nhwc,
                                   initialisation: initialisation, scheme: scheme)
    }

    // MARK: Steps

    /// Gives `body` the input batch, N×C×H×W contiguous (NCHW), to fill before
    /// `forward`. The buffer is valid inside `body` only.
    package func withInput<Result>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: input.pointer, count: batch * inputShape.elements))
    }

    /// Sets the input batch from plain NCHW values.
    public func setInput(_ values: [Float]) {
        withInput { buffer in
            precondition(values.count == buffer.count, "an input of \(values.count) values for a buffer of \(buffer.count)")
            _ = buffer.update(fromContentsOf: values)
        }
    }

    public func forward(training: Bool) throws(DNNLError) {
        context.activate()
        for (index, op) in ops.enumerated() {
            binarisers[index]?.enter(observe: training)
            try op.forward(training: training)
            binarisers[index]?.leave()
            quantisers[index]?.forward(training: training)
        }
        try context.wait()
    }

    /// Backward from the gradient written through `withLogits` (or set by
    /// `setOutputGradient`); fills every parameter's gradient.
    public func backward() throws(DNNLError) {
        context.activate()
        for (index, op) in ops.enumerated().reversed() {
            quantisers[index]?.backward()
            binarisers[index]?.enter(observe: false)
            try op.backward()
            binarisers[index]?.leave()
        }
        try context.wait()
    }

    /// Gives `body` the classifier's N×classes logits of the last forward pass
    /// and the buffer their loss gradient goes to (same layout), for the loss
    /// to read one and write the other before `backward`. Valid inside `body` only.
    package func withLogits<Result>(
        _ body: (_ logits: UnsafeBufferPointer<Float>, _ gradient: UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        let count = batch * layers[layers.count - 1].outputShape.elements
        return try body(UnsafeBufferPointer(start: activations[activations.count - 1].pointer, count: count),
                        UnsafeMutableBufferPointer(start: gradients[gradients.count - 1].pointer, count: count))
    }

    /// The logits of the last forward pass, N×classes (a copy).
    public var logits: [Float] { withLogits { logits, _ in Array(logits) } }

    /// The last layer's output as plain NCHW, whatever its layout.
    public func output() throws(DNNLError) -> [Float] {
        try activations[activations.count - 1].plain(dims: outputDims, tag: outputTag)
    }

    /// Sets the gradient of the last layer's output from plain NCHW values.
    public func setOutputGradient(_ values: [Float]) throws(DNNLError) {
        try gradients[gradients.count - 1].setPlain(values, dims: outputDims, tag: outputTag)
    }

    /// The input's gradient after `backward`, plain NCHW (only when built with `inputGradient: true`).
    public func inputGradients() throws(DNNLError) -> [Float]? {
        try inputGradient?.plain(dims: [batch, inputShape.channels, inputShape.height, inputShape.width], tag: dnnl_abcd)
    }

    /// The output of IR layer `index` after the last forward pass, plain NCHW
    /// (N×classes for the linear layer).
    public func output(ofLayer index: Int) throws(DNNLError) -> [Float] {
        let o = layers[index].outputShape
        if layers[index].kind == .linear { return try activations[index].plain(dims: [batch, o.channels], tag: dnnl_ab) }
        return try activations[index].plain(dims: [batch, o.channels, o.height, o.width], tag: dnnl_abcd)
    }

    /// The gradient of IR layer `index`'s output after `backward`, plain NCHW
    /// (for tests: what reached a tensor from all its readers).
    package func gradient(ofLayer index: Int) throws(DNNLError) -> [Float] {
        let o = layers[index].outputShape
        if layers[index].kind == .linear { return try gradients[index].plain(dims: [batch, o.channels], tag: dnnl_ab) }
        return try gradients[index].plain(dims: [batch, o.channels, o.height, o.width], tag: dnnl_abcd)
    }

    private var outputDims: [Int] {
        let o = layers[layers.count - 1].outputShape
        return layers[layers.count - 1].kind == .linear ? [batch, o.channels] : [batch, o.channels, o.height, o.width]
    }

    private var outputTag: dnnl_format_tag_t { layers[layers.count - 1].kind == .linear ? dnnl_ab : dnnl_abcd }

    // MARK: Quantised activations

    private var quantisers: [Int: ActivationQuantiser] = [:]

    /// Fake-quantises the outputs of the IR layers named, from the next
    /// forward pass on (`ActivationQuantiser`); `fixedRange` nil: observed.
    public func quantiseActivations(_ outputs: [(layer: Int, signed: Bool, fixedRange: Float?)], bits: Int) -> [ActivationQuantiser] {
        outputs.map { output in
            let quantiser = ActivationQuantiser(layer: output.layer, bits: bits, signed: output.signed, fixedRange: output.fixedRange,
                                                value: activations[output.layer], gradient: gradients[output.layer])
            quantisers[output.layer] = quantiser
            return quantiser
        }
    }

    private var binarisers: [Int: InputBinariser] = [:]

    /// Binarises the inputs of the convolutions named (IR layer indices),
    /// from the next forward pass on (`InputBinariser`).
    public func binariseInputs(ofConvolutions layers: [Int]) throws(DNNLError) -> [InputBinariser] {
        var made: [InputBinariser] = []
        for index in layers {
            precondition(self.layers[index].kind == .conv && !self.layers[index].inputs.isEmpty,
                         "only a convolution reading another layer's output has its input binarised")
            let input = self.layers[index].inputs[0]
            let source = activations[input]
            let binariser = InputBinariser(layer: index, value: source, elements: batch * self.layers[input].outputShape.elements,
                                           saved: try Memory(source.descriptor, context: context))
            binarisers[index] = binariser
            (ops[index] as? ConvolutionOp)?.inputBinariser = binariser
            made.append(binariser)
        }
        return made
    }

    // MARK: Batch-norm statistics

    /// Every batch norm trains from now on with its running statistics and
    /// its γ fixed (`BatchNormOp.freeze()`): the per-channel factor folding
    /// gives each convolution stays as it is now.
    public func freezeBatchNorms() throws(DNNLError) {
        for (_, op) in batchNorms { try op.freeze() }
    }

    /// Running mean and variance of every BN layer, by layer name.
    public func runningStatistics() -> [(name: String, mean: [Float], variance: [Float])] {
        batchNorms.map { name, op in
            let c = op.scale.count
            return (name, Array(UnsafeBufferPointer(start: op.runningMean.pointer, count: c)),
                    Array(UnsafeBufferPointer(start: op.runningVariance.pointer, count: c)))
        }
    }

    public func setRunningStatistics(name: String, mean: [Float], variance: [Float]) {
        guard let op = batchNorms.first(where: { $0.name == name })?.op else { return }
        op.runningMean.pointer.update(from: mean, count: min(mean.count, op.scale.count))
        op.runningVariance.pointer.update(from: variance, count: min(variance.count, op.scale.count))
    }

    /// Every parameter and BN statistic, plain.
    public func weights() throws(DNNLError) -> NetworkWeights {
        var weights = NetworkWeights()
        for parameter in parameters { weights[parameter.name] = try parameter.values() }
        for (name, mean, variance) in runningStatistics() {
            weights[TensorName(name, .runningMean)] = mean
            weights[TensorName(name, .runningVariance)] = variance
        }
        return weights
    }

    /// Replaces every parameter and BN statistic.
    public func load(_ weights: NetworkWeights) throws {
        for parameter in parameters { try parameter.setValues(try weights.tensor(parameter.name, count: parameter.count)) }
        for (name, op) in batchNorms {
            let c = op.scale.count
            setRunningStatistics(name: name, mean: try weights.tensor(TensorName(name, .runningMean), count: c),
                                 variance: try weights.tensor(TensorName(name, .runningVariance), count: c))
        }
    }

    /// Bytes held by activations and gradients (distinct buffers).
    public var activationBytes: Int {
        var seen = Set<ObjectIdentifier>()
        return (activations + gradients).reduce(0) { total, m in
            seen.insert(ObjectIdentifier(m)).inserted ? total + m.descriptor.byteCount : total
        }
    }
}

/// Scratch buffers shared by layers that use them one after another.
struct ScratchPool {
    let context: ComputeContext
    private var buffers: [(purpose: String, memory: Memory)] = []

    init(context: ComputeContext) { self.context = context }

    mutating func scratch(_ descriptor: MemoryDescriptor, purpose: String) throws(DNNLError) -> Memory {
        if let found = buffers.first(where: { $0.purpose == purpose && $0.memory.descriptor == descriptor }) {
            return found.memory
        }
        let memory = try Memory(descriptor, context: context)
        buffers.append((purpose, memory))
        return memory
    }
}
