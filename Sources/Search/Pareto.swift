public import Core
public import RunStore

/// Accuracy (higher is better) against latency (lower is better): the two
/// objectives of the Pareto front, which never depends on the reward chosen.
public struct Objectives: Sendable, Codable, Equatable {
    public var accuracy: Double
    public var latencyMilliseconds: Double

    public init(accuracy: Double, latencyMilliseconds: Double) {
        self.accuracy = accuracy
        self.latencyMilliseconds = latencyMilliseconds
    }

    /// At least as good in both objectives and better in one.
    public func dominates(_ other: Objectives) -> Bool {
        accuracy >= other.accuracy && latencyMilliseconds <= other.latencyMilliseconds
            && (accuracy > other.accuracy || latencyMilliseconds < other.latencyMilliseconds)
    }
}

public enum Pareto {
    /// Indices of the non-dominated points, by increasing latency.
    public static func front(_ points: [Objectives]) -> [Int] {
        points.indices.filter { i in !points.indices.contains { j in points[j].dominates(points[i]) } }
            .sorted { (points[$0].latencyMilliseconds, -points[$0].accuracy) < (points[$1].latencyMilliseconds, -points[$1].accuracy) }
    }

    /// Successive non-dominated fronts (NSGA-II's sort): front 0 first.
    public static func nonDominatedSort(_ points: [Objectives]) -> [[Int]] {
        var remaining = Array(points.indices)
        var fronts: [[Int]] = []
        while !remaining.isEmpty {
            let current = remaining.filter { i in !remaining.contains { j in points[j].dominates(points[i]) } }
            fronts.append(current)
            remaining.removeAll { current.contains($0) }
        }
        return fronts
    }

    /// The area dominated by the points and bounded by `reference` (an
    /// accuracy floor and a latency ceiling), in accuracy × milliseconds.
    public static func hypervolume(_ points: [Objectives], reference: Objectives) -> Double {
        let useful = points.filter {
            $0.accuracy > reference.accuracy && $0.latencyMilliseconds < reference.latencyMilliseconds
        }
        var area = 0.0
        var floor = reference.accuracy
        // On the front, accuracy rises with latency: each point adds the slice
        // of accuracy above the previous one, as wide as its latency margin.
        for i in front(useful) where useful[i].accuracy > floor {
            area += (reference.latencyMilliseconds - useful[i].latencyMilliseconds) * (useful[i].accuracy - floor)
            floor = useful[i].accuracy
        }
        return area
    }
}

extension Pareto {
    /// The finished candidates that have both objectives (validation accuracy
    /// and latency on `engine`), each with its objectives. An architecture
    /// evaluated more than once (proposed again, its result reused) counts
    /// once, as its first evaluation.
    public static func points(_ candidates: [CandidateRecord], engine: LatencyEngineName = .cpu)
        -> [(candidate: CandidateRecord, objectives: Objectives)] {
        var seen = Set<String>()
        return candidates.sorted { $0.index < $1.index }.compactMap { c in
            guard c.status == .done, let accuracy = c.valAccuracy, let latency = c.latency(on: engine),
                  seen.insert(c.hash).inserted else { return nil }
            return (c, Objectives(accuracy: accuracy, latencyMilliseconds: latency))
        }
    }

    /// The Pareto front of finished candidates (accuracy against latency on
    /// `engine`), by increasing latency: the one place a run's front is computed.
    public static func front(_ candidates: [CandidateRecord], engine: LatencyEngineName = .cpu) -> [CandidateRecord] {
        let found = points(candidates, engine: engine)
        return front(found.map(\.objectives)).map { found[$0].candidate }
    }

    /// The most accurate finished candidate within `target` ms on `engine`
    /// (the faster one on a tie): what a user with that budget would pick.
    public static func bestUnderTarget(_ candidates: [CandidateRecord], engine: LatencyEngineName, target: Double)
        -> (candidate: CandidateRecord, objectives: Objectives)? {
        points(candidates, engine: engine).filter { $0.objectives.latencyMilliseconds <= target }.max {
            ($0.objectives.accuracy, -$0.objectives.latencyMilliseconds) < ($1.objectives.accuracy, -$1.objectives.latencyMilliseconds)
        }
    }
}
