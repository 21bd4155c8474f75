public import Export
import Foundation

/// A sweep's `compression.svg` and `report.md`: every variant's accuracy,
/// size and what it runs at, beside the fp32 model.
public struct CompressionReport: Sendable {
    public let variants: [CompressedModel]
    public let model: ExportedModel
    public let command: String

    public init(variants: [CompressedModel], model: ExportedModel, command: String) {
        self.variants = variants
        self.model = model
        self.command = command
    }

    private var latencyLabel: String {
        model.latency.compactMap { l in l.medianMs.map { String(format: "%@ %.3g ms", l.engine, $0) } }.joined(separator: ", ")
    }

    public var plot: CompressionPlot {
        let baseline = Double(variants.first?.baselineWeightBytes ?? 0) / 1024
        var points = [CompressionPlot.Point(kilobytes: baseline, accuracy: model.testAccuracy, label: "fp32 · " + latencyLabel)]
        for v in variants {
            // A smaller network has a latency of its own: against the fp32 model's, measured together.
            let faster = (v.latency ?? []).compactMap { mine -> String? in
                guard let ms = mine.medianMs, let theirs = v.baselineLatency?.first(where: { $0.engine == mine.engine })?.medianMs
                else { return nil }
                return String(format: "%@ %.2f×", mine.engine, ms / theirs)
            }
            points.append(.init(kilobytes: Double(v.weightBytes) / 1024, accuracy: v.testAccuracy,
                                label: String(format: "%@ (%.1f×)", v.method, v.compressionRatio)
                                    + (faster.isEmpty ? "" : " · latency " + faster.joined(separator: ", "))))
        }
        return CompressionPlot(title: "Compression of \(model.hash): test accuracy against weight size", points: points)
    }

    public var markdown: String {
        var lines = [
            "# Compression of \(model.hash)", "",
            "`\(model.arch)`, exported with \(model.epochs) epochs on \(model.trainingImages) images; fp32 test accuracy \(String(format: "%.4f", model.testAccuracy)).", "",
            "![accuracy against size](compression.svg)", "",
            "| method | test acc | Δ points | weights KB | smaller | Huffman-coded KB (smaller) | model KB | fine-tuning steps | onnxruntime max \\|Δ\\| logits / weights | onnxruntime ms (fp32 beside) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        if let first = variants.first {
            lines.append(String(format: "| fp32 | %.4f | | %.1f | 1.0× | | %.1f | | | |", model.testAccuracy,
                                Double(first.baselineWeightBytes) / 1024, Double(first.baselineModelBytes) / 1024))
        }
        for v in variants {
            let verified = v.verification.first.map { String(format: "%.1e / %.1e", $0.maxAbsDiff, v.maxWeightDifference ?? 0) } ?? "not verified"
            // The runtime's own latency for the file, beside the fp32 export's timed in the same process.
            let runtime = v.verification.first.flatMap { check in
                check.latencyMs.map { ms in String(format: "%.3f", ms) + (check.baselineLatencyMs.map { String(format: " (%.3f)", $0) } ?? "") }
            } ?? ""
            let huffman = v.huffmanWeightBytes.map { String(format: "%.1f (%.2f×)", Double($0) / 1024, v.huffmanCompressionRatio ?? 0) } ?? ""
            lines.append(String(format: "| %@ | %.4f | %+.2f | %.1f | %.1f× | %@ | %.1f | %d | %@ | %@ |", v.method, v.testAccuracy, -v.accuracyDrop * 100,
                                Double(v.weightBytes) / 1024, v.compressionRatio, huffman, Double(v.modelBytes) / 1024, v.steps, verified, runtime))
        }
        lines += [
            "",
            "Weights KB: convolution and linear weights as a deployment stores them (packed codes, codebooks and per-channel scales as float32, sparse tensors as a bitmask plus the non-zero values). Huffman-coded: each tensor's codes Huffman-coded instead of packed where that is smaller (Deep Compression's last stage; a table of code lengths, one byte per symbol, plus the stream). Model KB adds the float32 biases every variant keeps.",
            "",
            "Latency: every variant runs with its weights decoded to float32 on nasd's engines, at the fp32 model's latency (\(latencyLabel)); kernels that compute on int8, binary or sparse codes would be faster on a device that has them. onnxruntime's column times each file on one thread beside the fp32 export in the same process; a variant with quantised activations (`:act`) runs there with integer kernels.",
            "",
            "Command: `\(command)`", "",
        ]
        return lines.joined(separator: "\n")
    }

    /// Writes `compression.svg` and `report.md` into `folder`, each atomically.
    public func write(to folder: String) throws {
        try plot.svg.write(toFile: folder + "/compression.svg", atomically: true, encoding: .utf8)
        try markdown.write(toFile: folder + "/report.md", atomically: true, encoding: .utf8)
    }
}
