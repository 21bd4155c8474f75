import ArgumentParser
import Core
import Foundation
import RunStore
import Runs
import Search

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Evaluate candidates of runs stored in PostgreSQL, beside the process that owns each run.",
        discussion: """
        A run created with `nas search --store postgres://…` queues its candidates in the database; \
        any number of workers, on any machines, claim the lowest queued candidate, train it with the \
        run's own settings, and hand the result back in one transaction. A worker renews its claim \
        every second while it trains; a claim not renewed for --lease seconds (the worker killed, the \
        machine gone) returns the candidate to the queue, and a result from an expired claim is \
        discarded. Results are consumed in index order, so a run gives the same candidates whatever \
        the number of workers. SIGTERM or Ctrl-C gives the claim in progress back and exits 0.
        The worker needs the Fashion-MNIST files. Latency is taken only on the run's devices \
        (recorded when it was created): a worker on other devices trains candidates and leaves \
        their latency to a worker on the run's, saying so when it starts on the run.
        """
    )

    @Option(help: "The PostgreSQL URL runs are stored at (default: $NASD_STORE).")
    var store: String? = ProcessInfo.processInfo.environment["NASD_STORE"]

    @Option(name: .customLong("run"), help: "Serve this run only (default: every run in the database).")
    var runName: String?

    @Option(help: "Cores this worker may use (\(Limits.threads.text)); a run whose candidates train on more threads is left to other workers. Default: this machine's cores.")
    var threads: Int = RunsFolder.machineCores

    @Option(help: "Seconds a claim lasts without renewal before its candidate is given to another worker (\(Limits.leaseSeconds.text)).")
    var lease: Double = 30

    @Option(help: "Exit after this many seconds with nothing to claim (default: wait for work forever).")
    var exitWhenIdle: Double?

    @Option(help: "Directory holding this machine's latency table (default: $NASD_RUNS, else Runs/).")
    var runs: String = RunsFolder.defaultPath

    @Flag(help: "One JSON object per line for each claim, result and refusal.")
    var json = false

    @Flag(help: .hidden)
    var asOtherDevice = false

    func validate() throws {
        try validating {
            guard let store, !store.isEmpty else {
                throw NasError.invalidInput("nas worker needs the database: give --store postgres://user@host:port/database or set NASD_STORE")
            }
            _ = try RunsFolder(path: runs, store: store).postgres()
            if let runName { _ = try RunName(existing: runName) }
            try Limits.leaseSeconds.check(lease, "--lease")
            try Limits.idleSeconds.check(exitWhenIdle, "--exit-when-idle")
        }
    }

    func run() throws {
        let folder = RunsFolder(path: runs, store: store)
        guard let url = try folder.postgres() else { return }
        let worker = try Worker(options: .init(url: url, threads: threads, leaseSeconds: lease, run: try runName.map { try RunName(existing: $0) },
                                               idleExitSeconds: exitWhenIdle, folder: folder, otherDevice: asOtherDevice))
        let stop = StopRequest()
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        printError("nas worker \(worker.id): serving \(runName.map { "run \($0)" } ?? "every run") in \(url)")
        try worker.run(isStopped: { stop.isRequested }) { event in
            if json {
                print(Self.json(event))
                // A line per event as it happens, also into a pipe or a file.
                fflush(nil)
                return
            }
            switch event {
            case let .claimed(run, index, architecture, attempt):
                printError("\(run) #\(index)\(attempt > 1 ? " (claim \(attempt))" : ""): \(architecture)")
            case let .ended(run, outcome):
                let what = switch outcome.outcome {
                case .finished: "done"
                case .trained: "trained (its latency left to a worker on the run's devices)"
                case .measured: "latency measured"
                case .failed: "failed"
                case .discarded: "discarded (its lease had run out)"
                }
                printError(String(format: "%@ #%d: %@ in %.1f s", run, outcome.index, what, outcome.seconds))
            case let .declined(run, reason):
                printError("\(run): not served by this worker: \(reason)")
            case let .trainsOnly(run, reason):
                printError("\(run): \(reason)")
            case let .unreachable(reason):
                printError("the store is unreachable (\(reason)); trying again")
            case let .waitingForRun(run):
                printError("no run \(run) in \(url) yet: waiting for it (check the name with `nas runs --store …`)")
            }
        }
    }

    private static func json(_ event: Worker.Event) -> String {
        let object: [String: Any] = switch event {
        case let .claimed(run, index, architecture, attempt):
            ["event": "claimed", "run": run, "index": index, "arch": architecture, "attempt": attempt]
        case let .ended(run, outcome):
            ["event": "ended", "run": run, "index": outcome.index, "seconds": outcome.seconds, "outcome": "\(outcome.outcome)"]
        case let .declined(run, reason): ["event": "declined", "run": run, "reason": reason]
        case let .trainsOnly(run, reason): ["event": "trains-only", "run": run, "reason": reason]
        case let .unreachable(reason): ["event": "unreachable", "reason": reason]
        case let .waitingForRun(run): ["event": "waiting-for-run", "run": run]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
