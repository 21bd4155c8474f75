import ArgumentParser
import Compression
import Core
import Foundation
import Runs

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Shrink an exported model: k-means weight sharing, pruning, quantisation-aware training, binary weights and inputs.",
        discussion: """
        Reads the model `nas export` wrote (EXPORT/<hash>/weights.nasd and model.json), compresses \
        its convolution and linear weights by --method, fine-tunes with the compressed weights in \
        the forward pass and full-precision ones updated (straight-through), evaluates once on the \
        10k test set and writes OUT/<method>/: model.onnx (the weights in their encoding: codebook \
        indices → Gather, integer codes → DequantizeLinear, batch norm folded), weights.nasd and \
        model.json (test accuracy against the fp32 model's, weight bytes as a deployment stores \
        them, packed and with the codes Huffman-coded, per tensor, the command). Methods: kmeans:B and linear:B (B = 1, 2, 4, 8 bits: a \
        per-layer codebook from exact 1-D k-means or a uniform grid, centroids fine-tuned with \
        their weights' summed gradients, the batch norm folded in as a float32 scale per output \
        channel; kmeans:B:folded and linear:B:folded cluster the folded weights with the batch \
        norms frozen while fine-tuning and store no scale), prune:S (gradual magnitude pruning of the model to \
        sparsity S, Zhu & Gupta's cubic schedule; the first, depthwise and classifier layers at \
        S/2, the 1×1 convolutions the rest), qat:B (B = 4, 6, 8: symmetric per-output-channel \
        fake quantisation), qat:B:act (and every tensor between steps quantised per tensor to B \
        bits, written as QuantizeLinear → DequantizeLinear, which onnxruntime runs with integer \
        kernels), binary (sign(W)·mean|W| per output channel; the \
        first convolution and the classifier stay fp32), xnor (binary weights as binary, and every \
        convolution but the first reading its input as sign(x)·scale, XNOR-Net's binary inputs, \
        written as Sign → Mul) and filters:F (the fraction F of the MBConv \
        expansion and head filters with the smallest L1 norm removed, Li et al.: a smaller dense \
        network, its latency measured on both engines against the fp32 model's). --sweep runs a standard set and writes \
        OUT/compression.svg and OUT/report.md. A variant is written under OUT/.<method>.partial \
        and renamed when whole: a compression killed at any point and run again keeps every \
        finished variant. --verify loads model.onnx in onnxruntime against nasd's CPU engine on \
        256 test images and checks the weights onnxruntime decodes against nasd's within 1e-4.
        """
    )

    @Argument(help: "Run name (a folder under --runs).")
    var runName: String

    @Option(help: "The exported model, by hash (`nas export` lists them).")
    var model: String

    @Option(help: "kmeans:B, kmeans:B:folded, linear:B, prune:S, filters:F, qat:B, qat:B:act, binary or xnor (repeat for several).")
    var method: [String] = []

    @Flag(help: "Run the standard set (\(CompressionMethod.sweep.map(\.description).joined(separator: ", "))) and write compression.svg and report.md.")
    var sweep = false

    @Option(help: "Epochs of fine-tuning (0: compress without fine-tuning).")
    var finetuneEpochs = 2

    @Option(help: "Training images for fine-tuning, the first of the 50k split (default: all).")
    var subset: Int?

    @Option(help: "Peak learning rate of fine-tuning (cosine to zero; default: a tenth of the run's proxy's; for prune:S and xnor the proxy's own; for kmeans:B:folded and linear:B:folded a 300th).")
    var learningRate: Double?

    @Option(help: "Folder of the exported models (default: <runs>/<run>/export, where `nas export` writes).")
    var export: String?

    @Option(help: "Output folder (default: <export>/<hash>/compressed).")
    var out: String?

    @Option(help: "OpenMP threads for fine-tuning (\(Limits.threads.text)).")
    var threads = min(ProcessInfo.processInfo.activeProcessorCount, Limits.threads.range.upperBound)

    @Option(help: "Launches of the latency protocol per engine for a filters:F variant and the fp32 model, interleaved (\(Limits.launches.text)).")
    var launches = 3

    @Flag(help: "Check each model.onnx in onnxruntime: logits against the CPU engine, decoded weights against nasd's.")
    var verify = false

    @OptionGroup var runs: RunsOption

    @Flag(help: "Print the variants as JSON.")
    var json = false

    private var options: CompressOptions {
        var options = CompressOptions()
        options.epochs = finetuneEpochs
        options.subset = subset
        options.learningRate = learningRate
        options.threads = threads
        options.latencyLaunches = launches
        return options
    }

    private func methods() throws -> [CompressionMethod] {
        guard sweep != !method.isEmpty else {
            throw NasError.invalidInput(sweep ? "give --sweep or --method, not both" : "give --method M (kmeans:4, prune:0.5, filters:0.25, qat:6, binary, …) or --sweep")
        }
        var seen = Set<CompressionMethod>()
        return sweep ? CompressionMethod.sweep : try method.map { text throws(NasError) in try CompressionMethod(parsing: text) }
            .filter { seen.insert($0).inserted }
    }

    func validate() throws {
        try validating {
            _ = try RunName(existing: runName)
            _ = try methods()
            try options.validate()
            guard model.count == 12, model.allSatisfy(\.isHexDigit) else {
                throw NasError.invalidInput("--model '\(model)' is not a model hash (12 hex digits, as `nas export` and `nas pareto` print them)")
            }
        }
    }

    func run() throws {
        let name = try RunName(existing: runName)
        var options = options
        if verify { options.verifier = try locateVerifier(imports: "onnx, onnxruntime, numpy", scripts: ["verify_onnx.py", "onnx_weights.py"], for: "--verify") }
        let command = (["nas"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        let compressor = try ModelCompressor(folder: runs.folder, name: name, hash: model, exportFolder: export, out: out,
                                             options: options, command: command)
        var bar = ProgressBar()
        let variants = try compressor.run(try methods()) { event in
            bar.update(fraction: event.fraction, detail: event.detail, force: event.isStage)
        }
        bar.finish()
        if sweep { try CompressionReport(variants: variants, model: compressor.model, command: command).write(to: compressor.out) }
        if json { return try printJSON(variants) }
        var rows = [["method", "test acc", "Δ points", "weights KB", "smaller", "Huffman-coded", "cpu ms", "vulkan ms", "steps", "onnxruntime (max |Δ|)"]]
        let fp32 = { (engine: String) in compressor.model.latency.first { $0.engine == engine }?.medianMs.map { String(format: "%.4f", $0) } ?? "-" }
        rows.append(["fp32", String(format: "%.4f", compressor.model.testAccuracy), "", String(format: "%.1f", Double(variants.first?.baselineWeightBytes ?? 0) / 1024),
                     "1.0×", "", fp32("cpu"), fp32("vulkan"), "", ""])
        for v in variants {
            // Measured only where the variant is a smaller network; the others run at the fp32 model's speed.
            let ms = { (engine: String) in
                guard let mine = v.latency?.first(where: { $0.engine == engine })?.medianMs,
                      let theirs = v.baselineLatency?.first(where: { $0.engine == engine })?.medianMs else { return "= fp32" }
                return String(format: "%.4f (%.2f×)", mine, mine / theirs)
            }
            rows.append([v.method, String(format: "%.4f", v.testAccuracy), String(format: "%+.2f", -v.accuracyDrop * 100),
                         String(format: "%.1f", Double(v.weightBytes) / 1024), String(format: "%.1f×", v.compressionRatio),
                         v.huffmanCompressionRatio.map { String(format: "%.2f×", $0) } ?? "-", ms("cpu"), ms("vulkan"), "\(v.steps)", v.verification.first.map { String(format: "%.0e", $0.maxAbsDiff) } ?? "-"])
        }
        print("\(variants.count) variant\(variants.count == 1 ? "" : "s") of \(model) (run \(name)) in \(compressor.out)")
        print(table(rows, rightAligned: [1, 2, 3, 4, 5, 6]))
    }
}
