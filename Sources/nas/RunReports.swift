import ArgumentParser
import Foundation
import RunStore
import Search

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List the runs under --runs.")

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        var summaries: [[String: String]] = []
        for name in runs.names() {
            do {
                let store = try RunStore(path: SearchRun.databasePath(runs.directory(name)))
                guard let configuration = try SearchRun.configuration(in: store) else { continue }
                let status = try RunStatus(store, name: name, configuration: configuration)
                let best = status.candidates.compactMap(\.reward).max()
                summaries.append(["run": name, "strategy": status.strategy, "seed": "\(status.seed)", "done": "\(status.done)",
                                  "budget": "\(status.budget)", "best_reward": best.map { String(format: "%.4f", $0) } ?? "-"])
            } catch {
                summaries.append(["run": name, "error": "\(error)"])
            }
        }
        if json { try printJSON(summaries); return }
        var rows = [["run", "strategy", "seed", "done", "best reward"]]
        for s in summaries {
            rows.append([s["run"]!, s["strategy"] ?? "damaged", s["seed"] ?? "-", s.keys.contains("done") ? "\(s["done"]!)/\(s["budget"]!)" : "-",
                         s["best_reward"] ?? "-"])
        }
        print(table(rows))
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "A run's candidates and Pareto front.")

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let (store, configuration) = try runs.open(runName)
        let status = try RunStatus(store, name: runName, configuration: configuration)
        if json { try printJSON(status) } else { print(status.text) }
    }
}

/// `nas status` and the end of `nas search`: the run's candidates and Pareto front.
struct RunStatus: Encodable {
    struct Candidate: Encodable {
        let index: Int
        let arch, hash, status: String
        let valAccuracy: Double?
        let latencyMs: [String: Double]
        let params, macs: Int
        let reward, trainSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case index, arch, hash, status, params, macs, reward
            case valAccuracy = "val_accuracy", latencyMs = "latency_ms", trainSeconds = "train_seconds"
        }
    }

    let run, strategy: String
    let seed: UInt64
    let done, budget: Int
    let candidates: [Candidate]
    let pareto: [Int]
    let timeSplit: [String: Double]

    enum CodingKeys: String, CodingKey {
        case run, strategy, seed, done, budget, candidates, pareto
        case timeSplit = "time_split"
    }

    init(_ store: RunStore, name: String, configuration: SearchConfiguration) throws {
        run = name
        strategy = configuration.strategy.rawValue
        seed = configuration.seed
        budget = configuration.budget
        let records = try store.candidates()
        done = records.filter { $0.status == .done || $0.status == .failed }.count
        candidates = records.map { r in
            var latency: [String: Double] = [:]
            for engine in LatencyEngineName.allCases { latency[engine.rawValue] = r.latency(on: engine) }
            return Candidate(index: r.index, arch: r.arch, hash: r.hash, status: r.status.rawValue, valAccuracy: r.valAccuracy,
                             latencyMs: latency, params: r.params, macs: r.macs, reward: r.reward, trainSeconds: r.trainSeconds)
        }
        let training = records.compactMap(\.trainSeconds).reduce(0, +)
        let latency = records.compactMap(\.latencySeconds).reduce(0, +)
        let overhead = records.compactMap(\.overheadSeconds).reduce(0, +)
        let total = training + latency + overhead
        timeSplit = ["training_seconds": training, "latency_seconds": latency, "controller_store_seconds": overhead,
                     "controller_store_fraction": total > 0 ? overhead / total : 0].mapValues { ($0 * 1e4).rounded() / 1e4 }
        let finished = candidates.filter { $0.status == "done" && $0.valAccuracy != nil && $0.latencyMs["cpu"] != nil }
        pareto = Pareto.front(finished.map { Objectives(accuracy: $0.valAccuracy!, latencyMilliseconds: $0.latencyMs["cpu"]!) })
            .map { finished[$0].index }
    }

    var text: String {
        let engines = LatencyEngineName.allCases.map(\.rawValue).filter { e in candidates.contains { $0.latencyMs[e] != nil } }
        var rows = [["#", "hash", "status", "accuracy"] + engines.map { "\($0) ms" } + ["reward", "pareto"]]
        for c in candidates {
            let accuracy = c.valAccuracy.map { String(format: "%.4f", $0) } ?? "-"
            let latencies: [String] = engines.map { e in c.latencyMs[e].map { String(format: "%.4f", $0) } ?? "-" }
            let reward = c.reward.map { String(format: "%.4f", $0) } ?? "-"
            rows.append(["\(c.index)", c.hash, c.status, accuracy] + latencies + [reward, pareto.contains(c.index) ? "★" : ""])
        }
        let split = String(format: "time: training %.1f s, latency %.1f s, controller and store %.2f s (%.2f%%)",
                           timeSplit["training_seconds"] ?? 0, timeSplit["latency_seconds"] ?? 0,
                           timeSplit["controller_store_seconds"] ?? 0, (timeSplit["controller_store_fraction"] ?? 0) * 100)
        return "run \(run): \(strategy), seed \(seed), \(done)/\(budget) done\n" + table(rows, rightAligned: Set([0] + Array(3..<(5 + engines.count))))
            + "\n" + split
    }
}
