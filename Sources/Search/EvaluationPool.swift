import Foundation
import RunStore
import SearchSpace

/// Evaluates a window's candidates on several evaluators at once, one thread
/// each (`--parallel`), while the search's own thread commits results in
/// index order. Workers take the lowest queued index first, so the
/// candidate the commit waits for is never behind the others. Events reach
/// the caller on its own thread, from `result`.
final class EvaluationPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [(record: CandidateRecord, network: Network)] = []
    private var results: [Int: Result<CandidateRecord, any Error>] = [:]
    private var events: [SearchEvent] = []
    private var closed = false
    private var running = 0
    private let store: any RunStore
    private let stop: StopRequest
    /// Seconds between two training-progress events of one candidate.
    static let progressInterval = 0.1

    init(evaluators: [CandidateEvaluator], store: any RunStore, stop: StopRequest) {
        self.store = store
        self.stop = stop
        running = evaluators.count
        for evaluator in evaluators {
            // Each evaluator is used by its thread alone from here on.
            nonisolated(unsafe) let owned = evaluator
            let thread = Thread { [self] in work(owned) }
            // Training runs deep call chains through oneDNN: more than a secondary thread's default stack.
            thread.stackSize = 64 << 20
            thread.name = "nasd-evaluator"
            thread.start()
        }
    }

    /// Queues a candidate for the next free evaluator.
    func enqueue(_ record: CandidateRecord, _ network: Network) {
        condition.lock()
        queue.append((record, network))
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for candidate `index`, passing on every event meanwhile; rethrows
    /// `SearchStopped` or a store error from its evaluation.
    func result(_ index: Int, report: (SearchEvent) -> Void) throws -> CandidateRecord {
        while true {
            condition.lock()
            while results[index] == nil && events.isEmpty { condition.wait() }
            let pending = events
            events.removeAll()
            let result = results.removeValue(forKey: index)
            condition.unlock()
            for event in pending { report(event) }
            if let result { return try result.get() }
        }
    }

    /// Stops taking work, makes the evaluations in progress stop at their next
    /// training step, and waits for every worker to end.
    func finish() {
        condition.lock()
        closed = true
        queue.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func work(_ evaluator: CandidateEvaluator) {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            guard !closed, let next = queue.indices.min(by: { queue[$0].record.index < queue[$1].record.index }) else {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            var (candidate, network) = queue.remove(at: next)
            condition.unlock()

            let outcome: Result<CandidateRecord, any Error>
            do {
                candidate.status = .training
                post(.started(index: candidate.index, architecture: candidate.arch))
                try store.save(candidate)
                let index = candidate.index
                var posted = Date.distantPast
                try evaluator.evaluate(network, into: &candidate) { [self] progress in
                    if stop.isRequested || isClosed { throw SearchStopped() }
                    // A step of a small proxy lasts a few milliseconds: waking the search's
                    // thread for each one (and the daemon's event publishing behind it) cost
                    // the training core more than the steps' own bookkeeping. Progress lines
                    // and event streams show a tenth of a second's resolution; an epoch's end always passes.
                    let now = Date()
                    guard now.timeIntervalSince(posted) >= Self.progressInterval || progress.step == progress.stepsPerEpoch else { return }
                    posted = now
                    post(.training(index: index, progress))
                }
                outcome = .success(candidate)
            } catch {
                outcome = .failure(error)
            }
            condition.lock()
            results[candidate.index] = outcome
            condition.broadcast()
            condition.unlock()
        }
    }

    private var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    private func post(_ event: SearchEvent) {
        condition.lock()
        events.append(event)
        condition.broadcast()
        condition.unlock()
    }
}
