public import Compression
import Core
import Engine
import Export
import Foundation
import Model
import SearchSpace
import Training

/// `nas compress`: an exported model shrunk by one method or a sweep of
/// them, each variant fine-tuned, evaluated once on the test set, written as
/// ONNX with its weights in their compressed encoding, and checked in
/// onnxruntime.
///
/// A variant is written in `<out>/.<method>.partial` and renamed to
/// `<out>/<method>` when whole (`out` defaults to `<model>/compressed`), as export does, so a
/// compression killed at any point and run again keeps every finished
/// variant and redoes the interrupted one from its start.
public final class ModelCompressor {
    public let name: RunName
    public let hash: String
    /// The exported model's folder (`<export>/<hash>`).
    public let modelFolder: String
    public let model: ExportedModel
    /// Where the variants go.
    public let out: String
    public let options: CompressOptions
    private let proxy: SearchSpace.ProxyTask
    private let command: String

    /// Opens the exported model; errors say how to make it.
    public init(folder: RunsFolder, name: RunName, hash: String, exportFolder: String?, out: String?,
                options: CompressOptions, command: String) throws {
        try options.validate()
        self.name = name
        self.hash = hash
        self.options = options
        self.command = command
        let (_, configuration) = try folder.open(name)
        let models = try exportFolder ?? (folder.directory(name) + "/export")
        modelFolder = models + "/" + hash
        guard FileManager.default.fileExists(atPath: modelFolder + "/model.json") else {
            throw NasError.notFound("\(models) has no exported model \(hash); export it first with `nas export \(name) --arch \(hash)`\(exportFolder == nil ? "" : " --out \(models)")")
        }
        do { model = try RunExporter.read(modelFolder) } catch {
            throw NasError.damaged("\(modelFolder)/model.json cannot be read (\(error)); export the model again")
        }
        self.out = out ?? modelFolder + "/compressed"
        proxy = try configuration.proxy.task(in: try configuration.space(), path: configuration.spacePath)
        if let subset = options.subset, subset < proxy.batch, options.epochs > 0 {
            throw NasError.invalidInput("--subset \(subset) is smaller than one batch of the run's proxy (\(proxy.batch)); raise --subset")
        }
    }

    /// Fine-tuning's peak learning rate for `method`: `--learning-rate`, or a
    /// tenth of the proxy's, which nudges weights the method only re-encodes;
    /// pruning and xnor take the proxy's own, since the network must learn
    /// again what the removed weights did (Zhu & Gupta prune at the training
    /// rate) or to compute on binary inputs. On mbv2-fm with 2 epochs:
    /// prune:0.8 0.01 → −3.94 points, 0.1 → −1.83; xnor 0.01 → −34.2, 0.1 → −31.0.
    public func learningRate(_ method: CompressionMethod) -> Double {
        if let given = options.learningRate { return given }
        // A centroid steps by the sum of its (up to thousands of) weights'
        // gradients, and with batch norm frozen nothing renormalises a layer
        // after a large step: on mbv2-fm kmeans:4:folded diverged at 1e-3 and
        // ended within 0.12 points of each other at 3e-5, 1e-4 and 3e-4.
        if method.sharesFoldedWeights { return proxy.learningRate / 300 }
        switch method {
        case .prune, .xnor: return proxy.learningRate
        default: return proxy.learningRate / 10
        }
    }

    /// Where `method`'s variant is written.
    public func folder(_ method: CompressionMethod) -> String { out + "/" + method.slug }

