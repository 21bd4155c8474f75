/// A range a setting must fall in, shared by every place that reads the
/// setting: the search-space parser (a `proxy` section), the CLI's options,
/// a stored run configuration and, later, the daemon's request bodies. One
/// definition, so that they cannot drift apart.
public struct Limit<Value: Comparable & Sendable>: Sendable {
    public let range: ClosedRange<Value>
    /// When set, the lower bound itself is excluded ("(0, 10]").
    public let excludesLowerBound: Bool
    /// When set, the upper bound itself is excluded ("[0, 1)").
    public let excludesUpperBound: Bool

    public init(_ range: ClosedRange<Value>, excludingLowerBound: Bool = false, excludingUpperBound: Bool = false) {
        self.range = range
        self.excludesLowerBound = excludingLowerBound
        self.excludesUpperBound = excludingUpperBound
    }

    public func contains(_ value: Value) -> Bool {
        range.contains(value) && !(excludesLowerBound && value == range.lowerBound)
            && !(excludesUpperBound && value == range.upperBound)
    }

    /// "1...256", "(0, 10]" or "[0, 1)".
    public var text: String {
        guard excludesLowerBound || excludesUpperBound else { return "\(range.lowerBound)...\(range.upperBound)" }
        return (excludesLowerBound ? "(" : "[") + "\(range.lowerBound), \(range.upperBound)" + (excludesUpperBound ? ")" : "]")
    }

    /// Throws an invalid-input error naming `name` (an option such as
    /// `--threads`, or a field) unless `value` is in range. NaN is never in range.
    public func check(_ value: Value, _ name: String) throws(NasError) {
        guard contains(value) else { throw .invalidInput("\(name) must be in \(text), got \(value).") }
    }

    /// As `check`, for an optional value: nil (not given) passes.
    public func check(_ value: Value?, _ name: String) throws(NasError) {
        if let value { try check(value, name) }
    }
}

/// The ranges of every numeric setting of a training task and a search.
public enum Limits {
    // Training (a space's proxy section, `nas train`, `nas search`).
    public static let trainingSubset = Limit(1...50_000)
    public static let validationSubset = Limit(1...10_000)
    public static let epochs = Limit(1...1000)
    public static let batch = Limit(1...4096)
    public static let learningRate = Limit(0.0...10, excludingLowerBound: true)
    public static let warmupEpochs = Limit(0.0...1000)
    public static let labelSmoothing = Limit(0.0...0.5)
    /// OpenMP threads: more than a machine has only slows oneDNN down, and
    /// far more exhausts its thread stacks.
    public static let threads = Limit(1...256)
    /// Candidates evaluated at once (`--parallel`), and a run's proposal window.
    public static let parallel = Limit(1...64)
    public static let proposalWindow = Limit(1...64)

    // A search.
    public static let budget = Limit(1...10_000_000)
    /// Hours of a run: positive, at most ten years.
    public static let hours = Limit(0.0...87_600, excludingLowerBound: true)
    public static let targetMilliseconds = Limit(1e-6...1e6)
    /// A size target for stored weights, in KB: above zero, at most a terabyte.
    public static let sizeTargetKilobytes = Limit(0.0...1e9, excludingLowerBound: true)

    // Latency measurement.
    public static let timedRuns = Limit(1...1_000_000)
    public static let warmupRuns = Limit(0...1_000_000)
    /// Independent launches of a measurement protocol whose medians are pooled.
    public static let launches = Limit(1...25)
    /// Alternating rounds of a back-to-back benchmark.
    public static let rounds = Limit(1...25)
    /// Timed runs behind a latency table's entries: fewer than 5 say nothing of the spread.
    public static let tableRuns = Limit(5...1_000_000)

    // Sampling, benchmarks and checks.
    /// Architectures drawn from a space (`nas space sample`, latency tables).
    public static let samples = Limit(1...1_000_000)
    /// Steps of a benchmark (timed, or untimed warm-up: `warmupSteps`).
    public static let steps = Limit(1...10_000_000)
    public static let warmupSteps = Limit(0...10_000_000)
    /// Images of the 10k test set.
    public static let testImages = Limit(1...10_000)
    /// The accuracy floor of a hypervolume: below any real accuracy.
    public static let referenceAccuracy = Limit(0.0...1.0, excludingUpperBound: true)
    /// Seconds a worker's claim lasts unrenewed: it is renewed every second.
    public static let leaseSeconds = Limit(2.0...3600)
    /// Seconds a worker waits with nothing to claim before it leaves.
    public static let idleSeconds = Limit(0.0...1e7)
    /// Seconds a simulated evaluation sleeps (`nas bench scale`).
    public static let simulateSeconds = Limit(0.0...60, excludingLowerBound: true)
    /// Worker processes one benchmark setting starts.
    public static let benchWorkers = Limit(1...32)
    /// Candidates per worker in one benchmark setting.
    public static let perWorker = Limit(1...64)
}
