import CGSL

/// What this build of Numerics runs on, for device fingerprints and reports.
public enum NumericsLibrary {
    /// GSL's version, e.g. "2.7.1" (the header's, which Debian keeps equal to the library's).
    public static let gslVersion = GSL_VERSION
}
