import CGSL

/// Order statistics over GSL (`gsl_stats_*`), used to summarise latency
/// samples: robust against the outliers a shared machine produces.
public enum RobustStatistics {
    /// The median; nil for an empty sample.
    public static func median(_ values: [Double]) -> Double? {
        quantile(values, 0.5)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) with linear interpolation between order
    /// statistics, as `gsl_stats_quantile_from_sorted_data`; nil for an empty sample.
    public static func quantile(_ values: [Double], _ q: Double) -> Double? {
        precondition((0...1).contains(q), "quantile level must be in 0...1, got \(q)")
        guard !values.isEmpty else { return nil }
        var sorted = values
        sorted.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, $0.count) }
        return sorted.withUnsafeBufferPointer {
            gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, $0.count, q)
        }
    }

    /// Several quantiles of one sample, sorting it once.
    public static func quantiles(_ values: [Double], _ levels: [Double]) -> [Double]? {
        guard !values.isEmpty else { return nil }
        var sorted = values
        sorted.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, $0.count) }
        return sorted.withUnsafeBufferPointer { buffer in
            levels.map { gsl_stats_quantile_from_sorted_data(buffer.baseAddress, 1, buffer.count, $0) }
        }
    }

    /// The median absolute deviation from the median, unscaled (`gsl_stats_mad0`);
    /// nil for an empty sample.
    public static func medianAbsoluteDeviation(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        var work = [Double](repeating: 0, count: values.count)
        return values.withUnsafeBufferPointer { data in
            work.withUnsafeMutableBufferPointer { gsl_stats_mad0(data.baseAddress, 1, data.count, $0.baseAddress) }
        }
    }

    /// Mean and sample standard deviation; nil for fewer than two values.
    public static func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, standardDeviation: Double)? {
        guard values.count >= 2 else { return nil }
        return values.withUnsafeBufferPointer { buffer in
            let mean = gsl_stats_mean(buffer.baseAddress, 1, buffer.count)
            return (mean, gsl_stats_sd_m(buffer.baseAddress, 1, buffer.count, mean))
        }
    }
}
