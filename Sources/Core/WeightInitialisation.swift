/// How a training network's convolution and linear weights start.
///
/// The choice is part of a run's recipe: a run keeps the scheme it was
/// created with, so resuming it under a newer default reproduces it exactly.
public enum WeightInitialisation: String, Sendable, Codable, CaseIterable {
    /// He et al. 2015: normal with std √(2 / fan-in), biases zero. nasd's
    /// first recipe; runs created before the choice existed used it.
    case heNormal = "he-normal"
    /// PyTorch's default (`kaiming_uniform_` with a = √5, which reduces to
    /// U(±1/√fan-in)), biases U(±1/√fan-in) too. Smaller starting weights
    /// than He's: on mbv2-fm's 5-epoch recipe it is worth about one point of
    /// validation accuracy (README, "Accuracy (final training)").
    case fanInUniform = "fan-in-uniform"

    /// The default for new runs and trainings.
    public static let recommended = WeightInitialisation.fanInUniform
}
