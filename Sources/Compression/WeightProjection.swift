import Core
import Engine
import GSLNumerics
import Model
import SearchSpace

/// One weight tensor under compression during fine-tuning.
///
/// The engine's optimiser updates the tensor it computed with, which is the
/// compressed one. After every step the update it made is read back as the
/// difference from what was set and applied to the full-precision state
/// (master weights, or a codebook's centroids), which is compressed again
/// and set: the straight-through estimator, with the engine's own optimiser
/// (Nesterov momentum, weight decay) and no gradient code of ours.
///
/// Folded weight sharing (`kmeans:B:folded`) clusters the weights as a
/// runtime reads them, batch norm folded in (w·γ/√(σ²+ε) per output
/// channel), while fine-tuning keeps the batch norms frozen
/// (`TrainingNetwork.freezeBatchNorms`): the codebook is then the folded
/// tensor's, and no per-channel scale is stored beside it. Unfolded, the
/// batch norm trains and folds in as that scale.
final class WeightProjection {
    enum State {
        /// Weight sharing: fixed assignments, centroids trained with the sum
        /// of their weights' updates. With `folding` (the frozen batch norm's
        /// factor per output channel), the centroids are folded values and
        /// the engine holds centroid / factor.
        case shared(assignment: [Int], centroids: [Float], bits: Int, folding: [Float]?)
        /// Master weights fake-quantised per output channel (bits 1: binary with α = mean |W|).
        case quantised(master: [Float], bits: Int)
        /// Magnitude pruning: the mask keeps the largest weights.
        case pruned(mask: [Bool], schedule: PruningSchedule)
        /// Left at full precision by this method.
        case full
    }

    let parameter: Parameter
    let outputChannels: Int
    private(set) var state: State
    /// What was last set into the engine.
    private var projected: [Float]

    /// - Parameters:
    ///   - sparsity: under `prune`, this layer's share of the model's sparsity (`SparsityAllocation`).
    ///   - folding: the factor per output channel of the batch norm after
    ///     this layer, frozen while fine-tuning (nil: none follows); weight
    ///     sharing clusters the folded values.
    init(parameter: Parameter, layer: Layer, method: CompressionMethod, role: LayerRole, sparsity: Double?, folding: [Float]?,
         totalSteps: Int) throws {
        self.parameter = parameter
        let values = try parameter.values()
        outputChannels = parameter.dims.count == 5 ? parameter.dims[0] * parameter.dims[1] : parameter.dims[0]
        let perChannel = values.count / outputChannels
        let folded = folding.map { f in values.indices.map { values[$0] * f[$0 / perChannel] } } ?? values
        switch method {
        case let .kmeans(bits, _):
            let clusters = KMeans(optimal: folded, k: 1 << bits)
            state = .shared(assignment: clusters.assignment, centroids: clusters.centroids, bits: bits, folding: folding)
        case let .linear(bits, _):
            let low = folded.min()!, high = folded.max()!
            let levels = 1 << bits
            let step = levels > 1 ? (high - low) / Float(levels - 1) : 0
            let centroids = (0..<levels).map { low + Float($0) * step }
            let assignment = folded.map { v in step > 0 ? Int(((v - low) / step).rounded()).clamped(0, levels - 1) : 0 }
            state = .shared(assignment: assignment, centroids: centroids, bits: bits, folding: folding)
        case let .prune(model):
            state = .pruned(mask: [Bool](repeating: true, count: values.count),
                            schedule: PruningSchedule(final: sparsity ?? model, totalSteps: totalSteps))
        case let .qat(bits, _):
            state = .quantised(master: values, bits: bits)
        case .binary, .xnor:
            state = role == .inner ? .quantised(master: values, bits: 1) : .full
        case .filters:
            // The network itself was made smaller (`FilterPruning`); its weights train freely.
            state = .full
        }
        projected = values
        try project(afterStep: 0, engine: values)
    }

    /// Reads the step's update, applies it to the full-precision state and
    /// sets the compressed weights again.
    func afterStep(_ step: Int) throws {
        if case .full = state { return }
        try project(afterStep: step, engine: try parameter.values())
    }

