import CGSL

/// Ordinary least squares over GSL (`gsl_multifit_linear`, SVD based):
/// the coefficients c minimising ‖y − Xc‖².
public enum LeastSquares {
    public struct Fit: Sendable, Codable, Equatable {
        public var coefficients: [Double]
        /// Residual sum of squares.
        public var chiSquared: Double
    }

    /// - Parameters:
    ///   - rows: one feature row per observation, all the same length.
    ///   - targets: one value per row.
    /// - Returns: nil when there are fewer observations than features.
    public static func fit(rows: [[Double]], targets: [Double]) throws(GSLError) -> Fit? {
        guard let features = rows.first?.count, features > 0, rows.count >= features, rows.count == targets.count,
              rows.allSatisfy({ $0.count == features }) else { return nil }
        GSLErrors.installHandler()
        let n = rows.count
        let x = gsl_matrix_alloc(n, features)!, y = gsl_vector_alloc(n)!, c = gsl_vector_alloc(features)!
        let covariance = gsl_matrix_alloc(features, features)!, work = gsl_multifit_linear_alloc(n, features)!
        defer {
            gsl_matrix_free(x); gsl_vector_free(y); gsl_vector_free(c)
            gsl_matrix_free(covariance); gsl_multifit_linear_free(work)
        }
        for (i, row) in rows.enumerated() {
            for (j, value) in row.enumerated() { gsl_matrix_set(x, i, j, value) }
            gsl_vector_set(y, i, targets[i])
        }
        var chiSquared = 0.0
        let status = gsl_multifit_linear(x, y, c, covariance, &chiSquared, work)
        guard status == GSL_SUCCESS else { throw GSLError(function: "gsl_multifit_linear", status: status) }
        return Fit(coefficients: (0..<features).map { gsl_vector_get(c, $0) }, chiSquared: chiSquared)
    }
}
