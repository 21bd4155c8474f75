import Foundation

/// Keeps a latency measurement alone on the machine while other candidates
/// train beside it (`--parallel`): a measurement waits until every training
/// in progress has parked at a step boundary, and they resume when it ends.
/// On 2 cores a neighbour's training would otherwise slow a 0.1 ms network
/// by up to 2× and the reward would rank noise.
public final class MeasurementGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var training = 0
    private var parked = 0
    private var measuring = false

    public init() {}

    /// A training starts (after any measurement in progress).
    func beginTraining() {
        condition.lock()
        while measuring { condition.wait() }
        training += 1
        condition.unlock()
    }

    /// A training step ended: park here while a measurement runs.
    func stepBoundary() {
        condition.lock()
        if measuring {
            parked += 1
            condition.broadcast()
            while measuring { condition.wait() }
            parked -= 1
        }
        condition.unlock()
    }

    func endTraining() {
        condition.lock()
        training -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` once no training is between step boundaries and no other measurement runs.
    func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        while measuring { condition.wait() }
        measuring = true
        while parked < training { condition.wait() }
        condition.unlock()
        defer {
            condition.lock()
            measuring = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
