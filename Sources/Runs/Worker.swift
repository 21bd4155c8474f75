import Core
import Foundation
public import RunStore
public import Search

/// A `nas worker` process: serves every run of a PostgreSQL database (or one,
/// with `run`), claiming the lowest queued candidate of the first run that
/// has one, evaluating it with the run's own configuration, and handing the
/// result back. A run it cannot serve faithfully (one that needs more
/// threads than it may use: results depend on the thread count) is left to
/// other workers, with the reason said once. For a run whose latency is
/// taken on other devices than this machine's, it trains candidates and
/// leaves their latency to a worker on the run's devices.
public final class Worker {
    public struct Options: Sendable {
        public var url: PostgresURL
        /// Cores this worker may use; a run trains on its own thread count.
        public var threads: Int
        public var leaseSeconds: Double
        /// Serve this run only.
        public var run: RunName?
        /// Stop after this long with nothing to claim (nil: never).
        public var idleExitSeconds: Double?
        /// The folder whose latency table this worker measures into.
        public var folder: RunsFolder
        /// Act as a machine with other devices than every run's (testing the
        /// split between training and latency on one machine).
        public var otherDevice = false

        public init(url: PostgresURL, threads: Int, leaseSeconds: Double = 30, run: RunName? = nil,
                    idleExitSeconds: Double? = nil, folder: RunsFolder, otherDevice: Bool = false) {
            self.url = url
            self.otherDevice = otherDevice
            self.threads = threads
            self.leaseSeconds = leaseSeconds
            self.run = run
            self.idleExitSeconds = idleExitSeconds
            self.folder = folder
        }
    }

    public enum Event: Sendable {
        case claimed(run: String, index: Int, architecture: String, attempt: Int)
        case ended(run: String, QueueWorker.Outcome)
        /// A run this worker leaves to others, and why.
        case declined(run: String, reason: String)
        /// A run whose latency this worker leaves to others (it trains only), and why.
        case trainsOnly(run: String, reason: String)
        /// The store could not be reached; the worker tries again.
        case unreachable(reason: String)
        /// The run named with `run` does not exist (yet): workers often start before their coordinator.
        case waitingForRun(run: String)
    }

    public let id: String
    private let options: Options
    private let roll: PostgresWorkerRoll
    private var served: [String: QueueWorker] = [:]
    /// Every run's store, opened once: most runs of a database are finished or
    /// idle, and a look at their queue is all they cost.
    private var stores: [String: PostgresRunStore] = [:]
    private var waitingAnnounced: Set<String> = []
    private var declined: Set<String> = []

