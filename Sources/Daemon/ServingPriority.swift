import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// Serving never takes a core from training: the HTTP event loops and the
/// threads that read stores for requests run at a lower priority (a higher
/// nice value) than the search's workers, which keep the process's own.
/// Linux gives a nice-10 thread about a tenth of a nice-0 one's share of a
/// contended core, so a burst of requests slows training little, while an
/// idle core still serves at full speed.
enum ServingPriority {
    static let niceness: Int32 = 10

    /// Lowers the calling thread's priority: on Linux the nice value is per
    /// thread, and `setpriority(PRIO_PROCESS, 0, …)` sets the caller's.
    static func lowerCurrentThread() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }

    /// The nice value the process was started with (its main thread's): what
    /// training threads keep, whichever thread created them. Threads inherit
    /// their creator's nice value, and the daemon's are created from Swift's
    /// cooperative pool, whose threads libdispatch gives a QoS-derived nice
    /// (-2 for user-initiated when it may) or, once they have served a
    /// request, ours.
    static let processNiceness: Int32 = {
        errno = 0
        let value = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()))
        return errno == 0 ? value : 0
    }()

    /// Sets the calling thread to the process's own priority: called first by every thread that trains.
    static func trainCurrentThread() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, processNiceness)
    }

    /// The event-loop group the HTTP server runs on, its threads lowered.
    static func eventLoopGroup() -> MultiThreadedEventLoopGroup {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        for loop in group.makeIterator() { loop.execute { lowerCurrentThread() } }
        return group
    }
}

/// The threads that do a request's blocking work (store reads, creating a
/// run), lowered like the event loops; the global dispatch pool is left at
/// the process's priority for everything else.
final class ServingPool: @unchecked Sendable {
    static let shared = ServingPool(threads: max(2, System.coreCount))

    private let condition = NSCondition()
    private var work: [() -> Void] = []

    init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in
                ServingPriority.lowerCurrentThread()
                while true {
                    condition.lock()
                    while work.isEmpty { condition.wait() }
                    let next = work.removeFirst()
                    condition.unlock()
                    next()
                }
            }
            thread.name = "nasd-serving-\(i)"
            thread.start()
        }
    }

    func run(_ body: @escaping () -> Void) {
        condition.lock()
        work.append(body)
        condition.signal()
        condition.unlock()
    }
}

/// Hummingbird runs each connection's requests as tasks on Swift's
/// cooperative pool, not on the event loops: the pool's threads parse,
/// route and write responses. The first middleware lowers whichever thread
/// runs it, so after the first requests every pool thread serves at the
/// lowered priority (nothing else of the daemon's work runs on that pool:
/// training and exports have threads of their own).
struct ServingPriorityMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        ServingPriority.lowerCurrentThread()
        return try await next(request, context)
    }
}
