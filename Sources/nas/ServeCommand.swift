import ArgumentParser
import Core
import Daemon
import Foundation
import Runs

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: an HTTP API (openapi.yaml) that starts, watches, stops and resumes searches.",
        discussion: """
        Listens on a Unix socket, nasd.sock in the runs directory (mode 0600), unless --listen \
        says otherwise. TCP on loopback needs no token; any other address needs one (--token-file \
        or NASD_TOKEN), and every request then carries `Authorization: Bearer <token>`. One daemon \
        per runs directory (a lock, nasd.lock, holds its pid).

        Runs queue and --workers of them search at once. SIGTERM or Ctrl-C stops the daemon within \
        10 s: active runs stop at their next training step, everything finished is committed, and \
        the next `nas serve` resumes them by itself, as it does after a kill -9 or a reboot.

        Try it: nas serve --listen 127.0.0.1:8080 &  then
          curl -X POST -H 'Content-Type: application/json' -d '{"space": "mnasnet-fm", "budget": 4}' http://127.0.0.1:8080/runs
          curl -N http://127.0.0.1:8080/runs/mnasnet-fm-evolution-s0/events
        """
    )

    @Option(help: "unix:PATH or HOST:PORT (port 0: any free one, printed at start). Default: unix:<runs>/nasd.sock.")
    var listen: String?

    @Option(help: "File holding the bearer token (at least 16 characters; default: $NASD_TOKEN).")
    var tokenFile: String?

    @Option(help: "Runs searching at once (\(Limits.parallel.text)); the cores are shared among them.")
    var workers = 1

    @Option(help: "Folder of the search spaces that POST /runs may name.")
    var spaces = "SearchSpaces"

    @OptionGroup var runs: RunsOption

    func validate() throws {
        try validating {
            try Limits.parallel.check(workers, "--workers")
            if let listen { _ = try ListenAddress(parsing: listen) }
        }
    }

    func run() throws {
        var token = ProcessInfo.processInfo.environment["NASD_TOKEN"]
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw NasError.notFound("--token-file \(tokenFile) cannot be read; write the token into it (such as `openssl rand -hex 32 > \(tokenFile)`)")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let options = DaemonOptions(runs: runs.folder, listen: try listen.map { text throws(NasError) in try ListenAddress(parsing: text) },
                                    token: token, workers: workers, spaces: spaces)
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await Daemon.serve(options) { address in
                    // Unbuffered: a script waiting for this line reads it while the daemon runs.
                    FileHandle.standardOutput.write(Data("nasd listening on \(address) (runs \(options.runs.path))\n".utf8))
                }
            } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
        print("nasd stopped")
    }
}

/// How the daemon's task ended, handed back to the command's thread.
private final class Outcome: @unchecked Sendable {
    var error: (any Error)?
}
