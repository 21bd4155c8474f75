public import Core
import Foundation
public import RunStore
public import Search
public import SearchSpace

/// The runs directory (`Runs/` by default): one folder per run holding its
/// store, `<name>/run.sqlite`. Creating, opening and listing runs happens
/// here, for the CLI and the daemon alike.
///
/// With `store` set to a PostgreSQL URL (`--store`, `NASD_STORE`), runs live
/// in that database instead (`PostgresRunStore`), shared with `nas worker`
/// processes anywhere; the folder still holds the latency table. A run's
/// store is chosen once, when it is created.
public struct RunsFolder: Sendable {
    public let path: String
    /// A PostgreSQL URL, or nil for the embedded SQLite stores.
    public var store: String?

    public init(path: String, store: String? = nil) {
        self.path = path
        self.store = store.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The PostgreSQL server runs live on, if not in SQLite files.
    public func postgres() throws(NasError) -> PostgresURL? {
        guard let store else { return nil }
        guard PostgresURL.names(store) else {
            throw .invalidInput("--store '\(store)' is not a store this build knows: give a PostgreSQL URL (postgres://user@host:port/database), or leave --store and NASD_STORE unset for the runs folder's SQLite files")
        }
        return try PostgresURL(store)
    }

    /// The default: `$NASD_RUNS`, else `Runs`.
    public static var defaultPath: String { ProcessInfo.processInfo.environment["NASD_RUNS"] ?? "Runs" }

    /// The shared latency table's default place.
    public var latencyTable: String { path + "/latency.sqlite" }

    /// The run's folder, refused when it resolves (symbolic links followed)
    /// outside the runs directory.
    public func directory(_ name: RunName) throws(NasError) -> String {
        let folder = path + "/" + name.text
        let root = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let resolved = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(root + "/") else {
            throw .invalidInput("\(folder) leads outside \(path) (to \(resolved)); a run lives inside its runs directory: remove the link or choose another --run name")
        }
        return folder
    }

    public func databasePath(_ name: RunName) throws(NasError) -> String { try directory(name) + "/run.sqlite" }

    /// The runs in the folder, by name (folders holding a run database).
    public func names() -> [RunName] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            .compactMap { try? RunName(existing: $0) }
            .filter { name in (try? databasePath(name)).map { FileManager.default.fileExists(atPath: $0) } ?? false }
    }

    /// The runs in the store `--store` names (the folder's, by default).
    public func storedNames() throws -> [RunName] {
        guard let url = try postgres() else { return names() }
        return try PostgresRunStore.names(url: url).compactMap { try? RunName(existing: $0) }
    }

    /// Opens a run's store and configuration for reading.
    public func open(_ name: RunName) throws -> (store: any RunStore, configuration: SearchConfiguration) {
        let store: any RunStore
        if let url = try postgres() {
            do { store = try PostgresRunStore(url: url, name: name.text) } catch .missing(let path) {
                // The store is chosen once per run: say where this one is, if it is here.
                if let local = try? databasePath(name), FileManager.default.fileExists(atPath: local) {
                    throw RunsFolderError.otherStore(name: name, here: "\(url)", there: local)
                }
                throw RunStoreError.missing(path: path)
            }
        } else {
            store = try SQLiteRunStore(path: try databasePath(name))
        }
        return (store, try SearchRun.configuration(in: store))
    }

