import ArgumentParser
import Core
import Foundation
import RunStore
import Runs
import Search

/// `nas bench scale`: how a search's throughput grows with the number of
/// `nas worker` processes sharing a PostgreSQL store, each evaluation
/// replaced by a fixed sleep so that the 2 cores do not cap it.
struct ScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Throughput of one search with 1, 2, 4, 8 … workers on a PostgreSQL store (evaluations simulated by a sleep).",
        discussion: """
        For each worker count N, a random search of N × --per-worker candidates on mnasnet-fm is \
        created in the store with its evaluations replaced by a --simulate-seconds sleep; N real \
        `nas worker` processes claim them through the real queue, and this process coordinates \
        (proposal windows of 8, results in index order, one commit per candidate). Ideal: every \
        worker busy all the time, so each setting lasts --per-worker × --simulate-seconds. \
        Efficiency is throughput ÷ (N × the 1-worker throughput). The runs are removed afterwards.
        """
    )

    @Option(help: "The PostgreSQL URL (default: $NASD_STORE).")
    var store: String? = ProcessInfo.processInfo.environment["NASD_STORE"]

    @Option(help: "Worker counts to compare, comma separated.")
    var workers = "1,2,4,8"

    @Option(help: "Seconds each simulated evaluation sleeps.")
    var simulateSeconds = 2.0

    @Option(help: "Candidates per worker in each setting.")
    var perWorker = 4

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        try validating {
            _ = try url()
            _ = try counts()
            try Limits.simulateSeconds.check(simulateSeconds, "--simulate-seconds")
            try Limits.perWorker.check(perWorker, "--per-worker")
        }
    }

    private func url() throws(NasError) -> PostgresURL {
        guard let store, !store.isEmpty, let url = try RunsFolder(path: RunsFolder.defaultPath, store: store).postgres() else {
            throw .invalidInput("nas bench scale needs a PostgreSQL server: give --store postgres://user@host:port/database or set NASD_STORE")
        }
        return url
    }

    private func counts() throws(NasError) -> [Int] {
        let counts = workers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0.map(Limits.benchWorkers.contains) == true }) else {
            throw .invalidInput("--workers '\(workers)': give worker counts in \(Limits.benchWorkers.text), comma separated (e.g. 1,2,4,8)")
        }
        return counts.compactMap { $0 }
    }

    struct Result: Encodable {
        let workers, candidates: Int
        let wallSeconds, idealSeconds, candidatesPerSecond: Double
        var efficiency: Double?
        let coordinatorSecondsPerCandidate, handoffSecondsPerCandidate, claims: Double
        enum CodingKeys: String, CodingKey {
            case workers, candidates, efficiency, claims
            case wallSeconds = "wall_seconds", idealSeconds = "ideal_seconds", candidatesPerSecond = "candidates_per_second"
            case coordinatorSecondsPerCandidate = "coordinator_seconds_per_candidate"
            case handoffSecondsPerCandidate = "handoff_seconds_per_candidate"
        }
    }

    struct Report: Encodable {
        let simulateSeconds: Double
        let perWorker: Int
        /// One store transaction as the coordinator polls: the database's share of every step.
        let databaseMillisecondsPerTransaction: Double
        let results: [Result]
        enum CodingKeys: String, CodingKey {
            case results
            case simulateSeconds = "simulate_seconds", perWorker = "per_worker"
            case databaseMillisecondsPerTransaction = "database_ms_per_transaction"
        }
    }

    func run() throws {
        let url = try url()
        let folder = RunsFolder(path: FileManager.default.temporaryDirectory.appendingPathComponent("nasd-scale-\(UUID().uuidString)").path,
                                store: store)
        defer { try? FileManager.default.removeItem(atPath: folder.path) }
        var results: [Result] = []
        var transactionMs: [Double] = []
        for count in try counts() {
            let (result, polls) = try measure(workers: count, folder: folder, url: url)
            results.append(result)
            transactionMs.append(polls)
            if !json { printError(String(format: "%d workers: %d candidates in %.1f s (ideal %.1f s)", count, result.candidates, result.wallSeconds, result.idealSeconds)) }
        }
        if let single = results.first(where: { $0.workers == 1 }) {
            for i in results.indices {
                results[i].efficiency = results[i].candidatesPerSecond / (Double(results[i].workers) * single.candidatesPerSecond)
            }
        }
        let report = Report(simulateSeconds: simulateSeconds, perWorker: perWorker,
                            databaseMillisecondsPerTransaction: transactionMs.sorted()[transactionMs.count / 2], results: results)
        if json { return try printJSON(report) }
        var rows = [["workers", "candidates", "wall s", "ideal s", "per s", "efficiency", "coordinator s/cand", "handoff s/cand"]]
        for r in results {
            rows.append(["\(r.workers)", "\(r.candidates)", String(format: "%.1f", r.wallSeconds), String(format: "%.1f", r.idealSeconds),
                         String(format: "%.2f", r.candidatesPerSecond), r.efficiency.map { String(format: "%.3f", $0) } ?? "-",
                         String(format: "%.4f", r.coordinatorSecondsPerCandidate), String(format: "%.3f", r.handoffSecondsPerCandidate)])
        }
        print(table(rows, rightAligned: Set(0..<8)))
        print(String(format: "database: %.2f ms per transaction (the coordinator's poll)", report.databaseMillisecondsPerTransaction))
    }

    private func measure(workers count: Int, folder: RunsFolder, url: PostgresURL) throws -> (Result, Double) {
        let name = try RunName("scale-\(count)-\(UUID().uuidString.prefix(8).lowercased())")
        var request = SearchRequest(spaceYAML: try String(contentsOfFile: "SearchSpaces/mnasnet-fm.yaml", encoding: .utf8),
                                    spacePath: "SearchSpaces/mnasnet-fm.yaml")
        request.strategy = .random
        request.seed = 1
        request.budget = count * perWorker
        request.threads = 1
        request.runName = name.text
        request.parallel = 0
        request.shared = true
        let prepared = try request.prepare(.option, latencyTable: folder.latencyTable)
        let search = try folder.create(name, configuration: prepared.configuration, space: prepared.space, parallel: 0,
                                       settings: [Worker.simulateKey: "\(simulateSeconds)"])
        defer { try? PostgresRunStore.drop(url: url, name: name.text) }
        // Simulated latencies are not measured again.
        search.finishing = nil
        let processes = try (0..<count).map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = ["worker", "--store", store ?? "", "--run", name.text, "--threads", "1", "--exit-when-idle", "5"]
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        defer {
            for process in processes where process.isRunning { process.terminate() }
            for process in processes { process.waitUntilExit() }
        }
        let start = Date()
        try search.run()
        let wall = Date().timeIntervalSince(start)
        let records = try search.store.candidates()
        let queue = try (search.store as? any WorkQueue)?.queueSummary()
        // The database's share: the coordinator's poll of one candidate, timed alone.
        let polls = try (0..<50).map { _ in
            let t = Date()
            _ = try (search.store as? any WorkQueue)?.queued(0)
            return Date().timeIntervalSince(t) * 1000
        }.sorted()[25]
        let rounds = Double(records.count) / Double(count)
        let ideal = rounds * simulateSeconds
        let overhead = records.compactMap(\.overheadSeconds).reduce(0, +) / Double(max(records.count, 1))
        return (Result(workers: count, candidates: records.count, wallSeconds: wall, idealSeconds: ideal,
                       candidatesPerSecond: Double(records.count) / wall, efficiency: nil,
                       coordinatorSecondsPerCandidate: overhead, handoffSecondsPerCandidate: (wall - ideal) / rounds,
                       claims: Double(queue?.claims ?? 0)), polls)
    }
}
