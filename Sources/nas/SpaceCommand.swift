import ArgumentParser
import Core
import Foundation
import GSLNumerics
import SearchSpace

struct SpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "space",
        abstract: "Check search-space files and sample architectures from them.",
        subcommands: [Check.self, Sample.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate search-space files and summarise them.",
            discussion: """
            Prints each space's blocks, the choices per block and the number of distinct \
            architectures (as log10). A bad file is reported as FILE:LINE:COLUMN: error: REASON, \
            one line per problem, and the exit status is 2.
            """
        )

        @Argument(help: "Search-space YAML files, e.g. SearchSpaces/mnasnet-fm.yaml.")
        var files: [String]

        @Flag(help: "Print a JSON array with one object per file (errors included) instead of text.")
        var json = false

        func run() throws {
            var reports: [SpaceReport] = []
            var failed = false
            for path in files {
                do {
                    let space = try SearchSpace(contentsOf: path)
                    reports.append(SpaceReport(path: path, space: space))
                    if !json { print(SpaceReport.text(space, path: path)) }
                } catch {
                    failed = true
                    reports.append(SpaceReport(path: path, errors: error.diagnostics))
                    if !json { FileHandle.standardError.write(Data((error.description + "\n").utf8)) }
                }
            }
            if json { try printJSON(reports) }
            if failed { throw ExitCode(ExitStatus.of(.invalidInput)) }
        }
    }

    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw architectures uniformly from a search space.",
            discussion: """
            Every decision of the space is drawn uniformly and independently from the random \
            stream "sample" of the seed, so the same seed prints the same architectures.
            """
        )

        @Argument(help: "A search-space YAML file.")
        var file: String

        @Option(help: "The seed of the random stream.")
        var seed: UInt64 = 0

        @Option(help: "How many architectures to draw.")
        var count: Int = 1

        @Flag(help: "Print a JSON list of {\"arch\", \"hash\"} instead of one string per line.")
        var json = false

        func validate() throws {
            try validating { try Limits.samples.check(count, "--count") }
        }

        func run() throws {
            let space = try SearchSpace(contentsOf: file)
            let architectures = space.sample(count: count, from: RandomStream(seed: seed, name: "sample"))
            if json {
                try printJSON(architectures.map { ["arch": $0.description, "hash": $0.hash] })
            } else {
                for architecture in architectures { print(architecture) }
            }
        }
    }
}

/// What `nas space check` reports about one file.
struct SpaceReport: Encodable {
    struct Block: Encodable {
        let filters, stride, repeats: Int
        let op, kernel, expansion, se, skip, repeatChoices, filterMultipliers: [String]
        /// Bits per weight, in a space that searches them ("32": float32).
        let bits: [String]?
        enum CodingKeys: String, CodingKey {
            case filters, stride, repeats, op, kernel, expansion, se, skip, bits
            case repeatChoices = "repeat_choices", filterMultipliers = "filter_multipliers"
        }
    }

    struct Problem: Encodable {
        let line, column: Int
        let message: String
    }

    var path: String
    var valid: Bool
    var name: String?
    var resolution: [Int]?
    var width: [Double]?
    var blocks: [Block]?
    var decisions: Int?
    var log10Size: Double?
    var proxy: [String: Double]?
    var latency: [String: String]?
    var errors: [Problem]?

    enum CodingKeys: String, CodingKey {
        case path, valid, name, resolution, width, blocks, decisions, proxy, latency, errors
        case log10Size = "log10_size"
    }

    init(path: String, errors: [Diagnostic]) {
        self.path = path
        self.valid = false
        self.errors = errors.map { Problem(line: $0.line, column: $0.column, message: $0.message) }
    }

    init(path: String, space: SearchSpace) {
        self.path = path
        self.valid = true
        name = space.name
        resolution = space.resolutions
        width = space.widths
        let decisions = space.decisions
        blocks = space.blocks.enumerated().map { b, spec in
            let choices = { (field: String) in decisions.first { $0.name == "b\(b + 1).\(field)" }?.choices }
            return Block(filters: spec.filters, stride: spec.stride, repeats: spec.repeats,
                         op: choices("op")!, kernel: choices("kernel")!, expansion: choices("expansion")!,
                         se: choices("se")!, skip: choices("skip")!, repeatChoices: choices("repeats")!,
                         filterMultipliers: choices("filters")!, bits: choices("bits"))
        }
        self.decisions = decisions.count
        log10Size = (space.log10Size * 1000).rounded() / 1000
        proxy = ["subset": Double(space.proxy.subset), "epochs": Double(space.proxy.epochs),
                 "batch": Double(space.proxy.batch), "learning_rate": space.proxy.learningRate,
                 "warmup_epochs": space.proxy.warmupEpochs, "label_smoothing": space.proxy.labelSmoothing]
        latency = ["engine": space.latency.engine.rawValue,
                   "target_ms": "\(space.latency.targetMilliseconds)",
                   "constraint": space.latency.constraint.rawValue]
    }

    static func text(_ space: SearchSpace, path: String) -> String {
        let report = SpaceReport(path: path, space: space)
        var lines = ["\(space.name)  (\(path))"]
        if let summary = space.summary { lines.append("  \(summary)") }
        lines.append("  resolution  \(space.resolutions.map(String.init).joined(separator: ", "))")
        lines.append("  width       \(space.widths.map { "\($0)" }.joined(separator: ", "))")
        lines.append("  \(space.stem)  →  \(space.blocks.count) blocks  →  \(space.head)")
        var rows = [["block", "filters", "stride", "repeats", "op", "kernel", "expansion", "se", "skip", "filters×"]
                    + (space.searchesBits ? ["bits"] : [])]
        for (b, block) in (report.blocks ?? []).enumerated() {
            rows.append(["\(b + 1)", "\(block.filters)", "\(block.stride)", block.repeatChoices.joined(separator: ","),
                         block.op.joined(separator: ","), block.kernel.joined(separator: ","),
                         block.expansion.joined(separator: ","), block.se.joined(separator: ","),
                         block.skip.joined(separator: ","), block.filterMultipliers.joined(separator: ",")]
                        + (block.bits.map { [$0.joined(separator: ",")] } ?? []))
        }
        lines.append(table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        lines.append(String(format: "  %d decisions, 10^%.2f distinct architectures", report.decisions ?? 0, space.log10Size))
        let p = space.proxy
        lines.append("  proxy: \(p.subset) images × \(p.epochs) epoch\(p.epochs == 1 ? "" : "s"), batch \(p.batch), lr \(p.learningRate), warm-up \(p.warmupEpochs) epochs, label smoothing \(p.labelSmoothing)")
        lines.append("  latency: target \(space.latency.targetMilliseconds) ms on \(space.latency.engine.rawValue) (\(space.latency.constraint.rawValue) constraint)")
        return lines.joined(separator: "\n")
    }
}
