public import Core

/// One-dimensional k-means: what weight sharing clusters a layer's weights
/// with. Seeded k-means++ (Arthur & Vassilvitskii 2007) picks the starting
/// centroids from the given stream; Lloyd's iterations then run on the
/// sorted values, where every cluster is a contiguous range, until no
/// assignment changes.
public struct KMeans: Sendable {
    /// Centroids in increasing order.
    public let centroids: [Float]
    /// The centroid of each value, by index into `centroids`.
    public let assignment: [Int]

    /// - Parameters:
    ///   - k: clusters wanted; fewer when the values have fewer distinct numbers.
    ///   - maxIterations: Lloyd's rounds at most (1-D converges in a few dozen).
    public init(_ values: [Float], k: Int, random: some RandomSource, maxIterations: Int = 100) {
        precondition(k >= 1 && !values.isEmpty)
        let order = values.indices.sorted { values[$0] < values[$1] }
        let sorted = order.map { Double(values[$0]) }
        var distinct = 1
        for i in 1..<sorted.count where sorted[i] != sorted[i - 1] { distinct += 1 }
        var centres = Self.plusPlus(sorted, k: min(k, distinct), random: random)
        // Lloyd's rounds: with sorted values and sorted centroids, each cluster
        // is the range between two midpoints.
        var bounds = [Int]()
        for _ in 0..<maxIterations {
            let next = Self.bounds(sorted, centres)
            if next == bounds { break }
            bounds = next
            for c in centres.indices {
                let range = bounds[c]..<bounds[c + 1]
                guard !range.isEmpty else { continue }  // an empty cluster keeps its place
                centres[c] = sorted[range].reduce(0, +) / Double(range.count)
            }
            centres.sort()
        }
        bounds = Self.bounds(sorted, centres)
        var assignment = [Int](repeating: 0, count: values.count)
        for c in centres.indices { for j in bounds[c]..<bounds[c + 1] { assignment[order[j]] = c } }
        self.centroids = centres.map { Float($0) }
        self.assignment = assignment
    }

    /// k-means++: the first centre uniformly, each next one with probability
    /// proportional to the squared distance to the nearest centre so far.
    private static func plusPlus(_ sorted: [Double], k: Int, random: some RandomSource) -> [Double] {
        var centres = [sorted[random.uniformInt(sorted.count)]]
        var nearest = sorted.map { ($0 - centres[0]) * ($0 - centres[0]) }
        while centres.count < k {
            let total = nearest.reduce(0, +)
            guard total > 0 else { break }
            var target = random.uniform(0, total)
            var pick = nearest.count - 1
            for (i, d) in nearest.enumerated() {
                target -= d
                if target < 0, d > 0 { pick = i; break }
            }
            let centre = sorted[pick]
            centres.append(centre)
            for i in nearest.indices { nearest[i] = min(nearest[i], (sorted[i] - centre) * (sorted[i] - centre)) }
        }
        return centres.sorted()
    }

    /// Start of each centre's range in `sorted` (and the end), split at the midpoints.
    private static func bounds(_ sorted: [Double], _ centres: [Double]) -> [Int] {
        var bounds = [0]
        var j = 0
        for c in 0..<(centres.count - 1) {
            let midpoint = (centres[c] + centres[c + 1]) / 2
            while j < sorted.count, sorted[j] <= midpoint { j += 1 }
            bounds.append(j)
        }
        bounds.append(sorted.count)
        return bounds
    }
}