    /// Starts a new run. Everything that can fail (the configuration, the
    /// data set, the engines, the latency table) is checked before the run
    /// exists; the store is written under a staging name and renamed into
    /// place once its configuration is committed. So a run either exists
    /// whole or not at all, and a run that cannot start leaves its name free.
    /// `space` is the configuration's space when the caller has parsed it
    /// already; `parallel` candidates are evaluated at once (nil: as many as
    /// the cores hold at the run's threads each).
    /// With a shared store, `settings` are more configuration entries written with it (`Worker.simulateKey`).
    public func create(_ name: RunName, configuration: SearchConfiguration, space parsed: SearchSpace? = nil,
                       parallel: Int? = nil, settings: [String: String] = [:]) throws -> SearchRun {
        try configuration.validate()
        if let url = try postgres() {
            return try createShared(name, configuration: configuration, space: parsed, parallel: parallel, url: url, settings: settings)
        }
        try Limits.parallel.check(parallel, "--parallel")
        let space = try parsed ?? configuration.space()
        let final = try directory(name)
        guard !FileManager.default.fileExists(atPath: final + "/run.sqlite") else { throw RunsFolderError.exists(name: name, folder: final) }
        let evaluators = try Self.evaluators(configuration, space, parallel)

        let fileManager = FileManager.default
        removeAbandonedStaging(for: name)
        let staging = path + "/" + Self.stagingPrefix(name) + "\(ProcessInfo.processInfo.processIdentifier)"
        try? fileManager.removeItem(atPath: staging)
        do {
            try Self.initialise(at: staging + "/run.sqlite", configuration: configuration)
            // rename(2) is atomic, and fails rather than replace a run created
            // meanwhile (a non-empty folder); an empty folder is replaced.
            guard rename(staging, final) == 0 else {
                let reason = String(cString: strerror(errno))
                if fileManager.fileExists(atPath: final) { throw RunsFolderError.exists(name: name, folder: final) }
                throw NasError.environment("cannot create \(final): \(reason)")
            }
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw error
        }
        let store = try SQLiteRunStore(path: try databasePath(name))
        return remeasuringFront(try SearchRun(store: store, evaluators: evaluators), name)
    }

    /// A new run in a PostgreSQL database: created whole in one transaction
    /// (configuration, first event, the devices its latencies come from),
    /// after everything that can fail has been checked. `parallel` is the
    /// evaluations this process makes beside the workers (0: none).
    private func createShared(_ name: RunName, configuration: SearchConfiguration, space parsed: SearchSpace?,
                              parallel: Int?, url: PostgresURL, settings: [String: String]) throws -> SearchRun {
        if let parallel, parallel != 0 { try Limits.parallel.check(parallel, "--parallel") }
        if let local = try? databasePath(name), FileManager.default.fileExists(atPath: local) {
            throw RunsFolderError.otherStore(name: name, here: "\(url)", there: local)
        }
        let space = try parsed ?? configuration.space()
        let evaluators = try Self.evaluators(configuration, space, parallel == 0 ? 1 : parallel)
        let fingerprints = try JSONEncoder().encode(evaluators[0].fingerprints)
        guard let store = try PostgresRunStore.create(url: url, name: name.text, initialise: { store in
            try SearchRun.initialise(store, with: configuration)
            try store.setConfiguration(settings.merging([QueueWorker.fingerprintsKey: String(decoding: fingerprints, as: UTF8.self)]) { a, _ in a })
        }) else {
            throw RunsFolderError.exists(name: name, folder: "\(url)")
        }
        try coordinate(store, name)
        let search = try SearchRun(store: store, evaluators: evaluators)
        if parallel == 0 { search.localEvaluations = 0 }
        return remeasuringFront(search, name)
    }

    /// Takes a shared run's coordination for this process, or says who has it.
    private func coordinate(_ store: PostgresRunStore, _ name: RunName) throws {
        guard try store.becomeCoordinator() else { throw RunsFolderError.driven(name: name, store: store.location) }
    }

    /// Before a search is marked finished, its Pareto front's latency is
    /// measured again (`Remeasure`: interleaved launches, medians), once per
    /// run: the figures a user picks a model by should not be one moment's.
    /// A run finishing on another device than it measured on skips this.
    /// Runs whose latency is predicted keep their predictions, which is what
    /// their rewards, and so their determinism, rest on.
    private func remeasuringFront(_ search: SearchRun, _ name: RunName) -> SearchRun {
        guard search.configuration.latency == .measured else { return search }
        search.finishing = { [self, unowned search] report, isStopped in
            // Nothing finished (every candidate failed): no front to measure.
            guard try search.store.candidates().contains(where: { $0.status == .done }),
                  try search.store.remeasuredCandidates(purpose: "front").isEmpty else { return }
            var remeasure = Remeasure(folder: self, name: name)
            remeasure.purpose = "front"
            // Resumed on another machine: its figures would not compare with the run's, so none are taken.
            remeasure.skipsOtherDevices = true
            try remeasure.run(progress: { report(.remeasuring(done: $0, total: $1)) }, isStopped: isStopped)
        }
        return search
    }

