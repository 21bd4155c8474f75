public import Core
public import Search
public import SearchSpace

/// What a user asks of a new search: `nas search`'s options, or the body of
/// the daemon's `POST /runs`. Both go through `check` and `prepare` here, so
/// the CLI and the API accept and refuse exactly the same things, and say why
/// in the same words (naming the option the way the caller spells it).
public struct SearchRequest: Sendable {
    /// The search-space file's text, and where it came from (for messages and the run's record).
    public var spaceYAML: String
    public var spacePath: String
    public var strategy: SearchConfiguration.Strategy = .evolution
    public var budget = 20
    public var hours: Double?
    public var seed: UInt64 = 0
    public var runName: String?
    public var engine: LatencyEngineName?
    public var targetMs: Double?
    /// Stored weights aimed for, in KB: makes size a third factor of the reward.
    public var sizeTargetKB: Double?
    public var constraint: Reward.Constraint?
    public var latency: SearchConfiguration.LatencySource = .measured
    public var threads: Int?
    public var proxy: SearchConfiguration.ProxyChoice = .default
    public var initialisation: WeightInitialisation = .recommended
    public var parallel: Int?
    /// The run goes to a shared store (PostgreSQL), where `parallel` 0 means
    /// the workers do all the evaluating.
    public var shared = false

    public init(spaceYAML: String, spacePath: String) {
        self.spaceYAML = spaceYAML
        self.spacePath = spacePath
    }

    /// How a caller spells a field: `--target-ms` on the command line, `target_ms` in JSON.
    public enum Spelling: Sendable {
        case option, json

        /// `key` is the JSON spelling.
        public func name(_ key: String) -> String {
            switch self {
            case .json: return key
            case .option: return "--" + key.replacingOccurrences(of: "_", with: "-")
            }
        }
    }

    /// The checks that need nothing but the values (ranges, the run name's form).
    public func check(_ spelling: Spelling) throws(InvalidField) {
        try field("budget", spelling) { name throws(NasError) in try Limits.budget.check(budget, name) }
        try field("hours", spelling) { name throws(NasError) in try Limits.hours.check(hours, name) }
        try field("target_ms", spelling) { name throws(NasError) in try Limits.targetMilliseconds.check(targetMs, name) }
        try field("size_target_kb", spelling) { name throws(NasError) in try Limits.sizeTargetKilobytes.check(sizeTargetKB, name) }
        try field("threads", spelling) { name throws(NasError) in try Limits.threads.check(threads, name) }
        try field("parallel", spelling) { name throws(NasError) in
            if !(shared && parallel == 0) { try Limits.parallel.check(parallel, name) }
        }
        if let runName { try field("run", spelling) { _ throws(NasError) in _ = try RunName(runName) } }
    }

    /// What a new run is made of, once the space is parsed and the defaults
    /// filled in; `RunsFolder.create` then makes it exist.
    public struct Prepared: Sendable {
        public let name: RunName
        public let configuration: SearchConfiguration
        public let space: SearchSpace
        public let parallel: Int?
    }

    /// Parses the space and fills the defaults: the run name from the space,
    /// strategy and seed; the reward from the space's latency section; the
    /// threads per candidate from the cores (`cores`) and the proxy's batch.
    public func prepare(_ spelling: Spelling, latencyTable: String, cores: Int = RunsFolder.machineCores) throws -> Prepared {
        try check(spelling)
        let parsed = try field("space", spelling) { _ throws(NasError) in
            do { return try SearchSpace(yaml: spaceYAML, path: spacePath) } catch {
                throw NasError(ErrorKind.of(error), "\(error)")
            }
        }
        let name = try runName.map { name throws(NasError) in try RunName(name) }
            ?? RunName.derived(from: [parsed.name, strategy.rawValue, "s\(seed)"])
        let spaceEngine = parsed.latency.engine
        let rewardEngine = engine ?? spaceEngine
        // A target is meaningful on its own engine only: a phone GPU and a CPU core differ by far more than the trade.
        guard rewardEngine == spaceEngine || targetMs != nil else {
            throw InvalidField(field: spelling.name("target_ms"), message: "\(spacePath)'s latency target (\(parsed.latency.targetMilliseconds) ms) is for the \(spaceEngine.rawValue) engine; give \(spelling.name("target_ms")) for \(rewardEngine.rawValue)")
        }
        let reward = Reward(engine: rewardEngine, targetMilliseconds: targetMs ?? parsed.latency.targetMilliseconds,
                            constraint: constraint ?? (parsed.latency.constraint == .hard ? .hard : .soft),
                            sizeTargetKilobytes: sizeTargetKB)
        let batch = try field("proxy", spelling) { _ throws(NasError) in try proxy.task(in: parsed, path: spacePath).batch }
        // What `nas bench search` found fastest on 2 cores: two candidates on one thread each at the
        // search proxy's batch 32 (1.29× one candidate on two threads); at batch 128, parity.
        let threads = self.threads ?? parallel.flatMap { $0 > 0 ? max(1, cores / $0) : nil } ?? (batch <= 64 ? 1 : cores)
        var configuration = SearchConfiguration(spaceYAML: spaceYAML, spacePath: spacePath, strategy: strategy, seed: seed,
                                                budget: budget, hours: hours, reward: reward, latency: latency,
                                                threads: threads, latencyTable: latencyTable, proxy: proxy)
        configuration.initialisation = initialisation
        return Prepared(name: name, configuration: configuration, space: parsed, parallel: parallel)
    }

    private func field<T>(_ key: String, _ spelling: Spelling,
                          _ body: (String) throws(NasError) -> T) throws(InvalidField) -> T {
        let name = spelling.name(key)
        do { return try body(name) } catch { throw InvalidField(field: name, message: error.message, kind: error.kind) }
    }
}

/// A request's field that cannot be used: which one, and why (the message
/// names it as the caller spells it). The daemon answers it with 400 and the
/// field; the CLI prints the message.
public struct InvalidField: ClassifiedError, Sendable {
    public let field: String
    public let message: String
    public let kind: ErrorKind

    public init(field: String, message: String, kind: ErrorKind = .invalidInput) {
        self.field = field
        self.message = message
        self.kind = kind
    }

    public var description: String { message }
}
