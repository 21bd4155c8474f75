import Core
import Foundation
import Hummingbird
import Runs

/// Errors only the daemon has: a request that conflicts with a run's state,
/// or that the HTTP layer refuses before any run is touched.
enum DaemonError: ClassifiedError {
    /// 409: the run exists, is already active, is not running, or has finished.
    case conflict(String)
    /// 401: no token, or the wrong one.
    case unauthorized
    /// 413: the body is over the limit.
    case bodyTooLarge(limit: Int)
    /// 415: the body is not JSON.
    case unsupportedMediaType(String?)
    /// 422: JSON, but not the shape the route takes.
    case unprocessable(field: String?, String)
    /// 404 for a path the API does not have.
    case noRoute(String)
    /// 405 for a path it has, asked with another method.
    case methodNotAllowed(String, String, [String])

    var kind: ErrorKind {
        switch self {
        case .conflict, .unauthorized, .bodyTooLarge, .unsupportedMediaType, .unprocessable: return .invalidInput
        case .noRoute: return .notFound
        case .methodNotAllowed: return .invalidInput
        }
    }

    var description: String {
        switch self {
        case let .conflict(message), let .unprocessable(_, message): return message
        case .unauthorized:
            return "this daemon needs a token: send `Authorization: Bearer <token>` with the token of its --token-file or NASD_TOKEN"
        case let .bodyTooLarge(limit): return "the request body is over \(limit / 1024) KiB; a search request is a few hundred bytes"
        case let .unsupportedMediaType(type):
            return "the body's Content-Type is \(type ?? "missing"); send JSON with `Content-Type: application/json`"
        case let .noRoute(path): return "\(path) is not part of the API; its routes are listed in /openapi.yaml"
        case let .methodNotAllowed(method, path, allowed):
            return "\(path) takes \(allowed.joined(separator: " or ")), not \(method)"
        }
    }
}

/// The one place errors become HTTP: status, and the body
/// `{"error": {"code", "message", "field"}}`.
struct APIError: Error {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let field: String?

    init(_ error: any Error) {
        message = "\(error)"
        field = (error as? InvalidField)?.field ?? {
            if case let .unprocessable(field, _)? = error as? DaemonError { return field }
            return nil
        }()
        switch error as? DaemonError ?? (error is RunsFolderError ? .conflict("\(error)") : nil) {
        case .conflict?: (status, code) = (.conflict, "conflict")
        case .unauthorized?: (status, code) = (.unauthorized, "unauthorized")
        case .bodyTooLarge?: (status, code) = (.contentTooLarge, "body_too_large")
        case .unsupportedMediaType?: (status, code) = (.unsupportedMediaType, "unsupported_media_type")
        case .unprocessable?: (status, code) = (.unprocessableContent, "unprocessable")
        case .noRoute?: (status, code) = (.notFound, "not_found")
        case .methodNotAllowed?: (status, code) = (.methodNotAllowed, "method_not_allowed")
        case nil:
            let kind = ErrorKind.of(error)
            code = kind.rawValue
            switch kind {
            case .invalidInput: status = .badRequest
            case .notFound: status = .notFound
            // A run's store that cannot be read is the server's state, not the request's fault.
            case .damaged, .internal: status = .internalServerError
            case .environment: status = .serviceUnavailable
            }
        }
    }

    var response: Response {
        var error: [String: Any] = ["code": code, "message": message]
        error["field"] = field ?? NSNull()
        let data = (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
