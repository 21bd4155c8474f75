import ArgumentParser
import Core
import Daemon
import Foundation
import Model
import Runs
import Search

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Train a run's chosen models to the end and write them as ONNX and ncnn models with weights and a report.",
        discussion: """
        Per model, in OUT/<hash>/: model.onnx (opset 13, BN folded, ReLU6 as Clip; input `image` \
        N×1×r×r, output `logits` N×10; architecture, hash and input normalisation in its metadata), \
        model.param + model.bin (ncnn's format: activations fused, input `image`, output `logits`), \
        weights.nasd (the trained weights, `nas train --save`'s format) and model.json (arch, \
        params, MACs, validation and test accuracy, latency per engine with device fingerprints, \
        file sizes, verification, the command). Final training: the run's proxy recipe on the \
        whole 50k training split (or --subset) for --epochs; one evaluation on the 10k test set. \
        Latency: the protocol launched --launches times per model and engine, interleaved across \
        models; the median is reported. Beside the models: pareto.svg (validation accuracy \
        against CPU latency, the front, the exported models labelled, the target; --baseline \
        draws another run beside) and report.md (the table, the plot, devices, the command). \
        A model is written under OUT/.<hash>.partial and renamed \
        when whole: an export killed at any point and run again keeps every finished model. \
        --verify runs onnx's full checker and onnxruntime, and ncnn on its CPU and Vulkan paths, \
        on 256 test images against the CPU engine (Python from $NASD_PYTHON, else .build/venv \
        made by scripts/python-env.sh).
        """
    )

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @Flag(help: "Export the Pareto front of accuracy against CPU latency (the default).")
    var pareto = false

    @Option(help: "Export the K best rewards instead.")
    var top: Int?

    @Option(name: .customLong("arch"), parsing: .upToNextOption, help: "Export these candidates instead, by hash.")
    var hashes: [String] = []

    @Option(help: "Formats, comma-separated: onnx (model.onnx), ncnn (model.param + model.bin).")
    var formats = "onnx,ncnn"

    @Option(help: "Weight variants, comma-separated: fp32 (always), fp16 (ONNX and ncnn), int8 (ONNX).")
    var weights = "fp32"

    @Option(help: "Epochs of final training.")
    var epochs = 5

    @Option(help: "Training images for the final training, the first of the 50k split (default: all).")
    var subset: Int?

    @Option(help: "Output folder (default: <runs>/<run>/export).")
    var out: String?

    @Option(help: "OpenMP threads for the final training (\(Limits.threads.text)).")
    var threads = min(ProcessInfo.processInfo.activeProcessorCount, Limits.threads.range.upperBound)

    @Option(help: "Launches of the latency protocol per model and engine (\(Limits.launches.text)).")
    var launches = 3

    @Option(help: "Another run whose candidates pareto.svg draws beside this one's (a baseline space's search).")
    var baseline: String?

    @Flag(help: "Check every file in the real runtimes against the CPU engine: onnx's checker and onnxruntime, ncnn on its CPU and Vulkan paths (skipped without a device).")
    var verify = false

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print the exported models as JSON.")
    var json = false

    /// The options as the request the daemon's `POST /runs/{run}/exports` also takes.
    private var request: ExportRequest {
        var request = ExportRequest()
        request.pareto = pareto
        request.top = top
        request.hashes = hashes
        request.formats = formats.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        request.weights = weights.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        request.epochs = epochs
        request.subset = subset
        request.threads = threads
        request.launches = launches
        return request
    }

    func validate() throws {
        try validating {
            _ = try RunName(existing: runName)
            if let baseline { _ = try RunName(existing: baseline) }
            _ = try request.options(.option)
        }
    }

    func run() throws {
        let name = try RunName(existing: runName)
        if let daemon = try DaemonClient.serving(runs.folder) {
            let here = [out.map { _ in "--out" }, verify ? "--verify" : nil, baseline.map { _ in "--baseline" }].compactMap { $0 }
            if here.isEmpty { return try exportOnDaemon(daemon, name) }
            // The API writes only inside the run's folder and runs no Python: these stay with the caller.
            printError("nas serve owns \(runs.runs), but its exports take no \(here.joined(separator: ", ")): this export runs here")
        }
        var options = try request.options(.option)
        if verify { options.verifier = try locateVerifier(imports: "onnx, onnxruntime, ncnn, numpy", scripts: ["verify_onnx.py", "verify_ncnn.py"], for: "--verify") }
        let folder = runs.folder
        let output = try out ?? (folder.directory(name) + "/export")
        let command = (["nas"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let exporter = try RunExporter(folder: folder, name: name, out: output, options: options, command: command,
                                       baseline: try baseline.map { name throws(NasError) in try RunName(existing: name) })
        var bar = ProgressBar()
        let models = try exporter.run { event in bar.update(fraction: event.fraction, detail: event.detail, force: event.isStage) }
        bar.finish()
        try report(models, name: name, in: output)
    }

    /// The daemon trains and writes the models (one export at a time, beside
    /// its searches); this process shows its progress and the result.
    private func exportOnDaemon(_ daemon: DaemonClient, _ name: RunName) throws {
        var job = try daemon.export(name, request)
        printError("nas serve (\(daemon.address)) exports \(name) as job \(job.id); Ctrl-C leaves it running there (GET /runs/\(name)/exports/\(job.id))")
        var bar = ProgressBar()
        while !job.isOver {
            Thread.sleep(forTimeInterval: 0.5)
            job = try daemon.export(name, id: job.id)
            if let progress = job.progress { bar.update(fraction: progress.fraction, detail: progress.detail) }
        }
        bar.finish()
        guard job.state == "done" else {
            throw NasError.environment("the daemon's export \(job.id) of run \(name) failed: \(job.error ?? "no reason given"); `nas export` without a daemon shows the same error with its kind")
        }
        let shown = (try? runs.folder.directory(name)).map { $0 + "/exports/\(job.id)" } ?? "exports/\(job.id) in the daemon's run folder"
        try report(job.models, name: name, in: shown)
    }

    private func report(_ models: [ExportedModel], name: RunName, in output: String) throws {
        if json { try printJSON(models); return }
        var rows = [["hash", "params", "MACs", "val acc", "test acc", "cpu ms", "vulkan ms", "onnx KB", "ncnn KB", "verified (max |Δ|)"]]
        for m in models {
            let ms = { (engine: String) in m.latency.first { $0.engine == engine }?.medianMs.map { String(format: "%.4f", $0) } ?? "-" }
            rows.append([m.hash, grouped(m.params), grouped(m.macs), String(format: "%.4f", m.valAccuracy),
                         String(format: "%.4f", m.testAccuracy), ms("cpu"), ms("vulkan"),
                         m.files["model.onnx"].map { "\($0 / 1024)" } ?? "-", m.files["model.bin"].map { "\($0 / 1024)" } ?? "-",
                         m.verification.isEmpty ? "-" : m.verification.map { $0.skipped == nil ? String(format: "%@ %.0e", $0.runtime, $0.maxAbsDiff) : "\($0.runtime) skipped" }
                            .joined(separator: ", ")])
        }
        print("\(models.count) model\(models.count == 1 ? "" : "s") of run \(name) in \(output)")
        print(table(rows, rightAligned: [1, 2, 3, 4, 5, 6, 7, 8]))
    }
}

/// The Python environment and scripts folder of the runtime checks, probed
/// before any model is trained (not found out after the first one):
/// $NASD_PYTHON, else `.build/venv/bin/python`; $NASD_VERIFIERS, else `scripts`.
func locateVerifier(imports: String, scripts needed: [String], for option: String) throws -> (python: String, scripts: String) {
    let python = ProcessInfo.processInfo.environment["NASD_PYTHON"] ?? ".build/venv/bin/python"
    let scripts = ProcessInfo.processInfo.environment["NASD_VERIFIERS"] ?? "scripts"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw NasError.environment("\(option) needs \(imports) in a Python environment: run scripts/python-env.sh in nasd's folder (or set NASD_PYTHON); looked for \(python)")
    }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: python)
    probe.arguments = ["-c", "import \(imports)"]
    probe.standardOutput = FileHandle.nullDevice
    probe.standardError = FileHandle.nullDevice
    let imported = (try? probe.run()).map { probe.waitUntilExit(); return probe.terminationStatus == 0 } ?? false
    let missing = needed.filter { !FileManager.default.fileExists(atPath: scripts + "/" + $0) }
    guard imported, missing.isEmpty else {
        throw NasError.environment("\(option): \(python) cannot import \(imports), or \(scripts) lacks \(missing.isEmpty ? needed.joined(separator: ", ") : missing.joined(separator: ", ")); run scripts/python-env.sh in nasd's folder (or set NASD_PYTHON, and NASD_VERIFIERS to the scripts folder)")
    }
    return (python, scripts)
}
