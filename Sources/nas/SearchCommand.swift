public import ArgumentParser
import Core
import Daemon
import Foundation
import Runs
import Search
import SearchSpace
import VulkanEngine

/// `--runs DIR`: where runs live.
struct RunsOption: ParsableArguments {
    @Option(help: "Directory of runs (default: $NASD_RUNS, else Runs/).")
    var runs: String = RunsFolder.defaultPath

    @Option(help: "Where runs are stored: a PostgreSQL URL (postgres://user@host:port/database, password in PGPASSWORD) shared with `nas worker` processes on any machine (default: $NASD_STORE, else SQLite files in --runs). Chosen once per run.")
    var store: String? = ProcessInfo.processInfo.environment["NASD_STORE"]

    var folder: RunsFolder { RunsFolder(path: runs, store: store) }
}

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search a space: propose, train on the proxy task, measure latency, reward, checkpoint.",
        discussion: """
        Every candidate and controller checkpoint is committed to Runs/<run>/run.sqlite as it \
        finishes, so a run killed at any moment continues with `nas resume RUN`, producing the same \
        candidates as if it had never stopped. Ctrl-C stops at the next training step (a second \
        Ctrl-C at once). Reward: MnasNet's ACC × (LAT/T)^w on --engine. Batch-1 latency is always \
        taken on the CPU engine (1 thread; the Pareto front is accuracy against it), and also on the \
        Vulkan device when --engine vulkan.
        """
    )

    @Option(help: "Search-space YAML file.")
    var space: String

    @Option(help: "Strategy: rl (MnasNet's LSTM controller, PPO), evolution (regularised) or random.")
    var strategy: SearchConfiguration.Strategy = .evolution

    @Option(help: "Candidates to evaluate (\(Limits.budget.text)).")
    var budget = 20

    @Option(help: "Stop after this many hours of the run (earlier sessions of a resumed run included), whatever the budget.")
    var hours: Double?

    @Option(help: "Seed of every random stream of the run.")
    var seed: UInt64 = 0

    @Option(name: .customLong("run"),
            help: "Run name: letters, digits, '.', '_', '-', up to 64 (default: <space name>-<strategy>-s<seed>).")
    var runName: String?

    @Option(help: "Engine whose latency the reward counts: cpu or vulkan (default: the space's).")
    var engine: LatencyEngineName?

    @Option(help: "Latency target in ms on that engine (default: the space's).")
    var targetMs: Double?

    @Option(help: "Size target for the stored weights in KB: the reward gains a factor (SIZE/S)^w like latency's (default: size does not count). Sizes count a block's _b codebooks packed (a space's bits choice).")
    var sizeTargetKb: Double?

    @Option(help: "Reward constraint: soft or hard (default: the space's).")
    var constraint: Reward.Constraint?

    @Option(help: "Latency for the reward: measured (the whole network) or predicted (latency table).")
    var latency: SearchConfiguration.LatencySource = .measured

    @Option(help: "OpenMP threads per candidate's training (\(Limits.threads.text); part of the run: results depend on it). Default with --parallel: the cores shared out; else 1 when the proxy's batch is at most 64 (small batches use one core best, so candidates train side by side), all cores otherwise.")
    var threads: Int?

    @Option(help: "Proxy task: default (the space's `proxy`) or search (its cheaper `search_proxy`).")
    var proxy: SearchConfiguration.ProxyChoice = .default

    @Option(name: .customLong("init"), help: "Candidates' weight initialisation: fan-in-uniform (PyTorch's default, the recommended one) or he-normal (runs made before the choice existed).")
    var initialisation: WeightInitialisation = .recommended

    @OptionGroup var parallel: ParallelOption

    @OptionGroup var runs: RunsOption

    @Flag(help: "With nas serve: submit the run, print its name and return (follow it with `nas watch`).")
    var detach = false

    @Flag(help: "Print the final status as JSON.")
    var json = false

    /// The options as the request the daemon's `POST /runs` also takes.
    private func request(spaceYAML: String = "") -> SearchRequest {
        var request = SearchRequest(spaceYAML: spaceYAML, spacePath: space)
        request.strategy = strategy
        request.budget = budget
        request.hours = hours
        request.seed = seed
        request.runName = runName
        request.engine = engine
        request.targetMs = targetMs
        request.sizeTargetKB = sizeTargetKb
        request.constraint = constraint
        request.latency = latency
        request.threads = threads
        request.proxy = proxy
        request.initialisation = initialisation
        request.parallel = parallel.parallel
        request.shared = runs.store != nil
        return request
    }

    func validate() throws { try validating { try request().check(.option) } }

    func run() throws {
        guard let text = try? String(contentsOfFile: space, encoding: .utf8) else {
            throw NasError.notFound("\(space): cannot be read; give the path of a search-space YAML file (shipped under SearchSpaces/)")
        }
        if let daemon = try DaemonClient.serving(runs.folder) {
            // The daemon checks the request as this command would, and owns the run from here.
            let reply = try daemon.request("POST", "/runs", json: request(spaceYAML: text).jsonBody())
            try daemon.check(reply, "start the run")
            let name = try RunName(existing: (try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["name"] as? String ?? "")
            if detach { return print(name) }
            printError("nas serve (\(daemon.address)) runs \(name); Ctrl-C stops it there")
            return try followOnDaemon(daemon, name: name, runs: runs, after: 0, json: json)
        }
        if detach {
            throw NasError.invalidInput("--detach hands the run to nas serve, and none serves \(runs.runs); start `nas serve --runs \(runs.runs)` first, or leave out --detach")
        }
        let prepared = try request(spaceYAML: text).prepare(.option, latencyTable: runs.folder.latencyTable)
        let search = try runs.folder.create(prepared.name, configuration: prepared.configuration, space: prepared.space,
                                            parallel: prepared.parallel)
        try drive(search, name: prepared.name, runs: runs.folder, json: json)
    }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Continue an interrupted run from its last checkpoint.")

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @OptionGroup var parallel: ParallelOption

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print the final status as JSON.")
    var json = false

    func validate() throws { try validating { _ = try RunName(existing: runName); try parallel.check(shared: runs.store != nil) } }

    func run() throws {
        let name = try RunName(existing: runName)
        if let daemon = try DaemonClient.serving(runs.folder) {
            let after = try daemon.lastEventID(name)
            try daemon.check(try daemon.request("POST", "/runs/\(name)/resume"), "resume the run")
            printError("nas serve (\(daemon.address)) resumes \(name); Ctrl-C stops it there")
            return try followOnDaemon(daemon, name: name, runs: runs, after: after, json: json)
        }
        try drive(try runs.folder.resume(name, parallel: parallel.parallel), name: name, runs: runs.folder, json: json)
    }
}

