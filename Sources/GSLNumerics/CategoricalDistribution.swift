import CGSL

/// A fixed categorical distribution, sampled in O(1) with GSL's Walker alias
/// table (`gsl_ran_discrete`). Build it once when the weights are reused.
public final class CategoricalDistribution {
    public let count: Int
    private let table: UnsafeMutablePointer<gsl_ran_discrete_t>

    /// `weights` need not sum to one; they must be finite, non-negative and not all zero.
    public init(weights: [Double]) {
        precondition(!weights.isEmpty, "a categorical distribution needs at least one weight")
        precondition(weights.allSatisfy { $0.isFinite && $0 >= 0 } && weights.contains { $0 > 0 },
                     "categorical weights must be finite, non-negative and not all zero: \(weights)")
        GSLErrors.installHandler()
        count = weights.count
        // Only fails on out-of-memory or the invalid weights excluded above.
        table = weights.withUnsafeBufferPointer { gsl_ran_discrete_preproc($0.count, $0.baseAddress)! }
    }

    deinit { gsl_ran_discrete_free(table) }

    /// One index in 0..<count; draws exactly one uniform from `stream`.
    public func sample(_ stream: RandomStream) -> Int {
        stream.withGSL { Int(gsl_ran_discrete($0, table)) }
    }
}
