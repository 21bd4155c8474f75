/// How often one network's top-1 class and top-5 set equal a reference's,
/// and the largest logit difference: the measure both `nas parity` (engines
/// against the trainer) and an export's `fold.txt` (the folded model against
/// the trained one) report.
package struct LogitAgreement: Sendable {
    package private(set) var images = 0
    package private(set) var top1 = 0
    package private(set) var top5 = 0
    package private(set) var maxDifference = 0.0

    package init() {}

    /// Adds one image's logits.
    package mutating func add(reference: some Collection<Float>, engine: some Collection<Float>) {
        images += 1
        let r = Self.order(Array(reference)), e = Self.order(Array(engine))
        if r[0] == e[0] { top1 += 1 }
        if Set(r.prefix(5)) == Set(e.prefix(5)) { top5 += 1 }
        maxDifference = max(maxDifference, zip(reference, engine).map { Double(abs($0 - $1)) }.max() ?? 0)
    }

    package var top1Rate: Double { Double(top1) / Double(max(1, images)) }
    package var top5Rate: Double { Double(top5) / Double(max(1, images)) }

    private static func order(_ z: [Float]) -> [Int] { z.indices.sorted { z[$0] > z[$1] } }
}
