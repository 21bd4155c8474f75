import Export
import Foundation
import RunStore
import Search

/// `report.md` and `pareto.svg` beside an export's models: the evidence to
/// choose between them.
struct ExportReport {
    let run: String
    let records: [CandidateRecord]
    let baseline: (name: String, records: [CandidateRecord])?
    let models: [ExportedModel]
    let targetMs: Double?
    let command: String

    var plot: ParetoPlot {
        let exported = Dictionary(models.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a })
        func series(_ name: String, _ records: [CandidateRecord], labelled: Bool) -> ParetoPlot.Series {
            let points = Pareto.points(records).map {
                ParetoPlot.Point(latencyMs: $0.objectives.latencyMilliseconds, accuracy: $0.objectives.accuracy,
                                 label: labelled && exported[$0.candidate.hash] != nil ? $0.candidate.hash : nil)
            }
            let front = Pareto.front(records).compactMap { c in
                c.valAccuracy.flatMap { a in c.latency(on: .cpu).map { ParetoPlot.Point(latencyMs: $0, accuracy: a) } }
            }
            return .init(name: name, points: points, front: front)
        }
        var all = [series("run \(run)", records, labelled: true)]
        if let baseline { all.append(series("baseline \(baseline.name)", baseline.records, labelled: false)) }
        return ParetoPlot(title: "Run \(run): validation accuracy against CPU latency", series: all, targetMs: targetMs)
    }

    var markdown: String {
        let f4 = { (v: Double?) in v.map { String(format: "%.4f", $0) } ?? "-" }
        let kb = { (bytes: Int?) in bytes.map { String(format: "%.1f", Double($0) / 1024) } ?? "-" }
        var lines = [
            "# Run \(run): exported models", "",
            "![Validation accuracy against CPU latency](pareto.svg)", "",
            "| hash | arch | params | MACs | val acc (search) | val acc | test acc | cpu ms | vulkan ms | onnx KB | ncnn KB | verified (max abs diff) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for m in models {
            let ms = { (engine: String) in f4(m.latency.first { $0.engine == engine }?.medianMs) }
            let verified = m.verification.isEmpty ? "-"
                : m.verification.map { $0.skipped == nil ? String(format: "%@ %.1e", $0.runtime, $0.maxAbsDiff) : "\($0.runtime) skipped" }.joined(separator: ", ")
            lines.append("| \(m.hash) | `\(m.arch.replacingOccurrences(of: "|", with: "\\|"))` | \(m.params) | \(m.macs) | \(f4(m.searchValAccuracy)) | \(f4(m.valAccuracy)) | "
                         + "\(f4(m.testAccuracy)) | \(ms("cpu")) | \(ms("vulkan")) | \(kb(m.files["model.onnx"])) | "
                         + "\(kb(m.files["model.bin"])) | \(verified) |")
        }
        let variants = models.flatMap { m in m.variants.map { (m.hash, $0) } }
        if !variants.isEmpty {
            lines += ["", "Weight variants (biases and activations stay fp32; test accuracy from nasd's CPU engine on the stored weights):", "",
                      "| hash | weights | test acc | files (KB) | verified (max abs diff) |", "|---|---|---:|---|---|"]
            for (hash, v) in variants {
                let files = v.files.sorted { $0.key < $1.key }.map { "\($0.key) \(kb($0.value))" }.joined(separator: ", ")
                let verified = v.verification.isEmpty ? "-"
                    : v.verification.map { $0.skipped == nil ? String(format: "%@ %.1e", $0.runtime, $0.maxAbsDiff) : "\($0.runtime) skipped" }.joined(separator: ", ")
                lines.append("| \(hash) | \(v.precision.rawValue) | \(f4(v.testAccuracy)) | \(files) | \(verified) |")
            }
        }
        if let first = models.first {
            lines += ["", "Final training: \(first.epochs) epochs on \(first.trainingImages) images; accuracy on the 10k test set once per model.",
                      "Latency: batch 1, the median of \(first.latency.first?.launchesMs.count ?? 0) launches per engine, interleaved across models.",
                      "", "Devices:"]
            for l in first.latency {
                lines.append("- \(l.engine): \(l.device) (fingerprint \(l.fingerprint))" + (l.error.map { "; \($0)" } ?? ""))
            }
        }
        lines += ["", "Command: `\(command)`", ""]
        return lines.joined(separator: "\n")
    }

    func write(to folder: String) throws {
        try plot.svg.write(toFile: folder + "/pareto.svg", atomically: true, encoding: .utf8)
        try markdown.write(toFile: folder + "/report.md", atomically: true, encoding: .utf8)
    }
}
