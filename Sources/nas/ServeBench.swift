import ArgumentParser
import Core
import Daemon
import Foundation

/// `nas bench serve`: requests to a daemon while it trains, and what they cost the training.
struct ServeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Latency of the daemon's API while a search trains, and the training speed it costs.",
        discussion: """
        Starts `nas serve` on a temporary runs directory, a tiny search in it (its proxy stretched so \
        one candidate trains through the measurement, on one thread), then sends GET /runs/{run} and \
        GET /runs/{run}/candidates from this process over --connections kept-alive connections. \
        Training images/s come from the run's own progress events: before, during and after the \
        requests, on the same candidate. Release build; --json for scripts.
        """
    )

    @Option(help: "Requests to each of the two routes.")
    var requests = 2000

    @Option(help: "Connections sending them at once.")
    var connections = 8

    @Option(help: "Seconds of each window without requests (before and after).")
    var quiet = 6.0

    @Option(help: "The tiny space (its proxy is replaced).")
    var space = "SearchSpaces/tiny.yaml"

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        try validating {
            try Limits.samples.check(requests, "--requests")
            try Limits.parallel.check(connections, "--connections")
            guard quiet.isFinite, quiet > 0, quiet <= 600 else {
                throw NasError.invalidInput("--quiet \(quiet) is not a window of seconds; give one in (0, 600]")
            }
        }
    }

    func run() throws {
        guard let text = try? String(contentsOfFile: space, encoding: .utf8) else {
            throw NasError.notFound("\(space) cannot be read; give SearchSpaces/tiny.yaml's path with --space")
        }
        let nas = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let result = try ServeBenchmark.run(nas: nas, spaceYAML: text, perRoute: requests, connections: connections,
                                            quietSeconds: quiet) { printError($0) }
        if json { return try printJSON(result) }
        print(String(format: """
            %d requests over %d connections in %.2f s: %d answered, p50 %.2f ms, p99 %.2f ms, max %.2f ms
            training (candidate %d): %.0f img/s before, %.0f during, %.0f after: %.3f of idle
            """, result.requests, result.connections, result.requestSeconds, result.answered, result.p50Ms, result.p99Ms,
                     result.maxMs, result.candidate, result.imagesPerSecondBefore, result.imagesPerSecondLoaded,
                     result.imagesPerSecondAfter, result.trainingRatio))
    }
}
