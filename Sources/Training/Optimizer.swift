public import Engine

/// SGD with Nesterov momentum and weight decay on conv and linear weights
/// only, as PyTorch's `SGD(nesterov=True)` computes it:
/// g ← g + λw; v ← μv + g; w ← w − η(g + μv).
public final class NesterovSGD {
    public let momentum: Float
    public let weightDecay: Float
    private let parameters: [Parameter]
    private var velocities: [[Float]]

    public init(parameters: [Parameter], momentum: Float = 0.9, weightDecay: Float = 4e-5) {
        self.parameters = parameters
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocities = parameters.map { [Float](repeating: 0, count: $0.storageCount) }
    }

    public func step(learningRate: Float) {
        let mu = momentum
        for (p, parameter) in parameters.enumerated() {
            let decay = parameter.decays ? weightDecay : 0
            parameter.withStorage { w, g in
                velocities[p].withUnsafeMutableBufferPointer { v in
                    for i in 0..<v.count {
                        let grad = g[i] + decay * w[i]
                        v[i] = mu * v[i] + grad
                        w[i] -= learningRate * (grad + mu * v[i])
                    }
                }
            }
        }
    }

    /// Momentum buffers, for checkpoints.
    public var state: [[Float]] { velocities }
}

/// Linear warm-up from zero, then cosine decay to zero, evaluated per step.
public struct LearningRateSchedule: Sendable {
    public let peak: Double
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.warmupSteps = min(warmupSteps, totalSteps)
        self.totalSteps = max(1, totalSteps)
    }

    public func rate(atStep step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return peak * 0.5 * (1 + cos(Double.pi * min(1, progress)))
    }
}

import Foundation
