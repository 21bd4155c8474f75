import Foundation
public import Core

/// MnasNet's multi-objective reward: ACC × (LAT / T)^w, with w = α when
/// LAT ≤ T and β otherwise. Soft constraint: α = β = −0.07 (a smooth trade);
/// hard: α = 0, β = −1 (no bonus under the target, a steep fall above it).
///
/// With a size target S (`--size-target-kb`), the size of the weights as
/// stored joins as a third factor of the same form: × (SIZE / S)^w, w = α
/// when SIZE ≤ S and β otherwise.
public struct Reward: Sendable, Codable, Equatable {
    public enum Constraint: String, Sendable, Codable, CaseIterable { case soft, hard }

    /// The engine whose latency counts.
    public var engine: LatencyEngineName
    public var targetMilliseconds: Double
    public var constraint: Constraint
    /// Kilobytes (1,024 bytes) of stored weights aimed for; nil: size does not count.
    public var sizeTargetKilobytes: Double?

    public init(engine: LatencyEngineName, targetMilliseconds: Double, constraint: Constraint, sizeTargetKilobytes: Double? = nil) {
        self.engine = engine
        self.targetMilliseconds = targetMilliseconds
        self.constraint = constraint
        self.sizeTargetKilobytes = sizeTargetKilobytes
    }

    public var alpha: Double { constraint == .soft ? -0.07 : 0 }
    public var beta: Double { constraint == .soft ? -0.07 : -1 }

    public func value(accuracy: Double, latencyMilliseconds latency: Double, weightBytes: Int? = nil) -> Double {
        let w = latency <= targetMilliseconds ? alpha : beta
        var reward = accuracy * pow(latency / targetMilliseconds, w)
        if let target = sizeTargetKilobytes, let weightBytes {
            let size = Double(weightBytes) / 1024
            reward *= pow(size / target, size <= target ? alpha : beta)
        }
        return reward
    }

    /// What a failed candidate (diverged, engine error) receives: the worst possible.
    public static let failed = 0.0
}
