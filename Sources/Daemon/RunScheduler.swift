import Core
import Foundation
import RunStore
import Runs
import Search

/// The daemon's runs at work: a queue, `workers` runs searching at once, each
/// on a thread of its own (a search is synchronous compute), and what each
/// is doing right now for the event streams. The runs the daemon owes work to
/// (queued or active) are kept in `<runs>/nasd-queue.json`, rewritten
/// atomically on every change, so a daemon that is killed or rebooted takes
/// them up again when it starts; what they had finished is in their stores.
final class RunScheduler: @unchecked Sendable {
    enum State: String, Codable, Sendable {
        case queued, active, stopping
    }

    /// What an active run is doing between commits: the candidate in progress
    /// and its training step. Sent as events without ids (they are not in the
    /// run's log, and a client that reconnects needs only the latest).
    struct Live: Sendable {
        var sequence = 0
        var kind = ""
        var json = ""
    }

    let folder: RunsFolder
    let workers: Int
    let metrics: DaemonMetrics
    private let lock = NSLock()
    private let wake = NSCondition()
    private var queue: [RunName] = []
    private var active: [RunName: (search: SearchRun?, state: State)] = [:]
    /// Candidates at once asked for by the request that queued a run (nil: the run's share of the cores).
    private var parallelism: [RunName: Int] = [:]
    private var live: [RunName: Live] = [:]
    /// Why a run the daemon drove stopped with an error, by run.
    private var failures: [RunName: String] = [:]
    private var accepting = true
    private var threads: [Thread] = []
    private let idle = DispatchGroup()

    init(folder: RunsFolder, workers: Int, metrics: DaemonMetrics) {
        self.folder = folder
        self.workers = workers
        self.metrics = metrics
    }

    private var queuePath: String { folder.path + "/nasd-queue.json" }

    /// Starts the workers, after taking up the runs an earlier daemon left queued or active.
    func start() throws {
        if let data = FileManager.default.contents(atPath: queuePath) {
            guard let names = try? JSONDecoder().decode([String].self, from: data) else {
                throw NasError.damaged("\(queuePath) is not a list of run names; remove it (the runs themselves are untouched) and resume them with `nas resume`")
            }
            let stored = Set(try folder.storedNames())
            for text in names {
                guard let name = try? RunName(existing: text), stored.contains(name) else { continue }
                queue.append(name)
            }
        }
        try persist()
        for slot in 0..<workers {
            let thread = Thread { [self] in
                ServingPriority.trainCurrentThread()
                work()
            }
            thread.name = "nasd-worker-\(slot)"
            idle.enter()
            threads.append(thread)
            thread.start()
        }
    }

    // MARK: Requests

    /// A new run: created whole (or not at all) by `RunsFolder.create`, then queued.
    func submit(_ prepared: SearchRequest.Prepared) throws -> RunName {
        guard isAccepting else { throw NasError.environment("the daemon is shutting down; submit the run again when it is back") }
        // Created (its engines and data checked) here, then let go: the worker opens it again on its own
        // thread, so that the threads the engines start (lavapipe's among them) take the worker's priority,
        // not this serving thread's lowered one.
        _ = try folder.create(prepared.name, configuration: prepared.configuration, space: prepared.space,
                              parallel: prepared.parallel)
        try enqueue(prepared.name, parallel: prepared.parallel)
        return prepared.name
    }

    /// Queues an existing run to continue from its last checkpoint.
    func resume(_ name: RunName) throws {
        let (store, configuration) = try folder.open(name)
        let completed = try store.latestCheckpoint()?.step ?? 0
        guard completed < configuration.budget else {
            throw DaemonError.conflict("run \(name) has finished its budget (\(completed) of \(configuration.budget) candidates); start a new run to search further")
        }
        try enqueue(name, parallel: nil)
    }