/// `--parallel`: candidates evaluated at once; any value gives the same run.
struct ParallelOption: ParsableArguments {
    @Option(help: "Candidates evaluated at once, each on --threads threads (\(Limits.parallel.text); at most the run's proposal window: random 8, rl 5, evolution 4; runs made before the window existed evaluate one at a time). Any value gives the same run, only faster or slower. Default: the cores shared out among the run's threads per candidate. With --store, the candidates this process evaluates beside `nas worker` processes (0: none).")
    var parallel: Int?

    /// With a shared store (`--store`), 0 is allowed: the workers evaluate everything.
    func check(shared: Bool) throws(NasError) {
        if !(shared && parallel == 0) { try Limits.parallel.check(parallel, "--parallel") }
    }
}

/// Ctrl-C asks the search to stop at the next training step: everything
/// finished is already committed, and the candidate in progress is redone
/// from its start on resume. A second Ctrl-C stops at once.
private func stopOnInterrupt(_ stop: StopRequest) -> any DispatchSourceSignal {
    signal(SIGINT, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    source.setEventHandler {
        if stop.isRequested { _exit(130) }
        stop.request()
    }
    source.resume()
    return source
}

/// Runs the loop with a progress display, then prints the status.
func drive(_ search: SearchRun, name: RunName, runs: RunsFolder, json: Bool) throws {
    let interrupt = stopOnInterrupt(search.stop)
    defer { interrupt.cancel() }
    var bar = ProgressBar()
    let budget = search.configuration.budget
    let target = search.configuration.reward.targetMilliseconds
    let engine = search.configuration.reward.engine
    var current = ""
    var labels: [Int: String] = [:]
    var finished = try search.store.candidates().filter { $0.status == .done }
    let started = Date()
    let startStep = search.completed
    // The live view: current candidate and its training, best reward, best
    // accuracy under the latency target, Pareto-front size, ETA.
    func summary(_ index: Int) -> String {
        let best = finished.compactMap(\.reward).max()
        let underTarget = Pareto.bestUnderTarget(finished, engine: engine, target: target)?.objectives.accuracy
        let front = Pareto.front(finished).count
        let done = index - startStep
        let eta = done > 0 ? Date().timeIntervalSince(started) / Double(done) * Double(budget - index) : 0
        return String(format: "best reward %@  best acc ≤%.3g ms %@ %@  front %d  ETA %@",
                      best.map { String(format: "%.4f", $0) } ?? "-", target, engine.rawValue,
                      underTarget.map { String(format: "%.4f", $0) } ?? "-", front, done > 0 ? clock(eta) : "-")
    }
    let outcome = try search.run { event in
        switch event {
        case let .started(index, architecture):
            labels[index] = "candidate \(index + 1)/\(budget) \(Architecture.hashText(architecture))"
            guard index == search.completed else { break }
            current = labels[index]!
            bar.update(fraction: Double(index) / Double(budget), detail: "\(current)  \(summary(index))", force: true)
        case let .training(index, p):
            // With --parallel the bar follows the candidate the run commits next.
            guard index == search.completed else { break }
            current = labels[index] ?? current
            bar.update(fraction: p.fraction, detail: String(format: "%@ epoch %d/%d step %d/%d loss %.3f", current, p.epoch,
                                                             p.epochs, p.step, p.stepsPerEpoch, p.loss))
        case let .finished(candidate):
            current = labels.removeValue(forKey: candidate.index) ?? current
            if candidate.status == .done { finished.append(candidate) }
            bar.update(fraction: Double(candidate.index + 1) / Double(budget),
                       detail: String(format: "%@ %@ accuracy %.4f reward %.4f  %@", current, candidate.status.rawValue,
                                      candidate.valAccuracy ?? 0, candidate.reward ?? 0, summary(candidate.index + 1)),
                       force: true)
        case let .remeasuring(done, total):
            bar.update(fraction: Double(done) / Double(total),
                       detail: "measuring the Pareto front's latency again: \(done)/\(total)", force: done == total)
        }
    }
    bar.finish()
    if outcome == .stopped {
        printError("\ninterrupted: every finished candidate is saved; continue with `nas resume \(name) --runs \(runs.path)`")
        leave(130)
    }
    let status = try RunStatus(search.store, name: name, configuration: search.configuration)
    if json { try printJSON(status) } else { print(status.text) }
}

// The CLI is the one place these domain enums become arguments.
extension Reward.Constraint: ExpressibleByArgument {}
extension LatencyEngineName: ExpressibleByArgument {}
extension VulkanPrecision: ExpressibleByArgument {}
extension SearchConfiguration.Strategy: ExpressibleByArgument {}
extension SearchConfiguration.LatencySource: ExpressibleByArgument {}
extension SearchConfiguration.ProxyChoice: ExpressibleByArgument {}
extension WeightInitialisation: ExpressibleByArgument {}
