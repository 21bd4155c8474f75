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
        Training images/s come from the run's own progress events (the daemon's time at each step), \
        on the same candidate, in --rounds rounds of: quiet, requests, quiet, control (one thread of \
        this process computing as long as the requests took). Each loaded window is compared with \
        the quiet ones beside it; the medians are reported. Release build; --json for scripts.
        """
    )

    @Option(help: "Requests to each of the two routes.")
    var requests = 2000

    @Option(help: "Connections sending them at once.")
    var connections = 8

    @Option(help: "Seconds of each window without requests.")
    var quiet = 4.0

    @Option(help: "Rounds of quiet, requests, quiet, control; the median is reported.")
    var rounds = 3

    @Option(help: "The tiny space (its proxy is replaced).")
    var space = "SearchSpaces/tiny.yaml"

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        try validating {
            try Limits.samples.check(requests, "--requests")
            try Limits.parallel.check(connections, "--connections")
            guard (1...20).contains(rounds) else { throw NasError.invalidInput("--rounds \(rounds): give 1 to 20") }
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
                                            quietSeconds: quiet, rounds: rounds) { printError($0) }
        if json { return try printJSON(result) }
        print(String(format: """
            %d requests over %d connections in %d rounds (a round's in %.2f s): %d answered, p50 %.2f ms, p99 %.2f ms, max %.2f ms
            training (candidate %d): %.0f img/s quiet, %.0f during requests: %.3f of quiet (median; rounds %@); %.0f images lost per 1,000 requests
            control, one core kept busy as long: %.3f of quiet (median; rounds %@)
            """, result.requests, result.connections, result.rounds, result.requestSeconds, result.answered, result.p50Ms,
                     result.p99Ms, result.maxMs, result.candidate, result.imagesPerSecondQuiet, result.imagesPerSecondLoaded,
                     result.trainingRatio, result.trainingRatios.map { String(format: "%.3f", $0) }.joined(separator: ", "),
                     result.imagesLostPerThousandRequests,
                     result.controlRatio, result.controlRatios.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
    }
}
