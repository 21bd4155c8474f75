import CGSL
public import Core

/// GSL's default error handler aborts the process. nasd checks every status
/// GSL returns instead, so the handler is switched off once, before first use.
enum GSLErrors {
    private static let handlerOff: Void = {
        _ = gsl_set_error_handler_off()
    }()

    static func installHandler() { _ = handlerOff }
}

/// A GSL call that returned an error status.
public struct GSLError: ClassifiedError {
    public var kind: ErrorKind { .internal }
    public let function: String
    public let status: Int32

    public var description: String {
        let reason = gsl_strerror(status).map { String(cString: $0) } ?? "status \(status)"
        return "GSL \(function) failed: \(reason)"
    }
}
