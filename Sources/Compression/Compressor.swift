public import Core
public import Engine
import Foundation
import GSLNumerics
public import Model
public import SearchSpace
public import Training

/// A compressed model: its fine-tuned weights and how each convolution and
/// linear weight is stored.
public struct CompressionResult: Sendable {
    public let method: CompressionMethod
    /// The compressed model's architecture: the original's, or the smaller one filter pruning leaves.
    public let architecture: Architecture
    /// The fine-tuned weights as training holds them (batch norm unfolded),
    /// each compressed tensor at the values its encoding decodes to.
    public let weights: NetworkWeights
    /// Every convolution and linear weight by tensor name, batch norm folded.
    public let stored: [String: StoredWeight]
    /// The network the compressed files compute: the folded plan with the
    /// stored weights decoded.
    public let plan: InferencePlan
    /// Quantised activations by the IR layer whose output they are (empty: float).
    public let activations: [Int: ActivationQuantisation]
    /// Binarised convolution inputs by the IR layer of the convolution (empty: float).
    public let binaryInputs: [Int: BinaryInput]
    public let validationAccuracy: Double?
    public let steps: Int
    public let trainSeconds: Double
}

/// Compresses a trained network by one method, fine-tuning it with the
/// compressed weights in the forward pass (`WeightProjection`).
public final class Compressor {
    public let method: CompressionMethod
    /// The network fine-tuned: the original, or the smaller one filter pruning leaves.
    public let network: Network
    private let trainer: Trainer?
    private let configuration: TrainingConfiguration
    private let context: ComputeContext
    private let initial: NetworkWeights

    /// - Parameters:
    ///   - weights: the trained model's (batch norm unfolded, as `weights.nasd` holds them).
    ///   - configuration: the fine-tuning; `epochs` 0 compresses without fine-tuning.
    public init(method: CompressionMethod, network: Network, weights: NetworkWeights, split: DatasetSplit,
                configuration: TrainingConfiguration, context: ComputeContext) throws {
        self.method = method
        self.configuration = configuration
        self.context = context
        if case let .filters(fraction) = method {
            let pruned = try FilterPruning(network, weights: weights, fraction: fraction)
            self.network = Network(pruned.architecture)
            initial = pruned.weights
        } else {
            self.network = network
            initial = weights
        }
        try method.check(fineTuningEpochs: configuration.epochs)
        trainer = configuration.epochs > 0
            ? try Trainer(network: self.network, split: split, configuration: configuration, context: context) : nil
    }

    public var totalSteps: Int { (trainer?.stepsPerEpoch ?? 0) * configuration.epochs }

    /// Compresses, fine-tunes and folds. What `progress` throws (a stop
    /// request) ends the work there.
    public func run(progress: (TrainingProgress) throws -> Void = { _ in }) throws -> CompressionResult {
        // Without fine-tuning, a one-image network holds the weights while they are compressed.
        let training = try trainer?.network
            ?? TrainingNetwork(network: network, batch: 1, context: context,
                               initialisation: RandomStream(seed: configuration.seed, name: "weights"))
        try training.load(initial)
        let roles = Self.roles(network)
        let compressed = try training.parameters.filter { $0.name.role == .weight && $0.decays }.map { parameter in
            guard let layer = network.layers.first(where: { $0.name == parameter.name.layer }) else {
                throw NasError.internal("weight \(parameter.name) has no layer in \(network.architecture)")
            }
            return (parameter, layer)
        }
        var sparsities: [String: Double] = [:]
        if case let .prune(sparsity) = method {
            sparsities = SparsityAllocation(compressed.map { ($0.1, $0.0.dims.reduce(1, *)) }, sparsity: sparsity, roles: roles).targets
        }
        var folding: [String: [Float]] = [:]
        if method.sharesFoldedWeights {
            // Shared values live in the folded domain (`WeightProjection`), so the folding must not move.
            try training.freezeBatchNorms()
            folding = try Self.foldScales(try InferencePlan(network: network, weights: initial), weights: initial)
        }
        let projections = try compressed.map { parameter, layer in
            try WeightProjection(parameter: parameter, layer: layer, method: method, role: roles[layer.name] ?? .inner,
                                 sparsity: sparsities[layer.name], folding: folding[layer.name], totalSteps: totalSteps)
        }
        var quantisers: [ActivationQuantiser] = []
        if case let .qat(bits, activations: true) = method {
            quantisers = training.quantiseActivations(try InferencePlan(network: network, weights: initial).quantisableOutputs, bits: bits)
        }
        var binarisers: [InputBinariser] = []
        if case .xnor = method {
            binarisers = try training.binariseInputs(ofConvolutions: try InferencePlan(network: network, weights: initial).binarisableConvolutions)
        }
        var validation: Double?
        var seconds = 0.0
        if let trainer {
            var step = 0
            let result = try trainer.train { p in
                step += 1
                for projection in projections { try projection.afterStep(step) }
                try progress(p)
            }
            if let diverged = result.divergedAtStep {
                throw NasError.invalidInput("fine-tuning for \(method) diverged at step \(diverged) (the loss became NaN or infinite); give a lower --learning-rate")
            }
            validation = result.validationAccuracy
            seconds = result.trainSeconds
        }
        let weights = try training.weights()
        let folded = try InferencePlan(network: network, weights: weights)
        let scales = try Self.foldScales(folded, weights: weights)
        var stored: [String: StoredWeight] = [:]
        for projection in projections {
            stored[projection.parameter.name.description] = try projection.stored(foldScales: scales[projection.parameter.name.layer])
        }
        let activations = Dictionary(uniqueKeysWithValues: quantisers.compactMap { q in q.quantisation.map { (q.layer, $0) } })
        let binaryInputs = Dictionary(uniqueKeysWithValues: binarisers.compactMap { b in b.binarisation.map { (b.layer, $0) } })
        return CompressionResult(method: method, architecture: network.architecture, weights: weights, stored: stored,
                                 plan: folded.decoding(stored).quantisingActivations(activations).binarisingInputs(binaryInputs),
                                 activations: activations, binaryInputs: binaryInputs, validationAccuracy: validation, steps: totalSteps, trainSeconds: seconds)
    }

    /// The first convolution, the classifier, and the layers between.
    static func roles(_ network: Network) -> [String: LayerRole] {
        var roles: [String: LayerRole] = [:]
        if let first = network.layers.first(where: { $0.kind == .conv }) { roles[first.name] = .firstConvolution }
        for layer in network.layers where layer.kind == .linear { roles[layer.name] = .classifier }
        return roles
    }

    /// Per convolution followed by batch norm, the factor γ/√(σ²+ε) folding multiplies its output channels by.
    static func foldScales(_ plan: InferencePlan, weights: NetworkWeights) throws -> [String: [Float]] {
        var scales: [String: [Float]] = [:]
        for step in plan.steps {
            guard case let .convolution(layer, _, _) = step.operation,
                  let bn = step.layers.map({ plan.network.layers[$0] }).first(where: { $0.kind == .batchNorm }) else { continue }
            scales[layer.name] = try InferencePlan.folding(bn, weights: weights).scale
        }
        return scales
    }
}
