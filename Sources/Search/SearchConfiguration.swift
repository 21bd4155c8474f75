public import Core
public import GSLNumerics
import Foundation
public import SearchSpace

/// What a run was started with; stored in the run's store and read back on
/// resume, so a resumed run cannot drift from its original settings.
///
/// Stored as versioned JSON. Version 1 is every configuration written before
/// the `version` field: those made before `search_proxy` existed have no
/// `proxy` and trained on the default proxy; later ones name theirs.
/// Versions 1 and 2 predate the weight-initialisation choice and trained
/// with He-normal weights, and the proposal window: they proposed one
/// candidate at a time, each after the previous one's result. A version newer than this build knows is refused,
/// never guessed at.
public struct SearchConfiguration: Codable, Sendable, Equatable {
    public enum Strategy: String, Codable, Sendable, CaseIterable { case rl, evolution, random }
    public enum LatencySource: String, Codable, Sendable, CaseIterable { case measured, predicted }
    public enum ProxyChoice: String, Codable, Sendable, CaseIterable { case `default`, search }

    /// The version this build writes.
    public static let currentVersion = 3

    /// The search-space file's text (a copy: editing the file later changes nothing).
    public var spaceYAML: String
    public var spacePath: String
    public var strategy: Strategy
    public var seed: UInt64
    public var budget: Int
    public var hours: Double?
    public var reward: Reward
    public var latency: LatencySource
    public var threads: Int
    /// The latency table used for predictions (shared between runs).
    public var latencyTable: String
    /// Which of the space's proxy tasks trains the candidates.
    public var proxy: ProxyChoice = .default
    /// How candidates' weights start (new runs: the recommended scheme).
    public var initialisation: WeightInitialisation = .recommended
    /// Candidates proposed together, before any of their results is seen:
    /// windows start at multiples of it, and up to this many candidates of a
    /// window can be evaluated at once (`--parallel`) with the same run as
    /// one at a time. New runs take the strategy's `window`.
    public var proposalWindow: Int

    public init(spaceYAML: String, spacePath: String, strategy: Strategy, seed: UInt64, budget: Int, hours: Double?,
                reward: Reward, latency: LatencySource, threads: Int, latencyTable: String, proxy: ProxyChoice = .default) {
        self.spaceYAML = spaceYAML
        self.spacePath = spacePath
        self.strategy = strategy
        self.seed = seed
        self.budget = budget
        self.hours = hours
        self.reward = reward
        self.latency = latency
        self.threads = threads
        self.latencyTable = latencyTable
        self.proxy = proxy
        proposalWindow = strategy.window
    }

    public var spaceHash: String { Architecture.hashText(spaceYAML) }

    /// The space this configuration searches, parsed from its stored copy.
    public func space() throws(SearchSpaceError) -> SearchSpace {
        try SearchSpace(yaml: spaceYAML, path: spacePath)
    }

    /// Checks every setting against the shared limits: what `nas search`
    /// checks before it creates a run, and what a resumed run's stored
    /// configuration must still satisfy.
    public func validate() throws(NasError) {
        try Limits.budget.check(budget, "--budget")
        try Limits.hours.check(hours, "--hours")
        try Limits.threads.check(threads, "--threads")
        try Limits.targetMilliseconds.check(reward.targetMilliseconds, "--target-ms")
        try Limits.proposalWindow.check(proposalWindow, "proposal window")
    }

    // MARK: Stored form

