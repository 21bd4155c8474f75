import GSLNumerics

/// The fixed split of the 60k Fashion-MNIST training images into 50k for
/// training and 10k for validation. Every run uses the same split (its seed is
/// a constant, reported with results), so candidates are ranked on the same
/// validation images; the 10k test set is never used for ranking.
public struct DatasetSplit: Sendable {
    public static let seed: UInt64 = 2026
    public static let validationCount = 10_000

    public let train: LabelledImages
    public let validation: LabelledImages

    public init(_ all: LabelledImages) {
        let order = RandomStream(seed: Self.seed, name: "fashion-mnist-split").permutation(all.count)
        let trainCount = all.count - Self.validationCount
        train = all.subset(Array(order[..<trainCount]))
        validation = all.subset(Array(order[trainCount...]))
    }

    public static func load() throws(DatasetError) -> DatasetSplit {
        DatasetSplit(try FashionMNIST.training())
    }
}
