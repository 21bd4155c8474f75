/// Where a candidate's training stands: for progress bars, and carried by a
/// worker's lease renewals to the coordinator that shows it (hence here, below
/// both the trainer and the run store).
public struct TrainingProgress: Codable, Sendable, Equatable {
    public let epoch: Int
    public let epochs: Int
    public let step: Int
    public let stepsPerEpoch: Int
    public let loss: Double
    public let imagesPerSecond: Double
    public let elapsedSeconds: Double

    public init(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, elapsedSeconds: Double) {
        self.epoch = epoch
        self.epochs = epochs
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
        self.loss = loss
        self.imagesPerSecond = imagesPerSecond
        self.elapsedSeconds = elapsedSeconds
    }

    public var fraction: Double { Double((epoch - 1) * stepsPerEpoch + step) / Double(epochs * stepsPerEpoch) }
    public var remainingSeconds: Double { fraction > 0 ? elapsedSeconds * (1 - fraction) / fraction : 0 }

    enum CodingKeys: String, CodingKey {
        case epoch, epochs, step, loss
        case stepsPerEpoch = "steps_per_epoch", imagesPerSecond = "images_per_second", elapsedSeconds = "elapsed_seconds"
    }
}
