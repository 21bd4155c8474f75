import ArgumentParser
import Core
import Daemon
import Foundation
import Runs
import Search

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "List the runs under --runs.")

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        var summaries: [[String: String]] = []
        if let daemon = try DaemonClient.serving(runs.folder) {
            // The daemon's list adds each run's state (queued, active…) to what the store says.
            for run in try daemon.runs() {
                summaries.append(run.state == "damaged" ? ["run": run.name, "state": run.state, "error": run.failure ?? ""] : [
                    "run": run.name, "state": run.state, "strategy": run.strategy, "seed": "\(run.seed)", "done": "\(run.done)",
                    "budget": "\(run.budget)", "best_reward": run.bestReward.map { String(format: "%.4f", $0) } ?? "-"])
            }
        } else {
            summaries = try local()
        }
        if json { try printJSON(summaries); return }
        let states = summaries.contains { $0["state"] != nil }
        var rows = [["run", "strategy", "seed", "done", "best reward"] + (states ? ["state"] : [])]
        for s in summaries {
            rows.append([s["run"]!, s["strategy"] ?? "damaged", s["seed"] ?? "-", s.keys.contains("done") ? "\(s["done"]!)/\(s["budget"]!)" : "-",
                         s["best_reward"] ?? "-"] + (states ? [s["state"] ?? "-"] : []))
        }
        print(table(rows))
    }

    /// The runs as their stores say, with no daemon to ask.
    private func local() throws -> [[String: String]] {
        var summaries: [[String: String]] = []
        for name in try runs.folder.storedNames() {
            do {
                let (store, configuration) = try runs.folder.open(name)
                let status = try RunStatus(store, name: name, configuration: configuration)
                let best = status.candidates.compactMap(\.reward).max()
                summaries.append(["run": name.text, "strategy": status.strategy, "seed": "\(status.seed)", "done": "\(status.done)",
                                  "budget": "\(status.budget)", "best_reward": best.map { String(format: "%.4f", $0) } ?? "-"])
            } catch {
                summaries.append(["run": name.text, "error": "\(error)"])
            }
        }
        return summaries
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "A run's candidates and Pareto front.")

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws { try validating { _ = try RunName(existing: runName) } }

    func run() throws {
        let name = try RunName(existing: runName)
        if let daemon = try DaemonClient.serving(runs.folder) {
            let (run, status) = try daemon.run(name)
            if json { return try printJSON(status) }
            print(status.text)
            print("state: \(run.state) (nas serve at \(daemon.address))" + (run.failure.map { ": \($0)" } ?? ""))
            return
        }
        let (store, configuration) = try runs.folder.open(name)
        let status = try RunStatus(store, name: name, configuration: configuration)
        if json { try printJSON(status) } else { print(status.text) }
    }
}

extension RunStatus.Shared {
    /// The queue's figures and the workers seen in the last hour, with their throughput.
    var text: String {
        var lines = ["\(store): queue \(queue.queued) queued, \(queue.claimed) claimed, \(queue.awaitingLatency) trained and waiting for latency, \(queue.done) delivered (\(queue.trainedElsewhere) trained on other devices); \(queue.claims) claims, \(queue.reissued) candidates re-issued after a lost worker"]
        for lease in leases {
            let progress = lease.progress.map { String(format: ", epoch %d/%d step %d/%d", $0.epoch, $0.epochs, $0.step, $0.stepsPerEpoch) } ?? ""
            let left = lease.secondsLeft >= 0 ? String(format: "lease %.0f s left", lease.secondsLeft)
                : String(format: "lease ran out %.0f s ago: claimable again", -lease.secondsLeft)
            lines.append("#\(lease.index) held by \(lease.worker) (claim \(lease.attempt), \(left)\(progress))")
        }
        // A worker renews its claim every second and, idle, signs in every 5 s: one not heard
        // of for a minute is gone (killed, or its machine lost) even if it never said so.
        let running = workers.filter { $0.stoppedAt == nil && $0.seenAt.timeIntervalSinceNow > -60 }
        let gone = workers.count - running.count
        let ended = gone > 0 ? " (and \(gone) stopped or lost in the last hour: --json lists them)" : ""
        guard !running.isEmpty else { return (lines + ["no worker running\(ended)"]).joined(separator: "\n") }
        var rows = [["worker", "threads", "holds", "done", "failed", "discarded", "per hour busy", "last seen"]]
        for w in running {
            let perHour = w.busySeconds > 0 ? String(format: "%.0f", Double(w.finished + w.failed) / w.busySeconds * 3600) : "-"
            let holds = w.run.map { "\($0) #\(w.candidate.map(String.init) ?? "-")" } ?? "idle"
            rows.append([w.id, "\(w.threads)", holds, "\(w.finished)", "\(w.failed)", "\(w.discarded)", perHour,
                         String(format: "%.0f s ago", max(0, -w.seenAt.timeIntervalSinceNow))])
        }
        lines.append(table(rows, rightAligned: [1, 3, 4, 5, 6]) + ended)
        return lines.joined(separator: "\n")
    }
}

extension RunStatus {
    /// `nas status`'s table: one row per candidate, ★ on the Pareto front.
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
            + "\n" + split + (shared.map { "\n" + $0.text } ?? "")
    }
}
