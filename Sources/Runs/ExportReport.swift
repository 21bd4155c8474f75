import Export
import Foundation
public import RunStore
public import Search

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
        RunPlot.plot(run: run, records: records, labelled: Set(models.map(\.hash)), baseline: baseline, targetMs: targetMs)
    }

    var markdown: String {
        let f4 = { (v: Double?) in v.map { String(format: "%.4f", $0) } ?? "-" }
        let kb = { (bytes: Int?) in bytes.map { String(format: "%.1f", Double($0) / 1024) } ?? "-" }
        var lines = [
            "# Run \(run): exported models", "",
            "![Validation accuracy against CPU latency](pareto.svg)", "",
            "| hash | arch | params | MACs | val acc (search) | val acc | test acc | cpu ms | vulkan ms | onnx KB | ncnn KB | BN fold top-1 / top-5 agreement |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in models {
            let ms = { (engine: String) in f4(m.latency.first { $0.engine == engine }?.medianMs) }
            let fold = m.fold.map { String(format: "%.2f%% / %.2f%%", $0.top1Agreement * 100, $0.top5Agreement * 100) } ?? "-"
            lines.append("| \(m.hash) | `\(m.arch.replacingOccurrences(of: "|", with: "\\|"))` | \(m.params) | \(m.macs) | \(f4(m.searchValAccuracy)) | \(f4(m.valAccuracy)) | "
                         + "\(f4(m.testAccuracy)) | \(ms("cpu")) | \(ms("vulkan")) | \(kb(m.files["model.onnx"])) | "
                         + "\(kb(m.files["model.bin"])) | \(fold) |")
        }
        // Every file in the runtimes that load it: fp32 and each variant.
        typealias Row = (hash: String, weights: String, accuracy: Double, files: [String: Int], verification: [ExportedModel.Verification])
        let rows = models.flatMap { m -> [Row] in
            [(m.hash, "fp32", m.testAccuracy, m.files.filter { $0.key.hasPrefix("model.") }, m.verification)]
                + m.variants.map { (m.hash, $0.precision.rawValue, $0.testAccuracy, $0.files, $0.verification) }
        }
        // Worth a table when a runtime ran the files or there are variants to compare.
        if rows.contains(where: { !$0.verification.isEmpty }) || rows.count > models.count {
            let runtimes = ["onnxruntime", "ncnn-cpu", "ncnn-vulkan"]
            lines += ["", "Per weight variant (biases and activations stay fp32; test accuracy from nasd's CPU engine on the stored weights), "
                      + "in the runtimes that load the files: their own latency (one image, one thread, median of the timed runs) "
                      + "and the largest logit difference from nasd's CPU engine on the first test images:", "",
                      "| hash | weights | test acc | " + runtimes.map { "\($0) ms" }.joined(separator: " | ") + " | max abs diff | files (KB) |",
                      "|---|---|---:|" + String(repeating: "---:|", count: runtimes.count) + "---:|---|"]
            for (hash, weights, accuracy, files, verification) in rows {
                let latency = runtimes.map { runtime in
                    guard let v = verification.first(where: { $0.runtime == runtime }) else { return "-" }
                    return v.skipped != nil ? "skipped" : f4(v.latencyMs)
                }
                let ran = verification.filter { $0.skipped == nil }
                let worst = ran.isEmpty ? "-" : String(format: "%.1e", ran.map(\.maxAbsDiff).max()!)
                let sizes = files.sorted { $0.key < $1.key }.map { "\($0.key) \(kb($0.value))" }.joined(separator: ", ")
                lines.append("| \(hash) | \(weights) | \(f4(accuracy)) | " + latency.joined(separator: " | ") + " | \(worst) | \(sizes) |")
            }
        }
        if let first = models.first {
            lines += ["", "Final training: \(first.epochs) epochs on \(first.trainingImages) images; accuracy on the 10k test set once per model.",
                      "Latency on nasd's engines: batch 1, the median of \(first.latency.first?.launchesMs.count ?? 0) launches per engine, interleaved across models.",
                      "BN fold: the folded model against the trained network over the test set (`fold.txt` per model).",
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

/// A run's candidates drawn as validation accuracy against CPU latency, the
/// Pareto front joined: the export's `pareto.svg` and the dashboard's plot.
public enum RunPlot {
    /// `labelled`: hashes to name on the plot (the exported models).
    static func plot(run: String, records: [CandidateRecord], labelled: Set<String> = [],
                     baseline: (name: String, records: [CandidateRecord])? = nil, targetMs: Double?) -> ParetoPlot {
        func series(_ name: String, _ records: [CandidateRecord], labels: Bool) -> ParetoPlot.Series {
            let points = Pareto.points(records).map {
                ParetoPlot.Point(latencyMs: $0.objectives.latencyMilliseconds, accuracy: $0.objectives.accuracy,
                                 label: labels && labelled.contains($0.candidate.hash) ? $0.candidate.hash : nil)
            }
            let front = Pareto.front(records).compactMap { c in
                c.valAccuracy.flatMap { a in c.latency(on: .cpu).map { ParetoPlot.Point(latencyMs: $0, accuracy: a) } }
            }
            return .init(name: name, points: points, front: front)
        }
        var all = [series("run \(run)", records, labels: true)]
        if let baseline { all.append(series("baseline \(baseline.name)", baseline.records, labels: false)) }
        return ParetoPlot(title: "Run \(run): validation accuracy against CPU latency", series: all, targetMs: targetMs)
    }

    /// The SVG of a run's plot (the target drawn when the reward counts CPU latency).
    public static func svg(run: String, records: [CandidateRecord], configuration: SearchConfiguration) -> String {
        plot(run: run, records: records,
             targetMs: configuration.reward.engine == .cpu ? configuration.reward.targetMilliseconds : nil).svg
    }
}
