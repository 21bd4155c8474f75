import Core
import Engine
import Export
import Foundation
import Latency
import Model
public import RunStore
public import Search
import SearchSpace
import Training

/// `nas export`: a run's chosen models trained to the end, evaluated once on
/// the test set, written as weights and ONNX, their latency re-measured.
///
/// Each model is written in `<out>/.<hash>.partial` and renamed to
/// `<out>/<hash>` when whole, so an export killed at any point and run again
/// keeps every finished model and redoes the interrupted one from its start.
public final class RunExporter {
    public let name: RunName
    public let out: String
    public let options: ExportOptions
    public let configuration: SearchConfiguration
    public let candidates: [CandidateRecord]
    private let records: [CandidateRecord]
    private let baseline: (name: String, records: [CandidateRecord])?
    private let command: String

    /// Opens the run (and the `baseline` run drawn beside it in `pareto.svg`)
    /// and resolves the selection; errors say what is missing.
    public init(folder: RunsFolder, name: RunName, out: String, options: ExportOptions, command: String,
                baseline: RunName? = nil) throws {
        try options.validate()
        self.name = name
        self.out = out
        self.options = options
        self.command = command
        let (store, configuration) = try folder.open(name)
        self.configuration = configuration
        let records = try store.candidates()
        self.records = records
        self.baseline = try baseline.map { ($0.text, try folder.open($0).store.candidates()) }
        let finished = Pareto.points(records).map(\.candidate)
        guard !finished.isEmpty else {
            throw NasError.notFound("run \(name) has no finished candidate to export yet; continue it with `nas resume \(name)`")
        }
        let proxy = try configuration.proxy.task(in: try configuration.space(), path: configuration.spacePath)
        if let subset = options.subset, subset < proxy.batch {
            throw NasError.invalidInput("--subset \(subset) is smaller than one batch of the run's proxy (\(proxy.batch)); raise --subset")
        }
        switch options.selection {
        case .pareto:
            candidates = Pareto.front(records)
        case let .top(k):
            candidates = Array(finished.sorted { ($0.reward ?? 0, -$0.index) > ($1.reward ?? 0, -$1.index) }.prefix(k))
        case let .hashes(hashes):
            var seen = Set<String>()
            candidates = try hashes.filter { seen.insert($0).inserted }.map { hash throws(NasError) in
                guard let found = finished.first(where: { $0.hash == hash }) else {
                    throw .notFound("run \(name) has no finished candidate \(hash); `nas pareto \(name)` and `nas status \(name)` list them")
                }
                return found
            }
        }
    }

