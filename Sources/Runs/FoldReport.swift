import Core
import Engine
import Foundation
import Model
import SearchSpace
import Training

/// An exported model's `fold.txt`: what folding batch norm into the
/// convolutions (and fusing the activation and residual add after them)
/// changed, measured rather than assumed, as converters of batch-normalised
/// weights for mobile runtimes print it.
///
/// The trained network (conv → BN → activation, BN on its running
/// statistics) and the folded plan on nasd's CPU engine read the same test
/// images. Per folded unit: the max |Δ| of its output over the first batch
/// of images, beside the largest |value| there for scale; then, over the whole
/// test set, how often the folded model's top-1 class and top-5 set equal the
/// trained network's, and the largest logit difference.
struct FoldReport {
    struct Unit {
        /// The IR layers the unit covers, e.g. `b3.expand + b3.expand_bn + b3.expand_relu6`.
        let layers: String
        let maxDifference: Double
        let maxMagnitude: Double
    }

    let arch: String
    let units: [Unit]
    let unitImages: Int
    let agreement: LogitAgreement
    /// The folded model's top-1 accuracy on the test set: the exported
    /// model's test accuracy, counted on the same pass.
    let foldedAccuracy: Double

    init(network: Network, weights: NetworkWeights, plan: InferencePlan, test: LabelledImages, threads: Int) throws {
        let context = try ComputeContext(threads: threads)
        let batch = min(TestBatches.size, max(test.count, 1))
        let reference = try TrainingNetwork(network: network, batch: batch, context: context, layout: .nhwc,
                                            initialisation: .init(seed: 0, name: "unused"))
        try reference.load(weights)
        let folded = try InferenceNetwork(plan: plan, batch: batch, context: context)
        let pipeline = try InputPipeline(test, resolution: network.input.height)
        let classes = network.classes
        var agreement = LogitAgreement()
        var units: [Unit] = []
        var correct = 0
        try TestBatches.forEach(in: pipeline, batch: batch) { start, indices, rows in
            reference.withInput { pipeline.fill($0, indices: indices, augmentation: nil) }
            folded.withInput { pipeline.fill($0, indices: indices, augmentation: nil) }
            try reference.forward(training: false)
            try folded.run()
            if start == 0 {
                units = try plan.steps.map { step in
                    let expected = try reference.output(ofLayer: step.output)
                    let actual = try folded.output(ofLayer: step.output) ?? []
                    let values = rows * expected.count / batch
                    return Unit(layers: step.layers.map { network.layers[$0].name }.joined(separator: " + "),
                                maxDifference: zip(expected.prefix(values), actual).map { Double(abs($0 - $1)) }.max() ?? 0,
                                maxMagnitude: expected.prefix(values).map { Double(abs($0)) }.max() ?? 0)
                }
            }
            let trained = reference.logits, logits = folded.logits
            for row in 0..<rows {
                let slice = (row * classes)..<((row + 1) * classes)
                agreement.add(reference: trained[slice], engine: logits[slice])
                if TestBatches.correct(logits, row: row, classes: classes, label: pipeline.labels[start + row]) { correct += 1 }
            }
        }
        arch = network.architecture.description
        self.units = units
        self.unitImages = min(batch, pipeline.count)
        self.agreement = agreement
        foldedAccuracy = Double(correct) / Double(max(pipeline.count, 1))
    }

    /// The figures `model.json` keeps.
    var summary: ExportedModel.Fold {
        .init(images: agreement.images, top1Agreement: agreement.top1Rate, top5Agreement: agreement.top5Rate,
              maxLogitDifference: agreement.maxDifference, maxUnitDifference: units.map(\.maxDifference).max() ?? 0)
    }

    /// The report as `fold.txt` holds it.
    var text: String {
        var lines = [
            "BN folding report for \(arch)",
            "Folded: w' = γ/√(σ²+ε)·w, b' = β + (b − μ)·γ/√(σ²+ε), ε = \(BatchNormalization.epsilon); activation and residual add fused.",
            "Reference: the trained network, conv → BN (running statistics) → activation, on nasd's CPU engine (oneDNN).",
            "",
            "Per folded unit, max |Δ| over the first \(unitImages) test images (max |value| for scale):",
        ]
        let width = max(units.map(\.layers.count).max() ?? 0, 4)
        for unit in units {
            lines.append(unit.layers.padding(toLength: width, withPad: " ", startingAt: 0)
                + String(format: "  max|Δ| %.3e  max|value| %.3e", unit.maxDifference, unit.maxMagnitude))
        }
        lines += [
            "",
            "Whole test set (\(agreement.images) images), folded model against the trained network:",
            String(format: "top-1 agreement %.2f%% (%d/%d)", agreement.top1Rate * 100, agreement.top1, agreement.images),
            String(format: "top-5 agreement %.2f%% (%d/%d)", agreement.top5Rate * 100, agreement.top5, agreement.images),
            String(format: "max |Δ| of the logits %.3e", agreement.maxDifference),
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
