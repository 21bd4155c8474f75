import Testing
import GSLNumerics

@Suite("Robust statistics")
struct RobustStatisticsTests {
    @Test func medianOddAndEven() {
        #expect(RobustStatistics.median([5, 1, 3]) == 3)
        #expect(RobustStatistics.median([4, 1, 3, 2]) == 2.5)
        #expect(RobustStatistics.median([]) == nil)
    }

    @Test("Quantiles interpolate linearly between order statistics")
    func quantiles() {
        let values = [10.0, 0, 30, 20, 40]  // sorted: 0 10 20 30 40
        #expect(RobustStatistics.quantile(values, 0) == 0)
        #expect(RobustStatistics.quantile(values, 1) == 40)
        #expect(RobustStatistics.quantile(values, 0.1) == 4)   // 0.1·4 = 0.4 of the way from 0 to 10
        #expect(RobustStatistics.quantile(values, 0.9) == 36)
        #expect(RobustStatistics.quantiles(values, [0.1, 0.5, 0.9]) == [4, 20, 36])
    }

    @Test("Median absolute deviation ignores one wild outlier")
    func mad() {
        #expect(RobustStatistics.medianAbsoluteDeviation([1, 2, 3, 4, 100]) == 1)
        #expect(RobustStatistics.medianAbsoluteDeviation([2, 2, 2]) == 0)
    }
}
