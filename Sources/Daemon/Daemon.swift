public import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
public import Runs
import ServiceLifecycle

/// Where the daemon listens: a Unix socket (the default, `nasd.sock` in the
/// runs directory, mode 0600: only its user reaches it) or a TCP address.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// `unix:PATH` or `HOST:PORT` (`[::1]:PORT` for IPv6).
    public init(parsing text: String) throws(NasError) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .invalidInput("--listen unix: needs a socket path, such as unix:Runs/nasd.sock") }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .invalidInput("--listen '\(text)' is neither unix:PATH nor HOST:PORT (such as 127.0.0.1:8080)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .invalidInput("--listen '\(text)' has no host; use 127.0.0.1:\(port) for this machine only") }
        self = .tcp(host: host, port: port)
    }

    /// Loopback and Unix sockets are reachable from this machine only; any
    /// other address needs a token.
    public var needsToken: Bool {
        guard case let .tcp(host, _) = self else { return false }
        return !(host == "localhost" || host == "::1" || host.hasPrefix("127."))
    }

    public var description: String {
        switch self {
        case let .unix(path): return "unix:\(path)"
        case let .tcp(host, port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// `nas serve`'s settings.
public struct DaemonOptions: Sendable {
    public var runs: RunsFolder
    public var listen: ListenAddress
    /// Requests must carry `Authorization: Bearer <token>` when set.
    public var token: String?
    /// Runs searching at once.
    public var workers: Int
    /// Where `POST /runs` finds the spaces it names.
    public var spaces: String

    public init(runs: RunsFolder, listen: ListenAddress?, token: String?, workers: Int, spaces: String) {
        self.runs = runs
        self.listen = listen ?? .unix(path: runs.path + "/nasd.sock")
        self.token = token
        self.workers = workers
        self.spaces = spaces
    }
}

public enum Daemon {
    /// Seconds a shutdown waits for active runs to checkpoint, within the 10 s promised.
    static let shutdownSeconds = 8.0

    /// Serves until SIGTERM or SIGINT: then it stops taking requests, asks
    /// active runs to stop at their next training step (everything finished
    /// is committed), and returns. Runs it was driving stay in its queue
    /// file, and the next daemon resumes them. `ready` is called with the
    /// address bound (the port chosen, when 0 was asked).
    public static func serve(_ options: DaemonOptions, ready: @escaping @Sendable (String) -> Void) async throws {
        if options.listen.needsToken, options.token == nil {
            throw NasError.invalidInput("listening on \(options.listen) reaches beyond this machine, so requests need a token: give --token-file FILE or set NASD_TOKEN (or listen on 127.0.0.1 or a unix: socket)")
        }
        if let token = options.token, token.count < 16 {
            throw NasError.invalidInput("the token is \(token.count) characters; use at least 16 random ones (such as `openssl rand -hex 32`)")
        }
        try FileManager.default.createDirectory(atPath: options.runs.path, withIntermediateDirectories: true)
        _ = ServingPriority.processNiceness  // read before any thread is lowered
        let lock = try DaemonLock(runs: options.runs.path)
        let metrics = DaemonMetrics()
        let scheduler = RunScheduler(folder: options.runs, workers: options.workers, metrics: metrics)
        try scheduler.start()
        let exports = ExportJobs(folder: options.runs)
        exports.start()
        let lifecycle = Lifecycle()

        let router = Router()
        router.add(middleware: ServingPriorityMiddleware())
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: ErrorMiddleware())
        if let token = options.token { router.add(middleware: TokenMiddleware(token: token)) }
        let routes = Routes(scheduler: scheduler, exports: exports, folder: options.runs, runs: OpenRuns(folder: options.runs),
                            spaces: options.spaces, lifecycle: lifecycle)
        routes.register(on: router)
        Dashboard(routes: routes, token: options.token).register(on: router)

        let address: BindAddress
        switch options.listen {
        case let .unix(path):
            // Only the daemon of this runs directory (it holds the lock) gets here, so a socket file left is stale.
            unlink(path)
            address = .unixDomainSocket(path: path)
        case let .tcp(host, port):
            address = .hostname(host, port: port)
        }
        var logger = Logger(label: "nasd")
        logger.logLevel = .warning
        // The socket is created with the umask's mode: 0600 from the first instant, no window to connect.
        let previousMask = umask(0o177)
        let listen = options.listen
        let app = Application(router: router, configuration: .init(address: address, serverName: "nasd"),
                              onServerRunning: { channel in
            umask(previousMask)
            var bound = listen
            if case let .tcp(host, _) = listen { bound = .tcp(host: host, port: channel.localAddress?.port ?? 0) }
            lock.record(address: bound)
            ready(bound.description)
        }, eventLoopGroupProvider: .shared(ServingPriority.eventLoopGroup()), logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app),
                       .init(service: SchedulerService(scheduler: scheduler, exports: exports, lifecycle: lifecycle))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        withExtendedLifetime(lock) {}
        if case let .unix(path) = options.listen { unlink(path) }
    }
}

/// Stops the runs first when the daemon shuts down (services stop in
/// reverse order, so before the HTTP server): streams end, new work is
/// refused, active runs checkpoint.
private struct SchedulerService: Service {
    let scheduler: RunScheduler
    let exports: ExportJobs
    let lifecycle: Lifecycle

    func run() async throws {
        try? await gracefulShutdown()
        lifecycle.beginStopping()
        // An export in progress stops at its next step and is taken up again at the next start, its finished models kept.
        exports.stop()
        let (scheduler, exports) = (self.scheduler, self.exports)
        let deadline = Date().addingTimeInterval(Daemon.shutdownSeconds)
        _ = try await blocking {
            scheduler.shutdown(timeout: Daemon.shutdownSeconds)
            exports.waitStopped(until: deadline)
        }
    }
}

/// Counts every request by route pattern (not path: a run's name would make
/// a series per run) and final status, refusals included.
private struct MetricsMiddleware: RouterMiddleware {
    let metrics: DaemonMetrics

    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.request(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: response.status.code)
        return response
    }
}

/// Every error a route throws becomes the API's JSON error (APIError), and
/// a path the router does not know a JSON 404.
private struct ErrorMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch let error as HTTPError where error.status == .notFound {
            // A path of the API asked with another method is 405, with the methods it has.
            if let allowed = OpenAPIDocument.methods(of: request.uri.path) {
                var response = APIError(DaemonError.methodNotAllowed(request.method.rawValue, request.uri.path, allowed)).response
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            return APIError(DaemonError.noRoute(request.uri.path)).response
        } catch {
            return APIError(error).response
        }
    }
}

/// The token on every request but the sign-in page's: `Authorization:
/// Bearer <token>` from scripts, or the cookie `/login` sets for browsers
/// (SameSite=Strict, so another site's page cannot post with it). A
/// dashboard page asked for without it leads to the sign-in page.
private struct TokenMiddleware: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/login" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let bearer = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : nil
        let cookie = (request.headers[.cookie] ?? "").split(separator: ";").lazy
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(Dashboard.cookie + "=") }
            .map { String($0.dropFirst(Dashboard.cookie.count + 1)) }
        guard TokenCheck.matches(bearer ?? cookie ?? "", token) else {
            if request.method == .get, path == "/" || path.hasPrefix("/ui/") {
                return Response(status: .seeOther, headers: [.location: "/login"])
            }
            return APIError(DaemonError.unauthorized).response
        }
        return try await next(request, context)
    }
}

/// Whether the daemon has begun to shut down: streams end, new work is refused.
final class Lifecycle: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false
    var isStopping: Bool { lock.withLock { stopping } }
    func beginStopping() { lock.withLock { stopping = true } }
}
