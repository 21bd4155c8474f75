/// Zhu & Gupta's (2017) gradual pruning: sparsity rises from `initial` to
/// `final` as s_t = s_f + (s_i − s_f)(1 − t/T)³ over the first `steps` steps
/// of fine-tuning, the mask recomputed every `interval` steps, so most
/// weights go while the network still has room to recover, few at the end.
public struct PruningSchedule: Sendable, Equatable {
    public let initial: Double
    public let final: Double
    /// Steps over which sparsity rises (0: all at once, before the first step).
    public let steps: Int
    public let interval: Int

    /// Pruning over the first two thirds of `totalSteps`, in about 16 mask updates.
    public init(final: Double, totalSteps: Int, initial: Double = 0) {
        self.initial = initial
        self.final = final
        steps = totalSteps * 2 / 3
        interval = max(1, steps / 16)
    }

    /// Sparsity after `step` steps.
    public func sparsity(afterStep step: Int) -> Double {
        guard steps > 0, step < steps else { return final }
        // The value in force since the last mask update.
        let updated = Double(step / interval * interval)
        let remaining = 1 - updated / Double(steps)
        return final + (initial - final) * remaining * remaining * remaining
    }

    /// Whether the mask is recomputed after `step` steps (step 0: before training).
    public func updatesMask(afterStep step: Int) -> Bool { step <= steps && (step % interval == 0 || step == steps) }
}
