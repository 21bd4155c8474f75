public import Core
public import RunStore
public import Search

/// `nas pareto`: a run's non-dominated finished candidates under a chosen set
/// of objectives, and the hypervolume of accuracy against latency.
public struct ParetoReport: Encodable, Sendable {
    /// The objectives a front is taken over: accuracy (higher is better)
    /// against latency on an engine, and optionally parameters or the size of
    /// the weights as stored (lower is better).
    public enum ObjectiveSet: String, Sendable, CaseIterable, Encodable {
        case accuracyCPU = "acc,cpu"
        case accuracyVulkan = "acc,vulkan"
        case accuracyCPUParams = "acc,cpu,params"
        case accuracyCPUSize = "acc,cpu,size"

        public var engine: LatencyEngineName { self == .accuracyVulkan ? .vulkan : .cpu }
    }

    public struct Member: Encodable, Sendable {
        public let index: Int
        public let hash, arch: String
        public let valAccuracy, latencyMs: Double
        public let params, macs: Int
        public let weightBytes: Int?
        public let reward: Double?

        enum CodingKeys: String, CodingKey {
            case index, hash, arch, params, macs, reward
            case valAccuracy = "val_accuracy", latencyMs = "latency_ms", weightBytes = "weight_bytes"
        }
    }

    public let run: String
    public let objectives: ObjectiveSet
    public let engine: LatencyEngineName
    /// Distinct architectures with every objective (a repeated one counts once).
    public let candidates: Int
    /// By increasing latency.
    public let front: [Member]
    /// Accuracy × ms dominated by the front's (accuracy, latency) points above
    /// `reference.accuracy` and below `reference.latencyMilliseconds`.
    public let hypervolume: Double
    public let reference: [String: Double]

    enum CodingKeys: String, CodingKey {
        case run, objectives, engine, candidates, front, hypervolume, reference
    }

    public init(records: [CandidateRecord], name: RunName, objectives: ObjectiveSet, reference: Objectives) {
        run = name.text
        self.objectives = objectives
        engine = objectives.engine
        // The size objective needs the size: runs from before it have none.
        let points = Pareto.points(records, engine: engine).filter { objectives != .accuracyCPUSize || $0.candidate.weightBytes != nil }
        candidates = points.count
        // Each point as a vector to minimise: −accuracy, latency[, params or size].
        let vectors = points.map { p -> [Double] in
            var v = [-p.objectives.accuracy, p.objectives.latencyMilliseconds]
            if objectives == .accuracyCPUParams { v.append(Double(p.candidate.params)) }
            if objectives == .accuracyCPUSize { v.append(Double(p.candidate.weightBytes ?? 0)) }
            return v
        }
        func dominates(_ a: [Double], _ b: [Double]) -> Bool {
            zip(a, b).allSatisfy { $0 <= $1 } && zip(a, b).contains { $0 < $1 }
        }
        let members = points.indices.filter { i in !vectors.indices.contains { dominates(vectors[$0], vectors[i]) } }
            .sorted { (points[$0].objectives.latencyMilliseconds, -points[$0].objectives.accuracy, points[$0].candidate.index)
                < (points[$1].objectives.latencyMilliseconds, -points[$1].objectives.accuracy, points[$1].candidate.index) }
        front = members.map { i in
            let c = points[i].candidate
            return Member(index: c.index, hash: c.hash, arch: c.arch, valAccuracy: points[i].objectives.accuracy,
                          latencyMs: points[i].objectives.latencyMilliseconds, params: c.params, macs: c.macs,
                          weightBytes: c.weightBytes, reward: c.reward)
        }
        hypervolume = Pareto.hypervolume(members.map { points[$0].objectives }, reference: reference)
        self.reference = ["accuracy": reference.accuracy, "latency_ms": reference.latencyMilliseconds]
    }
}
