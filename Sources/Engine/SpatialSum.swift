import SearchSpace

/// Per image and channel, the sum over H×W of an activation-shaped buffer
/// into an N×C×1×1 one, in the network's layout: the SE gate's gradient.
///
/// Each channel accumulates in float over h, then w, as oneDNN's reference
/// reduction does, so the sums (and every weight trained through them) are
/// bit for bit what that kernel gave; the loop runs across channels, which
/// are contiguous in both layouts, so it vectorises.
final class SpatialSum {
    private let source: Memory
    private let destination: Memory
    private let batch, channels, spatial: Int
    /// Channels per block (blocked layout) or all of them (channels last).
    private let block: Int
    /// Channels as stored: padded up to the block.
    private let paddedChannels: Int

    init(source: Memory, destination: Memory, shape: TensorShape, batch: Int, layout: ActivationLayout) {
        self.source = source
        self.destination = destination
        self.batch = batch
        channels = shape.channels
        spatial = shape.height * shape.width
        switch layout {
        case .nhwc: block = shape.channels
        case .blocked: block = layout.channelBlock
        }
        paddedChannels = (channels + block - 1) / block * block
    }

    func run() {
        let x = source.pointer, y = destination.pointer
        for n in 0..<batch {
            let sums = y + n * paddedChannels
            sums.update(repeating: 0, count: paddedChannels)
            for channelBlock in 0..<(paddedChannels / block) {
                let first = channelBlock * block
                let base = x + (n * paddedChannels + first) * spatial
                let out = sums + first
                for position in 0..<spatial {
                    let row = base + position * block
                    for c in 0..<block { out[c] += row[c] }
                }
            }
        }
    }
}