    /// Exports every selected model (keeping those already whole), then
    /// measures their latency in interleaved rounds. What `report` throws (a
    /// stop request) ends the export there, at the next training step at the
    /// latest; the models finished so far are kept.
    @discardableResult
    public func run(_ report: (ExportEvent) throws -> Void = { _ in }) throws -> [ExportedModel] {
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw NasError.environment("cannot create \(out): \((error as NSError).localizedDescription); choose a writable --out")
        }
        let space = try configuration.space()
        let proxy = try configuration.proxy.task(in: space, path: configuration.spacePath)
        // A model interrupted earlier is redone from its start, whichever models are asked for now.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] where entry.hasSuffix(".partial") {
            try? FileManager.default.removeItem(atPath: out + "/" + entry)
        }
        var split: DatasetSplit?
        var test: LabelledImages?
        var models: [ExportedModel] = []
        for (i, candidate) in candidates.enumerated() {
            let folder = out + "/" + candidate.hash
            if let kept = try keptModel(folder) {
                try report(.kept(model: i + 1, of: candidates.count, hash: candidate.hash))
                models.append(kept)
                continue
            }
            try report(.started(model: i + 1, of: candidates.count, hash: candidate.hash))
            if split == nil { split = try DatasetSplit.load() }
            if test == nil { test = try FashionMNIST.test() }
            guard test!.count > 0, split!.train.count > 0 else {
                throw NasError.environment("the Fashion-MNIST files in \(FashionMNIST.directory) hold no images; reinstall dataset-fashion-mnist")
            }
            models.append(try export(candidate, proxy: proxy, split: split!, test: test!, folder: folder) { progress in
                try report(.training(model: i + 1, of: candidates.count, progress))
            })
        }
        try measureLatency(&models, report)
        try ExportReport(run: name.text, records: records, baseline: baseline, models: models,
                         targetMs: configuration.reward.engine == .cpu ? configuration.reward.targetMilliseconds : nil,
                         command: command).write(to: out)
        return models
    }

    private func export(_ candidate: CandidateRecord, proxy: SearchSpace.ProxyTask, split: DatasetSplit, test: LabelledImages,
                        folder: String, progress: (TrainingProgress) throws -> Void) throws -> ExportedModel {
        let architecture = try Architecture(parsing: candidate.arch)
        let network = Network(architecture)
        let seed = configuration.seed &+ (UInt64(candidate.hash, radix: 16) ?? UInt64(candidate.index))
        var training = TrainingConfiguration(proxy: proxy, seed: seed)
        training.epochs = options.epochs
        training.subset = options.subset
        training.validationSubset = nil
        training.layout = nil
        let trainer = try Trainer(network: network, split: split, configuration: training,
                                  context: try ComputeContext(threads: options.threads))
        let result = try trainer.train(progress: progress)
        guard result.divergedAtStep == nil, let validation = result.validationAccuracy else {
            throw NasError.invalidInput("\(candidate.hash) diverged in final training at step \(result.divergedAtStep ?? 0) (the loss became NaN or infinite); export it with fewer --epochs")
        }
        let weights = try trainer.network.weights()
        let plan = try InferencePlan(network: network, weights: weights)
        // The only place a run's models meet the test set: the folded model on the CPU
        // engine, as every variant is measured, on the pass that checks the folding.
        let fold = try FoldReport(network: network, weights: weights, plan: plan, test: test, threads: options.threads)
        let testAccuracy = fold.foldedAccuracy

        let staging = out + "/." + candidate.hash + ".partial"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: staging)
        try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try WeightsFile(weights: weights, architecture: architecture).write(to: staging + "/weights.nasd")
        let metadata = [
            "arch": architecture.description, "hash": architecture.hash,
            "input_normalisation": "x = (pixel / 255 − \(FashionMNIST.mean)) / \(FashionMNIST.standardDeviation)",
            "input_resize": "bilinear from 28×28 grey to \(architecture.resolution)×\(architecture.resolution), one channel",
        ]
        let files = try write(plan, .fp32, to: staging, metadata: metadata)
        try fold.text.write(toFile: staging + "/fold.txt", atomically: true, encoding: .utf8)

        var model = ExportedModel(
            arch: architecture.description, hash: architecture.hash, settings: settings, candidate: candidate.index, params: network.params,
            macs: network.macs, searchValAccuracy: candidate.valAccuracy, valAccuracy: validation, testAccuracy: testAccuracy,
            epochs: options.epochs, trainingImages: options.subset.map { min($0, split.train.count) } ?? split.train.count,
            seed: seed, trainSeconds: (result.trainSeconds * 100).rounded() / 100, files: [:], latency: [],
            verification: [], fold: fold.summary, initialisation: training.initialisation, input: ["name": ONNXModel.inputName, "normalisation": metadata["input_normalisation"]!,
                                       "resize": metadata["input_resize"]!],
            command: command)
        let size = { (file: String) in (try? fileManager.attributesOfItem(atPath: staging + "/" + file)[.size] as? Int) ?? 0 }
        if let verifier = options.verifier {
            model.verification = try Self.verify(plan: plan, files: files, test: test, folder: staging, verifier: verifier, threads: options.threads)
        }
        for file in files + ["weights.nasd", "fold.txt"] { model.files[file] = size(file) }
        for precision in options.variants where precision != .fp32 {
            let written = try write(plan, precision, to: staging, metadata: metadata.merging(["weights": precision.rawValue]) { $1 })
            let stored = plan.storing(precision)
            var variant = ExportedModel.Variant(precision: precision, testAccuracy: try Self.accuracy(stored, on: test, threads: options.threads),
                                                files: Dictionary(uniqueKeysWithValues: written.map { ($0, size($0)) }), verification: [])
            if let verifier = options.verifier {
                variant.verification = try Self.verify(plan: stored, files: written, test: test, folder: staging, verifier: verifier, threads: options.threads)
            }
            model.variants.append(variant)
        }
        try Self.write(model, to: staging)
        // Whole now: rename into place (an earlier partial copy under the name is replaced).
        try? fileManager.removeItem(atPath: folder)
        guard rename(staging, folder) == 0 else {
            throw NasError.environment("cannot move \(staging) to \(folder): \(String(cString: strerror(errno)))")
        }
        return model
    }

    /// Writes the asked-for formats of `plan` at `precision` into `folder`
    /// (`model.onnx`, `model.param` + `model.bin`; `model-fp16.onnx`, …; no
    /// ncnn file for int8, which ncnn does not store) and names them.
    private func write(_ plan: InferencePlan, _ precision: WeightPrecision, to folder: String,
                       metadata: [String: String]) throws -> [String] {
        let stem = precision == .fp32 ? "model" : "model-\(precision.rawValue)"
        var files: [String] = []
        if options.formats.contains(.onnx) {
            try ONNXModel(plan: plan, precision: precision, metadata: metadata).serialized()
                .write(to: URL(fileURLWithPath: folder + "/" + stem + ".onnx"))
            files.append(stem + ".onnx")
        }
        if options.formats.contains(.ncnn), precision != .int8 {
            let ncnn = try NCNNModel(plan: plan, precision: precision)
            try ncnn.param.write(toFile: folder + "/" + stem + ".param", atomically: true, encoding: .utf8)
            try ncnn.bin.write(to: URL(fileURLWithPath: folder + "/" + stem + ".bin"))
            files += [stem + ".param", stem + ".bin"]
        }
        return files
    }

    /// Top-1 accuracy of `plan` on `images` with nasd's CPU engine.
    static func accuracy(_ plan: InferencePlan, on images: LabelledImages, threads: Int) throws -> Double {
        let batch = TestBatches.size
        let pipeline = try InputPipeline(images, resolution: plan.network.input.height)
        let engine = try InferenceNetwork(plan: plan, batch: batch, context: try ComputeContext(threads: threads))
        var correct = 0
        try TestBatches.forEach(in: pipeline, batch: batch) { start, indices, rows in
            engine.withInput { pipeline.fill($0, indices: indices, augmentation: nil) }
            try engine.run()
            let logits = engine.logits
            for row in 0..<rows where TestBatches.correct(logits, row: row, classes: plan.network.classes,
                                                          label: pipeline.labels[start + row]) {
                correct += 1
            }
        }
        return Double(correct) / Double(max(pipeline.count, 1))
    }

    /// The real runtimes on the first test images against the CPU engine's
    /// logits on the same (stored) weights: onnxruntime for an ONNX file,
    /// ncnn's CPU and Vulkan paths for an ncnn pair.
    /// - Parameters:
    ///   - literal: check onnxruntime with graph optimisations off (quantised activations, `verify_onnx.py --literal`).
    ///   - baseline: an ONNX file onnxruntime times against each model, blocks alternated.
    ///   - tolerance: how far the logits may sit from nasd's CPU engine.
    static func verify(plan: InferencePlan, files: [String], test: LabelledImages, folder: String,
                       verifier: (python: String, scripts: String), threads: Int, literal: Bool = false,
                       baseline: String? = nil, tolerance: LogitTolerance = .absolute(tolerance)) throws -> [ExportedModel.Verification] {
        let images = min(256, test.count)
        let pipeline = try InputPipeline(test.subset(Array(0..<images)), resolution: plan.network.input.height)
        let engine = try InferenceNetwork(plan: plan, batch: images, context: try ComputeContext(threads: threads))
        let input = engine.withInput { buffer in
            pipeline.fill(buffer, indices: Array(0..<images)[...], augmentation: nil)
            return Array(buffer)
        }
        try engine.run()
        let scratch = folder + "/.verify"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try input.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: scratch + "/inputs.f32")) }
        try engine.logits.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: scratch + "/expected.f32")) }
        let s = plan.network.input
        let data = [scratch + "/inputs.f32", scratch + "/expected.f32", "--shape", "\(images),\(s.channels),\(s.height),\(s.width)",
                    "--classes", "\(plan.network.classes)"]
        var runs: [(runtime: String, script: String, arguments: [String])] = []
        // Each runtime also times the file it loaded (one image, one thread): the only latency
        // an fp16 or int8 variant has, since nasd's engines compute in fp32.
        let timed = { (runs: Int, warmup: Int) in ["--latency-runs", "\(runs)", "--latency-warmup", "\(warmup)"] }
        for onnx in files where onnx.hasSuffix(".onnx") {
            runs.append(("onnxruntime", "verify_onnx.py", [folder + "/" + onnx] + data + timed(Self.runtimeRuns, 10)
                            + (literal ? ["--literal"] : []) + (baseline.map { ["--baseline", $0] } ?? [])))
        }
        for param in files where param.hasSuffix(".param") {
            let pair = [folder + "/" + param, folder + "/" + param.dropLast(".param".count) + ".bin"]
            runs.append(("ncnn-cpu", "verify_ncnn.py", pair + data + timed(Self.runtimeRuns, 10)))
            runs.append(("ncnn-vulkan", "verify_ncnn.py", pair + data + ["--vulkan"] + timed(Self.runtimeVulkanRuns, 3)))
        }
        struct Report: Decodable {
            let max_abs_diff: Double
            let top1_agreement: Double
            let onnxruntime: String?
            let ncnn: String?
            let device: String?
            let latency_ms: Double?
            let mean_abs_diff: Double?
            let logit_range: Double?
            let optimised_max_abs_diff: Double?
            let optimised_top1_agreement: Double?
            let baseline_latency_ms: Double?
        }
        return try runs.map { run in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: verifier.python)
            process.arguments = [verifier.scripts + "/" + run.script] + run.arguments
            let output = Pipe()
            process.standardOutput = output
            // To a file: a verifier's warnings could fill a pipe nobody reads yet and stall both sides.
            let errorPath = scratch + "/stderr.txt"
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errorPath)
            do { try process.run() } catch {
                throw NasError.environment("cannot run \(verifier.python) for --verify (\(error)); create it with scripts/python-env.sh or set NASD_PYTHON")
            }
            let stdout = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            if process.terminationStatus == Self.noVulkanDevice {
                return .init(runtime: run.runtime, version: "", device: nil, images: 0, maxAbsDiff: 0, top1Agreement: 0,
                             skipped: "ncnn finds no Vulkan device")
            }
            guard process.terminationStatus == 0, let report = try? JSONDecoder().decode(Report.self, from: stdout) else {
                throw NasError.internal("\(run.runtime) refused the model in \(folder): \(stderr.suffix(2000))")
            }
            // The verifiers measure; this judges: an fp32 runtime far from the CPU engine is a wrong model.
            guard tolerance.holds(max: report.max_abs_diff, mean: report.mean_abs_diff, logitRange: report.logit_range),
                  report.top1_agreement >= 0.99 else {
                throw NasError.internal(String(format: "%@ disagrees with nasd's CPU engine on %@ (max |Δ| %.3g, top-1 agreement %.1f%%); the model was not kept",
                                               run.runtime, folder, report.max_abs_diff, report.top1_agreement * 100))
            }
            return .init(runtime: run.runtime, version: report.onnxruntime ?? report.ncnn ?? "unknown", device: report.device,
                         images: images, maxAbsDiff: report.max_abs_diff, top1Agreement: report.top1_agreement,
                         latencyMs: report.latency_ms.map { ($0 * 1e4).rounded() / 1e4 },
                         latencyRuns: run.runtime == "ncnn-vulkan" ? Self.runtimeVulkanRuns : Self.runtimeRuns,
                         optimisedMaxAbsDiff: report.optimised_max_abs_diff, optimisedTop1Agreement: report.optimised_top1_agreement,
                         baselineLatencyMs: report.baseline_latency_ms.map { ($0 * 1e4).rounded() / 1e4 })
        }
    }

    /// Latency of every model on each engine with its trained weights
    /// (`interleavedLatency`), written into each model's `model.json`.
    private func measureLatency(_ models: inout [ExportedModel], _ report: (ExportEvent) throws -> Void) throws {
        var plans: [(network: Network, weights: NetworkWeights)] = []
        for model in models {
            let file = try WeightsFile.read(from: out + "/" + model.hash + "/weights.nasd")
            plans.append((Network(try Architecture(parsing: model.arch)), file.weights))
        }
        let measured = try Self.interleavedLatency(plans, launches: options.latencyLaunches) { round in
            try report(.measuring(round: round, of: options.latencyLaunches))
        }
        for m in models.indices {
            models[m].latency = measured[m]
            try Self.write(models[m], to: out + "/" + models[m].hash)
        }
    }

    /// Latency of each network on the CPU engine (1 thread) and the Vulkan
    /// device: the protocol launched `launches` times, round-robin over the
    /// networks so a busy moment of a shared machine does not land on one
    /// only; per network, one entry per engine with the median of the launches.
    static func interleavedLatency(_ plans: [(network: Network, weights: NetworkWeights)], launches: Int,
                                   round report: (Int) throws -> Void) throws -> [[ExportedModel.Latency]] {
        var engines: [(name: LatencyEngineName, engine: (any LatencyEngine)?, error: String?)] = [
            (.cpu, try CPUEngine(threads: 1), nil),
        ]
        do { engines.append((.vulkan, try makeLatencyEngine(.vulkan, threads: 1), nil)) } catch {
            engines.append((.vulkan, nil, "\(error)"))
        }
        let protocols: [LatencyEngineName: MeasurementProtocol] = [
            .cpu: MeasurementProtocol(warmup: 20, runs: 100), .vulkan: MeasurementProtocol(warmup: 5, runs: 30),
        ]
        var times = [[Double]](repeating: [], count: plans.count * engines.count)
        for round in 1...launches {
            try report(round)
            for (m, plan) in plans.enumerated() {
                for (e, engine) in engines.enumerated() {
                    guard let measurer = engine.engine else { continue }
                    let sample = try measurer.measure(plan.network, protocol: protocols[engine.name]!, weights: plan.weights)
                    times[m * engines.count + e].append(sample.medianMilliseconds)
                }
            }
        }
        return plans.indices.map { m in
            engines.enumerated().map { e, engine in
                let p = protocols[engine.name]!
                let launches = times[m * engines.count + e]
                let sorted = launches.sorted()
                return ExportedModel.Latency(
                    engine: engine.name.rawValue, device: engine.engine?.device.device ?? "none",
                    fingerprint: engine.engine?.device.id ?? "", medianMs: sorted.isEmpty ? nil
                        : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2,
                    launchesMs: launches.map { ($0 * 1e5).rounded() / 1e5 }, protocolRuns: p.runs, protocolWarmup: p.warmup,
                    error: engine.error)
            }
        }
    }

    /// What decides a model's files: a folder exported with other settings is not this export's.
    var settings: ExportedModel.Settings {
        .init(run: name.text, epochs: options.epochs, subset: options.subset, formats: options.formats,
              variants: options.variants.filter { $0 != .fp32 }, verified: options.verifier != nil)
    }

    /// The model already exported in `folder` with these settings; nil when
    /// there is none. A folder of other settings, or whose files are not all
    /// there, is refused rather than silently kept or replaced.
    private func keptModel(_ folder: String) throws -> ExportedModel? {
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        let model: ExportedModel
        do { model = try Self.read(folder) } catch {
            throw NasError.damaged("\(folder) is not a whole exported model (\(error)); move it aside, or export to another --out")
        }
        guard model.settings == settings else {
            throw NasError.invalidInput("\(folder) was exported with other settings (\(model.settings.text), now \(settings.text)); export to another --out, or remove it to redo it")
        }
        let sizes = model.files.merging(model.variants.flatMap(\.files)) { a, _ in a }
        for (file, size) in sizes where (try? FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.size] as? Int) != size {
            throw NasError.damaged("\(folder)/\(file) is missing or changed since it was exported; remove \(folder) to redo it")
        }
        return model
    }

    /// The exit status `verify_ncnn.py` gives when ncnn finds no Vulkan device.
    static let noVulkanDevice: Int32 = 3
    /// Timed one-image runs per file in a runtime's CPU path, and in ncnn's Vulkan path (slow on lavapipe).
    static let runtimeRuns = 50, runtimeVulkanRuns = 10
    /// Largest logit difference a runtime may show against the CPU engine on the same weights.
    static let tolerance = 1e-3

    /// How far a runtime's logits may sit from nasd's CPU engine.
    enum LogitTolerance {
        /// Every logit within this much.
        case absolute(Double)
        /// The mean difference within this fraction of the range nasd's
        /// logits span (the largest is reported, not judged): for models whose
        /// values may land one code apart, where a single image can move.
        case meanOfRange(Double)

        func holds(max: Double, mean: Double?, logitRange: Double?) -> Bool {
            switch self {
            case let .absolute(value): max <= value
            case let .meanOfRange(fraction): (mean ?? .infinity) <= fraction * (logitRange ?? 0)
            }
        }
    }

    /// A whole model folder's record.
    static func read(_ folder: String) throws -> ExportedModel {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/model.json"))
        return try JSONDecoder().decode(ExportedModel.self, from: data)
    }

    /// Writes `model.json` beside the model, atomically.
    static func write(_ model: ExportedModel, to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(model).write(to: URL(fileURLWithPath: folder + "/model.json"), options: .atomic)
    }
}