    private enum CodingKeys: String, CodingKey {
        case version, spaceYAML, spacePath, strategy, seed, budget, hours, reward, latency, threads, latencyTable, proxy, initialisation, proposalWindow
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        guard version <= Self.currentVersion else {
            throw SearchConfigurationError.newerVersion(version)
        }
        spaceYAML = try c.decode(String.self, forKey: .spaceYAML)
        spacePath = try c.decode(String.self, forKey: .spacePath)
        strategy = try c.decode(Strategy.self, forKey: .strategy)
        seed = try c.decode(UInt64.self, forKey: .seed)
        budget = try c.decode(Int.self, forKey: .budget)
        hours = try c.decodeIfPresent(Double.self, forKey: .hours)
        reward = try c.decode(Reward.self, forKey: .reward)
        latency = try c.decode(LatencySource.self, forKey: .latency)
        threads = try c.decode(Int.self, forKey: .threads)
        latencyTable = try c.decode(String.self, forKey: .latencyTable)
        // Version 1 runs from before `search_proxy` have no proxy: they trained on the default one.
        proxy = version >= 2 ? try c.decode(ProxyChoice.self, forKey: .proxy)
            : try c.decodeIfPresent(ProxyChoice.self, forKey: .proxy) ?? .default
        initialisation = version >= 3 ? try c.decode(WeightInitialisation.self, forKey: .initialisation) : .heNormal
        proposalWindow = version >= 3 ? try c.decode(Int.self, forKey: .proposalWindow) : 1
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.currentVersion, forKey: .version)
        try c.encode(spaceYAML, forKey: .spaceYAML)
        try c.encode(spacePath, forKey: .spacePath)
        try c.encode(strategy, forKey: .strategy)
        try c.encode(seed, forKey: .seed)
        try c.encode(budget, forKey: .budget)
        try c.encodeIfPresent(hours, forKey: .hours)
        try c.encode(reward, forKey: .reward)
        try c.encode(latency, forKey: .latency)
        try c.encode(threads, forKey: .threads)
        try c.encode(latencyTable, forKey: .latencyTable)
        try c.encode(proxy, forKey: .proxy)
        try c.encode(initialisation, forKey: .initialisation)
        try c.encode(proposalWindow, forKey: .proposalWindow)
    }

    /// The stored text.
    public func stored() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Reads a stored configuration, migrating older versions.
    public init(stored text: String) throws(SearchConfigurationError) {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(text.utf8))
        } catch let error as SearchConfigurationError {
            throw error
        } catch {
            throw .unreadable("\(error)")
        }
    }
}

/// A stored configuration this build cannot use.
public enum SearchConfigurationError: ClassifiedError, Equatable {
    case newerVersion(Int)
    case unreadable(String)

    public var kind: ErrorKind {
        switch self {
        // The run is fine; this build of nasd is too old for it.
        case .newerVersion: return .environment
        case .unreadable: return .damaged
        }
    }

    public var description: String {
        switch self {
        case let .newerVersion(version):
            return "its configuration has version \(version), written by a newer nasd; this build reads versions 1...\(SearchConfiguration.currentVersion): upgrade nasd to continue it"
        case let .unreadable(reason):
            return "its configuration cannot be read (\(reason))"
        }
    }
}

extension SearchConfiguration.Strategy {
    /// A new controller of this strategy for a space with these decision sizes.
    /// A new run's proposal window. Random search proposes independently of
    /// results, and the RL controller updates its policy once per PPO batch
    /// (5), so for them a window changes nothing: the run is the one-at-a-time
    /// run. Aging evolution's window (Real et al. propose asynchronously too)
    /// lets a child's parent be chosen before the last few results are in.
    public var window: Int {
        switch self {
        case .random: return 8
        case .rl: return RLController.defaultBatchSize
        case .evolution: return 4
        }
    }

    public func controller(decisionSizes sizes: [Int], stream: RandomStream) -> any Controller {
        switch self {
        case .random: return RandomController(decisionSizes: sizes, stream: stream)
        case .evolution: return EvolutionController(decisionSizes: sizes, stream: stream)
        case .rl: return RLController(decisionSizes: sizes, stream: stream)
        }
    }
}

extension SearchConfiguration.ProxyChoice {
    /// This choice's proxy task in `space` (read from `path`); an error that
    /// says what to do when the space declares no search_proxy.
    public func task(in space: SearchSpace, path: String) throws(NasError) -> SearchSpace.ProxyTask {
        guard let task = self == .search ? space.searchProxy : space.proxy else {
            throw .invalidInput("\(path) declares no search_proxy; use --proxy default or add a search_proxy section")
        }
        return task
    }
}
