import Core
import Foundation
import RunStore
import SearchSpace

/// Where a window's candidates are evaluated: side by side in this process
/// (`EvaluationPool`), or by workers anywhere through the run's shared queue
/// (`SharedQueuePool`). Either way results come back by index, in the
/// order the search commits them.
protocol CandidatePool {
    func enqueue(_ record: CandidateRecord, _ network: Network) throws
    func result(_ index: Int, report: (SearchEvent) -> Void) throws -> CandidateRecord
    func finish()
}

extension EvaluationPool: CandidatePool {}

/// A window's candidates queued in the run's shared store for `nas worker`
/// processes, and for this process's own evaluators if it has any (each a
/// `QueueWorker` claiming like any other, so a coordinator alone still
/// finishes its run). The coordinator polls each result in index order and
/// relays the claims and training progress the workers record.
final class SharedQueuePool: CandidatePool, @unchecked Sendable {
    private let queue: any WorkQueue
    private let stop: StopRequest
    private let condition = NSCondition()
    private var closed = false
    private var running = 0
    private var localError: (any Error)?
    /// How often the coordinator looks at the candidate it waits for.
    static let pollSeconds = 0.1

    init(queue: any WorkQueue, evaluators: [CandidateEvaluator], stop: StopRequest) {
        self.queue = queue
        self.stop = stop
        running = evaluators.count
        for (number, evaluator) in evaluators.enumerated() {
            let id = "\(ProcessInfo.processInfo.hostName)-\(getpid())-local\(number + 1)"
            // Each evaluator is used by its thread alone; the store serialises its own calls.
            nonisolated(unsafe) let owned = evaluator, shared = queue
            let thread = Thread { [self] in
                do { work(try QueueWorker(id: id, queue: shared, evaluator: owned)) } catch {
                    condition.withLock { localError = localError ?? error; running -= 1; condition.broadcast() }
                }
            }
            // Training runs deep call chains through oneDNN: more than a secondary thread's default stack.
            thread.stackSize = 64 << 20
            thread.name = "nasd-evaluator"
            thread.start()
        }
    }

    /// The candidates queued, by index (for the started events).
    private var records: [Int: CandidateRecord] = [:]

    func enqueue(_ record: CandidateRecord, _ network: Network) throws {
        try queue.enqueue(record)
        records[record.index] = record
    }

    func result(_ index: Int, report: (SearchEvent) -> Void) throws -> CandidateRecord {
        var announced: Int?
        var lastProgress: TrainingProgress?
        while true {
            if let error = condition.withLock({ localError }) { throw error }
            if stop.isRequested { throw SearchStopped() }
            guard let entry = try queue.queued(index) else {
                throw SearchRunError.damaged(location: queue.location, reason: "candidate \(index) is missing from the workers' queue")
            }
            if entry.state == .done, let result = entry.result { return result }
            if entry.attempts >= maximumClaims, entry.state == .queued || entry.state == .claimed, try queue.leases().allSatisfy({ $0.index != index || $0.secondsLeft < 0 }) {
                // Given out again and again, and every holder lost: the candidate fails, the run goes on.
                guard var failed = records[index] else { throw SearchRunError.damaged(location: queue.location, reason: "candidate \(index) was never queued") }
                failed.status = .failed
                failed.error = "abandoned after \(entry.attempts) claims: every worker that took it was lost before handing it back (killed, out of memory, or its machine gone)"
                failed.reward = Reward.failed
                return failed
            }
            if entry.state == .claimed, announced != entry.attempts, let arch = records[index]?.arch {
                announced = entry.attempts
                report(.started(index: index, architecture: arch))
            }
            if let progress = entry.progress, progress != lastProgress {
                lastProgress = progress
                report(.training(index: index, progress))
            }
            usleep(UInt32(Self.pollSeconds * 1e6))
        }
    }

    func finish() {
        condition.lock()
        closed = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private var isClosed: Bool { condition.withLock { closed } }

    private func work(_ worker: QueueWorker) {
        defer { condition.withLock { running -= 1; condition.broadcast() } }
        while !isClosed {
            do {
                if try worker.evaluateNext(isStopped: { [self] in stop.isRequested || isClosed }) == nil {
                    // Nothing claimable: the rest of the window is with other workers.
                    condition.lock()
                    if !closed { _ = condition.wait(until: Date().addingTimeInterval(0.2)) }
                    condition.unlock()
                }
            } catch is SearchStopped {
                return
            } catch {
                condition.withLock { localError = localError ?? error }
                return
            }
        }
    }
}
