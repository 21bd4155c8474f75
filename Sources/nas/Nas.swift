import ArgumentParser
import Core
import Foundation

@main
struct Nas: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nas",
        abstract: "nasd: neural architecture search for mobile CNNs.",
        discussion: """
        Search spaces are YAML files (shipped under SearchSpaces/). An architecture is one \
        canonical string, e.g.
          r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|head_o256
        and a candidate is named everywhere by the first 12 hex digits of its SHA-256.

        Exit status: 0 on success; 2 when an input is unusable (an invalid option, file or string, \
        something named that does not exist, a damaged run or file); 1 when the machine lacks \
        something (a Vulkan device, the data set, memory) or nasd failed. The message says which \
        and what to do.
        """,
        subcommands: [SpaceCommand.self, ArchCommand.self, TrainCommand.self, SearchCommand.self, ResumeCommand.self, StopCommand.self, WatchCommand.self, RunsCommand.self, StatusCommand.self, CompareCommand.self, ParetoCommand.self, RemeasureCommand.self, ExportCommand.self, CompressCommand.self, ServeCommand.self, WorkerCommand.self, LatencyCommand.self, ParityCommand.self, BenchCommand.self]
    )

    /// As ArgumentParser's, except that every error nasd raises exits with the
    /// status of its kind (`ExitStatus`), and a bad option exits 2 like every
    /// other invalid input (ArgumentParser's own code for it is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            leave(0)
        } catch let error as any ClassifiedError {
            printError("error: \(error)")
            leave(ExitStatus.of(error.kind))
        } catch {
            switch exitCode(for: error) {
            case .validationFailure:
                printError(fullMessage(for: error))
                leave(ExitStatus.of(.invalidInput))
            case .failure where !(error is ExitCode):
                // An error nobody classified: a gap in nasd, reported as internal.
                printError("error: \(error)")
                leave(ExitStatus.of(.internal))
            default:
                exit(withError: error)  // --help, --version, or an exit status already decided
            }
        }
    }
}