    public init(options: Options) throws {
        try Limits.threads.check(options.threads, "--threads")
        try Limits.leaseSeconds.check(options.leaseSeconds, "--lease")
        try Limits.idleSeconds.check(options.idleExitSeconds, "--exit-when-idle")
        self.options = options
        id = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        roll = try PostgresWorkerRoll(url: options.url)
        try roll.register(WorkerRecord(id: id, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), threads: options.threads,
                                       startedAt: Date(), seenAt: Date(), finished: 0, failed: 0, discarded: 0, busySeconds: 0))
    }

    /// Works until `isStopped` turns true (a claim in progress is given back)
    /// or, with `idleExitSeconds`, until there has been nothing to do that long.
    public func run(isStopped: @escaping @Sendable () -> Bool, report: (Event) -> Void) throws {
        defer { try? roll.stopped(id) }
        var lastWork = Date(), lastSeen = Date.distantPast
        while !isStopped() {
            var worked = false
            do {
                worked = try claimOnce(isStopped: isStopped, report: report)
            } catch is SearchStopped {
                return
            } catch let error as RunStoreError {
                switch error {
                case .unavailable, .failed, .unreachable:
                    // The server restarting or a network hiccup: the leases cover it; try again shortly.
                    report(.unreachable(reason: "\(error)"))
                    sleep(2)
                case .missing, .damaged:
                    throw error
                }
            }
            if worked {
                lastWork = Date()
            } else {
                if let idle = options.idleExitSeconds, Date().timeIntervalSince(lastWork) >= idle { return }
                // Idle, the roll hears from the worker every few seconds, not at every look at the queue.
                if Date().timeIntervalSince(lastSeen) >= 5 {
                    try? roll.seen(id, run: nil, candidate: nil)
                    lastSeen = Date()
                }
                usleep(200_000)
            }
        }
    }

    /// One pass over the runs, in name order: evaluates the first claimable candidate found.
    private func claimOnce(isStopped: @escaping @Sendable () -> Bool, report: (Event) -> Void) throws -> Bool {
        let names = try options.run.map { [$0.text] } ?? roll.runs()
        for name in names where !declined.contains(name) {
            // An evaluator (the data set, the engines) is built for a run only once it has work.
            guard let store = try store(name) else {
                // Said once: a misspelt name would otherwise look like an idle queue.
                if options.run != nil, waitingAnnounced.insert(name).inserted { report(.waitingForRun(run: name)) }
                continue
            }
            guard try store.hasClaimable(measures: served[name]?.measures ?? true),
                  let worker = try worker(for: name, store: store, report: report) else { continue }
            let outcome = try worker.evaluateNext(isStopped: isStopped) { claim in
                try? roll.seen(id, run: name, candidate: claim.candidate.index)
                report(.claimed(run: name, index: claim.candidate.index, architecture: claim.candidate.arch, attempt: claim.attempt))
            }
            if let outcome {
                try? roll.ended(id, outcome: outcome.outcome, seconds: outcome.seconds)
                report(.ended(run: name, outcome))
                return true
            }
        }
        return false
    }

    private func store(_ name: String) throws -> PostgresRunStore? {
        if let store = stores[name] { return store }
        do { stores[name] = try PostgresRunStore(url: options.url, name: name) } catch {
            if case .missing = error { return nil }  // dropped meanwhile
            throw error
        }
        return stores[name]
    }

    /// The evaluator of run `name`, built once: nil when this worker declines the run.
    private func worker(for name: String, store: PostgresRunStore, report: (Event) -> Void) throws -> QueueWorker? {
        if let worker = served[name] { return worker }
        let stored = try store.configuration()
        func decline(_ reason: String) -> QueueWorker? {
            declined.insert(name)
            report(.declined(run: name, reason: reason))
            return nil
        }
        var configuration: SearchConfiguration
        do { configuration = try SearchRun.configuration(in: store) } catch { return decline("\(error)") }
        guard configuration.threads <= options.threads else {
            return decline("it trains on \(configuration.threads) threads and this worker may use \(options.threads) (--threads); results depend on the thread count")
        }
        let worker: QueueWorker
        if let seconds = stored[Self.simulateKey].flatMap(Double.init) {
            worker = QueueWorker(id: id, queue: store, configuration: configuration, simulateSeconds: seconds)
        } else {
            // Latency this worker measures goes to its own machine's table.
            configuration.latencyTable = options.folder.latencyTable
            try FileManager.default.createDirectory(atPath: options.folder.path, withIntermediateDirectories: true)
            let evaluator: CandidateEvaluator
            do { evaluator = try CandidateEvaluator(configuration: configuration, space: try configuration.space()) } catch {
                return decline("\(error)")
            }
            let devices = options.otherDevice ? evaluator.fingerprints.mapValues { $0 + "+other" } : evaluator.fingerprints
            worker = try QueueWorker(id: id, queue: store, evaluator: evaluator, devices: devices)
            if !worker.measures {
                let expected = (stored[QueueWorker.fingerprintsKey]).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
                let differing = expected.keys.sorted().filter { expected[$0] != devices[$0] }
                    .map { "\($0): the run's \(expected[$0] ?? "-"), this machine's \(devices[$0] ?? "none")" }
                report(.trainsOnly(run: name, reason: "its latency is taken on other devices (\(differing.joined(separator: "; "))); this worker trains its candidates and a worker on the run's devices measures them"))
            }
        }
        worker.leaseSeconds = options.leaseSeconds
        served[name] = worker
        return worker
    }

    /// A run's configuration entry making its evaluations a sleep of that many
    /// seconds (`nas bench scale`).
    public static let simulateKey = "simulate_seconds"
}
