import ArgumentParser
import Core
import Daemon
import Foundation
import Runs
import Search

/// `nas search` and `nas resume` when `nas serve` owns the runs directory:
/// the daemon drives the run, this process follows its event stream with
/// the same progress bar, and Ctrl-C asks the daemon to stop the run (a
/// second Ctrl-C leaves at once; the run stops all the same).
func followOnDaemon(_ daemon: DaemonClient, name: RunName, runs: RunsOption, after: Int, json: Bool) throws {
    let interrupt = stopDaemonRunOnInterrupt(daemon, name)
    defer { interrupt.cancel() }
    let budget = try daemon.run(name).run.budget
    var bar = ProgressBar()
    var ending: DaemonClient.Event?
    try daemon.follow("/runs/\(name)/events?after=\(after)") { event in
        let fields = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any] ?? [:]
        switch event.kind {
        case "progress":
            let index = fields["index"] as? Int ?? 0
            bar.update(fraction: fields["fraction"] as? Double ?? 0, detail: String(
                format: "candidate %d/%d epoch %d/%d step %d/%d loss %.3f (nasd)", index + 1, budget, fields["epoch"] as? Int ?? 0,
                fields["epochs"] as? Int ?? 0, fields["step"] as? Int ?? 0, fields["steps_per_epoch"] as? Int ?? 0,
                fields["loss"] as? Double ?? 0))
        case "candidate-done", "candidate-failed":
            let candidate = fields["candidate"] as? [String: Any] ?? [:]
            bar.update(fraction: Double(fields["step"] as? Int ?? 0) / Double(budget), detail: String(
                format: "candidate %d/%d %@ accuracy %.4f reward %.4f", (candidate["index"] as? Int ?? 0) + 1, budget,
                candidate["status"] as? String ?? "", candidate["val_accuracy"] as? Double ?? 0,
                candidate["reward"] as? Double ?? 0), force: true)
        case "finished", "stopped", "failed":
            ending = event
            return false
        default: break
        }
        return true
    }
    bar.finish()
    let message = ((try? JSONSerialization.jsonObject(with: Data((ending?.data ?? "{}").utf8))) as? [String: Any])?["message"] as? String
    switch ending?.kind {
    case "finished"?: break
    case "stopped"?:
        printError("\nstopped: every finished candidate is saved; continue with `nas resume \(name) --runs \(runs.runs)`")
        leave(130)
    case "failed"?: throw NasError.environment("the daemon's run \(name) failed: \(message ?? "see `nas status \(name)`")")
    default: throw NasError.environment("the daemon closed the event stream of \(name) before the run ended (it is shutting down?); the run resumes when it starts again")
    }
    let status = try daemon.run(name).status
    if json { try printJSON(status) } else { print(status.text) }
}

private func stopDaemonRunOnInterrupt(_ daemon: DaemonClient, _ name: RunName) -> any DispatchSourceSignal {
    signal(SIGINT, SIG_IGN)
    let asked = StopRequest()
    let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
    source.setEventHandler {
        if asked.isRequested { _exit(130) }
        asked.request()
        _ = try? daemon.request("POST", "/runs/\(name)/stop")
    }
    source.resume()
    return source
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a run that nas serve is driving, with the live view of nas search, until it ends.")

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print the final status as JSON.")
    var json = false

    func validate() throws { try validating { _ = try RunName(existing: runName) } }

    func run() throws {
        let name = try RunName(existing: runName)
        guard let daemon = try DaemonClient.serving(runs.folder) else {
            throw NasError.invalidInput("no nas serve owns \(runs.runs); `nas status \(name)` shows the run as it stands")
        }
        let state = try daemon.run(name).run.state
        guard state == "queued" || state == "active" else {
            throw NasError.invalidInput("run \(name) is \(state); `nas status \(name)` shows it, `nas resume \(name)` continues it")
        }
        // From the last event logged: the live view follows what happens next.
        try followOnDaemon(daemon, name: name, runs: runs, after: try daemon.lastEventID(name), json: json)
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a run that nas serve is driving, at its next training step (resume continues it exactly).")

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @OptionGroup var runs: RunsOption

    func validate() throws { try validating { _ = try RunName(existing: runName) } }

    func run() throws {
        let name = try RunName(existing: runName)
        guard let daemon = try DaemonClient.serving(runs.folder) else {
            throw NasError.invalidInput("no nas serve owns \(runs.runs); a search started in a terminal stops with Ctrl-C there")
        }
        let reply = try daemon.request("POST", "/runs/\(name)/stop")
        try daemon.check(reply, "stop the run")
        print("\(name): \((try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["state"] as? String ?? "stopping")")
    }
}
