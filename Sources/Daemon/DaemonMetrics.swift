import Foundation
import Prometheus
import RunStore

/// What `GET /metrics` reports, in Prometheus's text format through
/// swift-prometheus. Counters start at zero with each daemon (Prometheus's
/// rate() expects that); a run's totals since it began are in its store.
final class DaemonMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let evaluation: ValueHistogram
    private let queued: Gauge
    private let active: Gauge

    /// Seconds per evaluated candidate (training and latency): a tiny space's
    /// candidate takes one, a full proxy's several minutes.
    static let evaluationBuckets: [Double] = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    init() {
        evaluation = registry.makeValueHistogram(descriptor: Self.name("evaluation", "seconds", "Seconds to train and measure one candidate"),
                                                 buckets: Self.evaluationBuckets)
        queued = registry.makeGauge(descriptor: Self.name("queue", "length", "Runs waiting for a worker"))
        active = registry.makeGauge(descriptor: Self.name("runs", "active", "Runs searching now"))
    }

    /// A candidate committed by a run the daemon drives. Reused results
    /// (an architecture seen before) count as finished but were not evaluated.
    func committed(run: String, _ candidate: CandidateRecord) {
        let failed = candidate.status == .failed
        registry.makeCounter(descriptor: failed ? Self.name("candidates_failed", "total", "Candidates that failed (diverged, or an engine error)")
                                                : Self.name("candidates_finished", "total", "Candidates finished"),
                             labels: [("run", run)]).increment()
        if let train = candidate.trainSeconds, train > 0 {
            evaluation.record(train + (candidate.latencySeconds ?? 0))
        }
    }

    /// The training speed of a run's latest step.
    func training(run: String, imagesPerSecond: Double) {
        registry.makeGauge(descriptor: Self.name("training_images", "per_second", "Training images per second of the run's candidate in progress"),
                           labels: [("run", run)]).set(imagesPerSecond.isFinite ? imagesPerSecond : 0)
    }

    func request(route: String, method: String, status: Int) {
        registry.makeCounter(descriptor: Self.name("http_requests", "total", "HTTP requests by route, method and status"),
                             labels: [("route", route), ("method", method), ("status", String(status))]).increment()
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "nasd", metricName: metric, unitName: unit, helpText: help)
    }

    /// The text for `/metrics`, with the queue as it is now.
    func exposition(queued: Int, active: Int) -> String {
        self.queued.set(Double(queued))
        self.active.set(Double(active))
        return registry.emitToString()
    }
}
