import Training

/// The test set walked in fixed-size batches for engines built at that batch
/// size. A partial last batch repeats its first image; `body` gets the
/// indices to fill and how many leading rows are real.
enum TestBatches {
    /// Images per pass: small enough that a trainer's network (which
    /// allocates gradients too) stays well under a gigabyte on mbv2-fm.
    static let size = 100

    static func forEach(in pipeline: InputPipeline, batch: Int,
                        _ body: (_ start: Int, _ indices: ArraySlice<Int>, _ rows: Int) throws -> Void) rethrows {
        var start = 0
        while start < pipeline.count {
            let end = min(start + batch, pipeline.count)
            let indices = Array(start..<end) + Array(repeating: start, count: batch - (end - start))
            try body(start, indices[...], end - start)
            start = end
        }
    }

    /// Whether row `row` of `logits` (N×classes) names `label`.
    static func correct(_ logits: [Float], row: Int, classes: Int, label: UInt8) -> Bool {
        let scores = logits[(row * classes)..<((row + 1) * classes)]
        return scores.indices.max { scores[$0] < scores[$1] }.map { $0 - row * classes } == Int(label)
    }
}
