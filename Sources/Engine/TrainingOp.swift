import CDNNL

/// One IR layer in training: forward, and backward into its inputs' gradients
/// and its parameters' gradients.
protocol TrainingOp: AnyObject {
    /// `training`: batch statistics for BN; otherwise running statistics.
    func forward(training: Bool) throws(DNNLError)
    func backward() throws(DNNLError)
    var parameters: [Parameter] { get }
}

/// Where a layer writes the gradient of one of its inputs. The first consumer
/// (in backward order) of a value writes its gradient buffer directly; later
/// ones write a scratch buffer that is then added in.
struct GradientSink {
    let target: Memory
    /// Adds `target` (scratch) into the value's gradient; nil when writing directly.
    let accumulate: Primitive?

    func finish() throws(DNNLError) { try accumulate?.execute() }
}

/// 4-D dims of a shape at a batch size.
func nchw(_ batch: Int, _ s: (channels: Int, height: Int, width: Int)) -> [Int] {
    [batch, s.channels, s.height, s.width]
}