    /// One evaluator per candidate evaluated at once (no more than the window
    /// lets run); by default the cores shared out among the run's threads.
    private static func evaluators(_ configuration: SearchConfiguration, _ space: SearchSpace, _ parallel: Int?) throws -> [CandidateEvaluator] {
        let count = min(parallel ?? max(1, machineCores / configuration.threads), configuration.proposalWindow)
        return try (0..<count).map { _ in try CandidateEvaluator(configuration: configuration, space: space) }
    }

    /// The cores this process may use, within the thread limit.
    public static var machineCores: Int {
        min(ProcessInfo.processInfo.activeProcessorCount, Limits.threads.range.upperBound)
    }

    /// `.creating-<name>-<host>-`: a runs folder may be shared between
    /// machines, and a process id means something on its own host only.
    private static func stagingPrefix(_ name: RunName) -> String {
        RunName.stagingMark + "\(name.text)-\(ProcessInfo.processInfo.hostName)-"
    }

    /// Staging folders of `name` left on this host by a creation that was
    /// killed (its process is gone): never a run, so they go.
    private func removeAbandonedStaging(for name: RunName) {
        let prefix = Self.stagingPrefix(name)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: path + "/" + entry)
        }
    }

    /// Writes a new store and closes it (the pool is released on return), so
    /// that its folder can be renamed.
    private static func initialise(at path: String, configuration: SearchConfiguration) throws {
        let store = try SQLiteRunStore(path: path, create: true)
        try SearchRun.initialise(store, with: configuration)
    }

    /// Reopens a run to continue it from its last checkpoint, `parallel`
    /// candidates at once (nil: as many as the cores hold).
    public func resume(_ name: RunName, parallel: Int? = nil) throws -> SearchRun {
        let shared = try postgres() != nil
        if !(shared && parallel == 0) { try Limits.parallel.check(parallel, "--parallel") }
        let opened = Date()
        let (store, configuration) = try open(name)
        if let coordinated = store as? PostgresRunStore { try coordinate(coordinated, name) }
        // A configuration stored by an older build is checked against today's limits.
        do { try configuration.validate() } catch {
            throw SearchRunError.damaged(location: store.location, reason: "its configuration is out of range (\(error))")
        }
        let space = try configuration.space()
        let search = remeasuringFront(try SearchRun(store: store, evaluators: try Self.evaluators(configuration, space, parallel == 0 ? 1 : parallel)), name)
        if shared && parallel == 0 { search.localEvaluations = 0 }
        search.resumedAt = opened
        try store.log("resumed", "at step \(search.completed)")
        return search
    }
}

public enum RunsFolderError: ClassifiedError {
    case exists(name: RunName, folder: String)
    /// The run is in another store than the one asked for.
    case otherStore(name: RunName, here: String, there: String)
    /// Another process coordinates the shared run.
    case driven(name: RunName, store: String)

    public var kind: ErrorKind { .invalidInput }

    public var description: String {
        switch self {
        case let .exists(name, folder):
            return "\(folder) already holds a run; continue it with `nas resume \(name)`, or choose another --run name"
        case let .driven(name, store):
            return "\(store) is being driven by another process (nas search, nas resume or nas serve), on this machine or another: a run has one coordinator. Follow it with `nas status \(name)`, or stop that process first; `nas worker` adds evaluations to it"
        case let .otherStore(name, here, there):
            return "run \(name) is not in \(here): it is the SQLite run \(there) (a run's store is chosen once, when it is created). Open it without --store and with NASD_STORE unset, or choose another --run name"
        }
    }
}
