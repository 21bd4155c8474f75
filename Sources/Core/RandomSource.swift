/// A source of random draws, as the pure-Swift modules need them (sampling a
/// search space, drawing test weights). GSLNumerics' `RandomStream` (GSL's
/// MT19937, checkpointable) is the implementation a run uses; the protocol
/// keeps GSL out of the modules that only draw.
public protocol RandomSource: AnyObject {
    /// An integer uniform on 0..<n.
    func uniformInt(_ n: Int) -> Int
    /// A double uniform on [low, high).
    func uniform(_ low: Double, _ high: Double) -> Double
    /// A normal draw.
    func normal(mean: Double, standardDeviation: Double) -> Double
}
