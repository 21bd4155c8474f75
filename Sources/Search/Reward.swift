import Foundation
public import Core

/// MnasNet's multi-objective reward: ACC × (LAT / T)^w, with w = α when
/// LAT ≤ T and β otherwise. Soft constraint: α = β = −0.07 (a smooth trade);
/// hard: α = 0, β = −1 (no bonus under the target, a steep fall above it).
public struct Reward: Sendable, Codable, Equatable {
    public enum Constraint: String, Sendable, Codable, CaseIterable { case soft, hard }

    /// The engine whose latency counts.
    public var engine: LatencyEngineName
    public var targetMilliseconds: Double
    public var constraint: Constraint

    public init(engine: LatencyEngineName, targetMilliseconds: Double, constraint: Constraint) {
        self.engine = engine
        self.targetMilliseconds = targetMilliseconds
        self.constraint = constraint
    }

    public var alpha: Double { constraint == .soft ? -0.07 : 0 }
    public var beta: Double { constraint == .soft ? -0.07 : -1 }

    public func value(accuracy: Double, latencyMilliseconds latency: Double) -> Double {
        let w = latency <= targetMilliseconds ? alpha : beta
        return accuracy * pow(latency / targetMilliseconds, w)
    }

    /// What a failed candidate (diverged, engine error) receives: the worst possible.
    public static let failed = 0.0
}