    private func project(afterStep step: Int, engine: [Float]) throws {
        switch state {
        case .full:
            return
        case .shared(let assignment, var centroids, let bits, let folding):
            // A centroid's gradient is the sum of its weights' gradients, so its
            // update is the sum of theirs. Folded, weight i is centroid / factor:
            // its gradient reaches the centroid ÷factor, which also undoes the
            // ×factor the engine's gradient carries (it sees the unfolded weight).
            let perChannel = engine.count / outputChannels
            for i in engine.indices {
                let factor = folding?[i / perChannel] ?? 1
                if factor != 0 { centroids[assignment[i]] += (engine[i] - projected[i]) / factor }
            }
            projected = assignment.indices.map { i in
                guard let factor = folding?[i / perChannel] else { return centroids[assignment[i]] }
                // γ = 0 silences the channel whatever its weights: hold them at zero.
                return factor != 0 ? centroids[assignment[i]] / factor : 0
            }
            state = .shared(assignment: assignment, centroids: centroids, bits: bits, folding: folding)
        case .quantised(var master, let bits):
            for i in engine.indices { master[i] += engine[i] - projected[i] }
            projected = Self.quantise(master, channels: outputChannels, bits: bits).values
            state = .quantised(master: master, bits: bits)
        case .pruned(var mask, let schedule):
            if schedule.updatesMask(afterStep: step) {
                mask = Self.magnitudeMask(engine, sparsity: schedule.sparsity(afterStep: step))
                state = .pruned(mask: mask, schedule: schedule)
            }
            projected = engine.indices.map { mask[$0] ? engine[$0] : 0 }
        }
        try parameter.setValues(projected)
    }

    /// The tensor as stored, with the per-channel `foldScales` of the batch
    /// norm folded into it (nil: none).
    func stored(foldScales: [Float]?) throws -> StoredWeight {
        // A layer the method leaves at full precision is not projected after
        // each step: what fine-tuning made of it is in the engine.
        if case .full = state { projected = try parameter.values() }
        let perChannel = projected.count / outputChannels
        func folded(_ values: [Float]) -> [Float] {
            guard let foldScales else { return values }
            return values.indices.map { values[$0] * foldScales[$0 / perChannel] }
        }
        switch state {
        case let .shared(assignment, centroids, bits, folding):
            // Clustered folded, the codebook already holds what the runtime multiplies by.
            return .codebook(indices: assignment.map { UInt8($0) }, bits: bits, codebook: centroids,
                             channelScales: folding == nil ? foldScales : nil)
        case let .quantised(master, bits):
            let (_, codes, steps) = Self.quantise(master, channels: outputChannels, bits: bits)
            return .integers(values: codes, bits: bits,
                             scales: steps.indices.map { steps[$0] * (foldScales?[$0] ?? 1) })
        case .pruned:
            return .sparse(values: folded(projected))
        case .full:
            return .dense(values: folded(projected))
        }
    }

    /// Symmetric per-channel quantisation: codes in ±(2^(bits−1) − 1) times a
    /// step of max |w| / (2^(bits−1) − 1); with one bit, sign(w) (zero counts
    /// as positive) times α = mean |w|.
    static func quantise(_ weights: [Float], channels: Int, bits: Int) -> (values: [Float], codes: [Int8], steps: [Float]) {
        let perChannel = weights.count / channels
        var values = [Float](repeating: 0, count: weights.count)
        var codes = [Int8](repeating: 0, count: weights.count)
        var steps = [Float](repeating: 1, count: channels)
        for c in 0..<channels {
            let range = (c * perChannel)..<((c + 1) * perChannel)
            if bits == 1 {
                let alpha = weights[range].reduce(0) { $0 + abs($1) } / Float(perChannel)
                steps[c] = alpha
                for i in range {
                    codes[i] = weights[i] >= 0 ? 1 : -1
                    values[i] = Float(codes[i]) * alpha
                }
                continue
            }
            let levels = Float((1 << (bits - 1)) - 1)
            let largest = weights[range].reduce(0) { max($0, abs($1)) }
            // An all-zero channel keeps step 1: zeros read back as zeros whatever the step.
            let step = largest > 0 ? largest / levels : 1
            steps[c] = step
            for i in range {
                let code = (weights[i] / step).rounded().clamped(-levels, levels)
                codes[i] = Int8(code)
                values[i] = code * step
            }
        }
        return (values, codes, steps)
    }

    /// Keeps all but the `sparsity` fraction of smallest magnitudes (ties broken by position).
    static func magnitudeMask(_ weights: [Float], sparsity: Double) -> [Bool] {
        let pruned = Int((sparsity * Double(weights.count)).rounded())
        var mask = [Bool](repeating: true, count: weights.count)
        guard pruned > 0 else { return mask }
        let order = weights.indices.sorted { (abs(weights[$0]), $0) < (abs(weights[$1]), $1) }
        for i in order.prefix(pruned) { mask[i] = false }
        return mask
    }
}

/// Where a layer sits, for the methods that treat the ends differently.
enum LayerRole: Sendable {
    /// The convolution that meets the image.
    case firstConvolution
    case classifier
    case inner
}

extension Comparable {
    func clamped(_ low: Self, _ high: Self) -> Self { min(max(self, low), high) }
}