    /// Compresses by each method in turn, keeping variants already made with
    /// the same settings. What `report` throws (a stop request) ends the work
    /// at the next fine-tuning step; finished variants are kept.
    @discardableResult
    public func run(_ methods: [CompressionMethod], _ report: (CompressEvent) throws -> Void = { _ in }) throws -> [CompressedModel] {
        // Refused before anything is written.
        for method in methods { try method.check(fineTuningEpochs: options.epochs) }
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw NasError.environment("cannot create \(out): \((error as NSError).localizedDescription); choose a writable --out")
        }
        // A variant interrupted earlier is redone from its start.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] where entry.hasSuffix(".partial") {
            try? FileManager.default.removeItem(atPath: out + "/" + entry)
        }
        let weights = try WeightsFile.read(from: modelFolder + "/weights.nasd")
        guard weights.architecture == model.arch else {
            throw NasError.damaged("\(modelFolder)/weights.nasd holds \(weights.architecture), model.json \(model.arch); export the model again")
        }
        var data: (split: DatasetSplit, test: LabelledImages)?
        var variants: [CompressedModel] = []
        for (i, method) in methods.enumerated() {
            let label = method.description
            if let kept = try kept(method) {
                try report(.kept(variant: i + 1, of: methods.count, method: label))
                variants.append(kept)
                continue
            }
            try report(.started(variant: i + 1, of: methods.count, method: label))
            if data == nil { data = (try DatasetSplit.load(), try FashionMNIST.test()) }
            variants.append(try compress(method, weights: weights.weights, split: data!.split, test: data!.test) { event in
                try report(event(i + 1, methods.count, label))
            })
        }
        return variants
    }

    private func compress(_ method: CompressionMethod, weights: NetworkWeights, split: DatasetSplit, test: LabelledImages,
                          report: ((Int, Int, String) -> CompressEvent) throws -> Void) throws -> CompressedModel {
        let network = Network(try Architecture(parsing: model.arch))
        var training = TrainingConfiguration(proxy: proxy, seed: model.seed)
        training.epochs = options.epochs
        training.subset = options.subset
        training.validationSubset = nil
        training.learningRate = learningRate(method)
        training.warmupEpochs = 0
        training.layout = nil
        let compressor = try Compressor(method: method, network: network, weights: weights, split: split, configuration: training,
                                        context: try ComputeContext(threads: options.threads))
        let result = try compressor.run { progress in
            try report { .training(variant: $0, of: $1, method: $2, progress) }
        }
        try report { .verifying(variant: $0, of: $1, method: $2) }

        let fileManager = FileManager.default
        let staging = out + "/." + method.slug + ".partial"
        try? fileManager.removeItem(atPath: staging)
        try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let metadata = ["architecture": result.architecture.description, "hash": result.architecture.hash,
                        "compressed_from": model.hash, "compression": method.description,
                        "input_normalisation": model.input["normalisation"] ?? "", "input_resize": model.input["resize"] ?? ""]
        try ONNXModel(plan: result.plan, stored: result.stored, metadata: metadata).serialized()
            .write(to: URL(fileURLWithPath: staging + "/model.onnx"))
        try WeightsFile(weights: result.weights, architecture: result.architecture).write(to: staging + "/weights.nasd")

        let baseline = try InferencePlan(network: network, weights: weights)
        let baselineBytes = Self.bytes(baseline, stored: [:])
        let variantBytes = Self.bytes(result.plan, stored: result.stored)
        let compressed = result.plan.network
        var variant = CompressedModel(
            method: method.description, arch: model.arch, hash: model.hash, run: name.text,
            compressedArch: result.architecture.description, params: compressed.params, baselineParams: network.params,
            macs: compressed.macs, baselineMacs: network.macs, settings: settings(method),
            seed: model.seed, steps: result.steps, trainSeconds: (result.trainSeconds * 100).rounded() / 100,
            baselineTestAccuracy: model.testAccuracy,
            testAccuracy: try RunExporter.accuracy(result.plan, on: test, threads: options.threads),
            valAccuracy: result.validationAccuracy, baselineWeightBytes: baselineBytes.weights, weightBytes: variantBytes.weights,
            huffmanWeightBytes: variantBytes.huffman,
            baselineModelBytes: baselineBytes.weights + baselineBytes.biases, modelBytes: variantBytes.weights + variantBytes.biases,
            tensors: variantBytes.tensors,
            activations: result.activations.isEmpty ? nil : result.activations.sorted { $0.key < $1.key }.map { layer, q in
                .init(layer: compressed.layers[layer].name, bits: q.bits, signed: q.signed, range: q.range, step: q.step)
            },
            binaryInputs: result.binaryInputs.isEmpty ? nil : result.binaryInputs.sorted { $0.key < $1.key }.map { layer, b in
                .init(layer: compressed.layers[layer].name, scale: b.scale)
            },
            files: [:], verification: [], maxWeightDifference: nil, latency: nil, baselineLatency: nil,
            latencyNote: "nasd's engines and onnxruntime run this variant with its weights decoded to float32, at the fp32 model's latency; kernels that compute on the codes (int8, binary, sparse) would make it faster on a device that has them",
            command: command)
        if case .filters = method {
            // A smaller dense network: faster for real, measured against the fp32 model in the same rounds.
            let measured = try RunExporter.interleavedLatency([(compressed, result.weights), (network, weights)],
                                                              launches: options.latencyLaunches) { round in
                try report { .measuring(variant: $0, of: $1, method: $2, round: round, rounds: options.latencyLaunches) }
            }
            variant.latency = measured[0]
            variant.baselineLatency = measured[1]
            variant.latencyNote = "a smaller dense network (\(result.architecture)): its latency and the fp32 model's measured in the same command, launches interleaved"
        }
        if !result.activations.isEmpty {
            variant.latencyNote = "activations quantised: onnxruntime fuses the QuantizeLinear/DequantizeLinear pairs into integer kernels, and its latency (verification latency_ms, beside baseline_latency_ms: the fp32 export timed in the same process) is what they buy there; nasd's engines compute in float"
        }
        if !result.binaryInputs.isEmpty {
            variant.latencyNote = "binary weights and inputs: nasd's CPU engine and onnxruntime compute the convolutions in float on the ±scale values (the Sign and Mul before each cost time there); a device with XNOR/bit-count kernels would compute them on bits"
        }
        if let verifier = options.verifier {
            let fp32 = modelFolder + "/model.onnx"
            // A step-rounded or binarised activation is checked as written, judged on the mean difference.
            let literal = !result.activations.isEmpty || !result.binaryInputs.isEmpty
            variant.verification = try RunExporter.verify(
                plan: result.plan, files: ["model.onnx"], test: test, folder: staging, verifier: verifier, threads: options.threads,
                literal: literal, baseline: fileManager.fileExists(atPath: fp32) ? fp32 : nil,
                tolerance: literal ? Self.quantisedActivationTolerance : .absolute(RunExporter.tolerance))
            variant.maxWeightDifference = try Self.checkWeights(staging + "/model.onnx", result.stored, scratch: staging + "/.weights",
                                                                verifier: verifier)
        }
        for file in ["model.onnx", "weights.nasd"] {
            variant.files[file] = (try? fileManager.attributesOfItem(atPath: staging + "/" + file)[.size] as? Int) ?? 0
        }
        try Self.write(variant, to: staging)
        let destination = folder(method)
        try? fileManager.removeItem(atPath: destination)
        guard rename(staging, destination) == 0 else {
            throw NasError.environment("cannot move \(staging) to \(destination): \(String(cString: strerror(errno)))")
        }
        return variant
    }

    /// How far onnxruntime's logits may sit from nasd's CPU engine on a model
    /// with quantised activations, checked as written: the two compute a
    /// convolution's sums in different orders, so a value within a rounding
    /// error of a step's midpoint can land on the neighbouring code, and an
    /// image with such a value moves by a fraction of a step or more (measured
    /// on mbv2-fm over 256 images, logits spanning 7.7: at most 0.063 at 8
    /// bits, 0.16–0.27 at 6, none at 4; on a random 4-bit network 0.34 of 2.9
    /// for one image, 0.036 on average). So the mean is judged, against 5% of
    /// the logits' range, with 99% top-1 agreement: what a wrong graph fails.
    static let quantisedActivationTolerance = RunExporter.LogitTolerance.meanOfRange(0.05)

    /// Bytes of `plan`'s convolution and linear weights as stored (`stored`,
    /// else float32), per tensor, and of the float32 biases beside them.
    static func bytes(_ plan: InferencePlan, stored: [String: StoredWeight])
        -> (weights: Int, huffman: Int, biases: Int, tensors: [CompressedModel.Tensor]) {
        var weights = 0, huffman = 0, biases = 0
        var tensors: [CompressedModel.Tensor] = []
        for step in plan.steps {
            switch step.operation {
            case let .convolution(layer, w, b), let .linear(layer, w, b):
                let name = TensorName(layer, .weight).description
                let encoding = stored[name] ?? .dense(values: w)
                let huffmanBytes = encoding.huffmanBytes
                tensors.append(.init(name: name, encoding: encoding.encoding, count: encoding.count, bytes: encoding.storageBytes,
                                     huffmanBytes: huffmanBytes, sparsity: (encoding.sparsity * 1e4).rounded() / 1e4))
                weights += encoding.storageBytes
                huffman += huffmanBytes
                biases += 4 * b.count
            default:
                continue
            }
        }
        return (weights, huffman, biases, tensors)
    }

    /// The weights onnxruntime decodes from the file against nasd's decoding:
    /// the largest difference, which must stay within 1e-4.
    static func checkWeights(_ onnx: String, _ stored: [String: StoredWeight], scratch: String,
                             verifier: (python: String, scripts: String)) throws -> Double {
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: verifier.python)
        process.arguments = [verifier.scripts + "/onnx_weights.py", onnx, scratch]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw NasError.environment("cannot run \(verifier.python) (\(error)); create it with scripts/python-env.sh or set NASD_PYTHON")
        }
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let counts = try? JSONDecoder().decode([String: Int].self, from: stdout) else {
            throw NasError.internal("onnxruntime could not decode the weights of \(onnx) (onnx_weights.py exited \(process.terminationStatus))")
        }
        var largest = 0.0
        for (tensor, encoding) in stored {
            let expected = encoding.dequantised
            guard counts[tensor] == expected.count,
                  let data = FileManager.default.contents(atPath: scratch + "/" + tensor + ".f32"), data.count == 4 * expected.count else {
                throw NasError.internal("onnxruntime decodes \(tensor) of \(onnx) to \(counts[tensor] ?? 0) values, nasd to \(expected.count)")
            }
            let decoded = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for i in expected.indices { largest = max(largest, Double(abs(decoded[i] - expected[i]))) }
        }
        guard largest <= 1e-4 else {
            throw NasError.internal(String(format: "onnxruntime decodes the weights of %@ %.3g away from nasd's decoding (allowed 1e-4); the variant was not kept", onnx, largest))
        }
        return largest
    }

    private func settings(_ method: CompressionMethod) -> CompressedModel.Settings {
        let clustering: String?
        if case .kmeans = method { clustering = "exact" } else { clustering = nil }
        return .init(method: method.description, epochs: options.epochs, subset: options.subset, learningRate: learningRate(method),
                     verified: options.verifier != nil, clustering: clustering)
    }

    /// The variant already in place with these settings; nil when there is
    /// none. One made with other settings, or whose files changed, is refused.
    private func kept(_ method: CompressionMethod) throws -> CompressedModel? {
        let folder = folder(method)
        guard FileManager.default.fileExists(atPath: folder) else { return nil }
        let variant: CompressedModel
        do {
            variant = try JSONDecoder().decode(CompressedModel.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/model.json")))
        } catch {
            throw NasError.damaged("\(folder) is not a whole compressed model (\(error)); remove it to redo it")
        }
        guard variant.settings == settings(method) else {
            throw NasError.invalidInput("\(folder) was made with other settings (\(variant.settings.text), now \(settings(method).text)); remove it to redo it")
        }
        for (file, size) in variant.files where (try? FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.size] as? Int) != size {
            throw NasError.damaged("\(folder)/\(file) is missing or changed since it was written; remove \(folder) to redo it")
        }
        return variant
    }

    static func write(_ variant: CompressedModel, to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(variant).write(to: URL(fileURLWithPath: folder + "/model.json"), options: .atomic)
    }
}
