public import Core

/// A declared search space: MnasNet's factorised hierarchical space. A fixed
/// sequence of blocks, each with a base filter count and stride, and per block
/// independent choices; globally the width and resolution multipliers.
///
/// Read from YAML with `SearchSpace(contentsOf:)`; the format is documented in
/// README and in the shipped `SearchSpaces/*.yaml`.
public struct SearchSpace: Sendable {
    public var name: String
    public var summary: String?
    public var stem: Architecture.Stem
    public var head: Architecture.Head
    public var widths: [Double]
    public var resolutions: [Int]
    public var blocks: [BlockSpec]
    public var proxy: ProxyTask
    /// A cheaper proxy for comparing strategies over many candidates (optional).
    public var searchProxy: ProxyTask?
    public var latency: LatencyTarget

    public struct BlockSpec: Sendable {
        /// Base output channels before the filter multiplier and width.
        public var filters: Int
        public var stride: Int
        /// Base repeats; the `repeats` choices are offsets from it.
        public var repeats: Int
        public var choices: BlockChoices
    }

    /// The per-block decisions, each a list of what may be chosen.
    public struct BlockChoices: Sendable {
        public var ops: [Architecture.Op]
        public var kernels: [Architecture.KernelForm]
        public var expansions: [Int]
        /// 0 means no squeeze-and-excite.
        public var seRatios: [Double]
        /// true: identity skip where shapes allow; false: none.
        public var skips: [Bool]
        public var repeatOffsets: [Int]
        public var filterMultipliers: [Double]
        /// Bits per weight (32: float32); nil when the space does not search them.
        public var bits: [Int]? = nil
    }

    /// Whether the space searches bits per weight: then every block has a bits decision.
    public var searchesBits: Bool { blocks.contains { $0.choices.bits != nil } }

    /// The cheap training task that ranks candidates (read by the trainer).
    public struct ProxyTask: Sendable, Equatable {
        /// Training images drawn from the 50k training split.
        public var subset: Int
        public var epochs: Int
        public var batch: Int
        public var learningRate: Double
        public var warmupEpochs: Double
        public var labelSmoothing: Double
        /// Validation images ranking the candidate (the first of the fixed 10k); nil for all.
        public var validationSubset: Int? = nil
    }

    /// The latency objective of the reward (read by the search).
    public struct LatencyTarget: Sendable, Equatable {
        public enum Constraint: String, Sendable, CaseIterable { case soft, hard }
        public var engine: LatencyEngineName
        public var targetMilliseconds: Double
        public var constraint: Constraint
    }
}