    private func enqueue(_ name: RunName, parallel: Int?) throws {
        try lock.withLock { () throws in
            guard accepting else { throw NasError.environment("the daemon is shutting down; resume the run when it is back") }
            if let state = stateLocked(name) {
                throw DaemonError.conflict("run \(name) is already \(state.rawValue); stop it first with POST /runs/\(name)/stop")
            }
            queue.append(name)
            parallelism[name] = parallel
            failures[name] = nil
            try persist()
        }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Stops a run: a queued one leaves the queue, an active one stops at its
    /// next training step (what it finished is committed; the candidate in
    /// progress is redone on resume).
    func stop(_ name: RunName) throws -> State {
        try lock.withLock { () throws -> State in
            if let position = queue.firstIndex(of: name) {
                queue.remove(at: position)
                parallelism[name] = nil
                try persist()
                return .queued
            }
            guard let entry = active[name] else {
                throw DaemonError.conflict("run \(name) is not running; start it again with POST /runs/\(name)/resume")
            }
            entry.search?.stop.request()
            active[name] = (entry.search, .stopping)
            return .stopping
        }
    }

    func state(_ name: RunName) -> State? { lock.withLock { stateLocked(name) } }

    private func stateLocked(_ name: RunName) -> State? {
        if let entry = active[name] { return entry.state }
        return queue.contains(name) ? .queued : nil
    }

    func failure(_ name: RunName) -> String? { lock.withLock { failures[name] } }

    func live(_ name: RunName) -> Live? { lock.withLock { live[name] } }

    /// Runs queued and active, for health and metrics.
    var counts: (queued: Int, active: Int) { lock.withLock { (queue.count, active.count) } }

    var isAccepting: Bool { lock.withLock { accepting } }

    // MARK: Shutdown

    /// Stops accepting, asks every active run to stop at its next training
    /// step, and waits for the workers (at most `timeout` seconds). The runs
    /// stay in the queue file, so the next daemon resumes them.
    func shutdown(timeout: Double) -> Bool {
        lock.withLock {
            accepting = false
            for entry in active.values { entry.search?.stop.request() }
        }
        wake.lock()
        wake.broadcast()
        wake.unlock()
        return idle.wait(timeout: .now() + timeout) == .success
    }

    // MARK: Workers

    private func work() {
        defer { idle.leave() }
        while let (name, parallel) = next() {
            drive(name, parallel: parallel)
        }
    }

    /// The next queued run, made active; nil once the daemon shuts down.
    private func next() -> (RunName, Int?)? {
        wake.lock()
        defer { wake.unlock() }
        while true {
            let taken: (RunName, Int?)?? = lock.withLock {
                guard accepting else { return .some(nil) }
                guard !queue.isEmpty else { return nil }
                let name = queue.removeFirst()
                active[name] = (nil, .active)
                return .some((name, parallelism.removeValue(forKey: name)))
            }
            if let taken { return taken }
            wake.wait()
        }
    }

    private func drive(_ name: RunName, parallel asked: Int?) {
        var outcome: SearchOutcome?
        do {
            // Candidates at once: as asked, else the run's share of the cores at its threads each.
            let threads = try folder.open(name).configuration.threads
            let parallel = asked ?? max(1, RunsFolder.machineCores / workers / threads)
            let search = try folder.resume(name, parallel: parallel)
            let stopNow = lock.withLock { () -> Bool in
                let state = active[name]?.state ?? .active
                active[name] = (search, state)
                return state == .stopping || !accepting
            }
            if stopNow { search.stop.request() }
            outcome = try search.run { [self] event in publish(name, event) }
        } catch {
            lock.withLock { failures[name] = "\(error)" }
            if let store = try? folder.open(name).store { try? store.log("failed", "\(error)") }
        }
        lock.withLock {
            let state = active.removeValue(forKey: name)?.state
            live[name] = nil
            // Stopped by a shutdown: still owed, so the next daemon resumes it.
            if outcome == .stopped, state != .stopping, !accepting {
                queue.insert(name, at: 0)
            }
            try? persist()
        }
    }

    private func publish(_ name: RunName, _ event: SearchEvent) {
        let kind: String, fields: [String: Any]
        switch event {
        case let .started(index, architecture):
            kind = "candidate-started"
            fields = ["index": index, "arch": architecture]
        case let .training(index, p):
            metrics.training(run: name.text, imagesPerSecond: p.imagesPerSecond)
            kind = "progress"
            fields = ["index": index, "epoch": p.epoch, "epochs": p.epochs, "step": p.step, "steps_per_epoch": p.stepsPerEpoch,
                      "loss": p.loss.isFinite ? p.loss : -1, "images_per_second": p.imagesPerSecond, "fraction": p.fraction,
                      "at": timestamp(Date())]
        case let .finished(candidate):
            metrics.committed(run: name.text, candidate)
            return  // in the run's log, committed with its candidate
        case .remeasuring:
            return  // the run's log gets one "remeasured" event when the figures are stored
        }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        lock.withLock {
            var entry = live[name] ?? Live()
            entry.sequence += 1
            entry.kind = kind
            entry.json = String(decoding: data, as: UTF8.self)
            live[name] = entry
        }
    }

    /// Writes the runs owed work (queued and active, in order) atomically. Called under `lock`.
    private func persist() throws {
        let names = (active.keys.sorted() + queue).map(\.text)
        let data = try JSONEncoder().encode(names)
        do { try data.write(to: URL(fileURLWithPath: queuePath), options: .atomic) } catch {
            throw NasError.environment("cannot write \(queuePath) (\(error)); check that the runs directory is writable")
        }
    }
}
