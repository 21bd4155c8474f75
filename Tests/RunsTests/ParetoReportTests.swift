import Core
import RunStore
import Runs
import Search
import Testing

@Suite("nas pareto's report")
struct ParetoReportTests {
    static func record(_ index: Int, _ hash: String, accuracy: Double, cpu: Double, params: Int,
                       status: CandidateRecord.Status = .done) -> CandidateRecord {
        var c = CandidateRecord(index: index, arch: "arch-\(hash)", hash: hash, params: params, macs: params * 10)
        c.status = status
        c.valAccuracy = accuracy
        c.record(latency: cpu, on: .cpu, predicted: false, fingerprint: "cpu")
        return c
    }

    static let records = [
        record(0, "a", accuracy: 0.80, cpu: 0.30, params: 900),
        record(1, "b", accuracy: 0.70, cpu: 0.10, params: 500),
        record(2, "c", accuracy: 0.60, cpu: 0.20, params: 100),   // dominated on acc,cpu; the smallest
        record(3, "a", accuracy: 0.80, cpu: 0.30, params: 900),   // a again, its result reused
        record(4, "d", accuracy: 0.90, cpu: 0.50, params: 2000, status: .failed),
        record(5, "e", accuracy: 0.75, cpu: 0.40, params: 800),   // dominated by a on acc,cpu; smaller than a
    ]

    @Test("Accuracy against CPU latency: the front by latency, a repeated architecture once, failures left out")
    func twoObjectives() throws {
        let report = ParetoReport(records: Self.records, name: try RunName("r"), objectives: .accuracyCPU,
                                  reference: Objectives(accuracy: 0.1, latencyMilliseconds: 1))
        #expect(report.candidates == 4)
        #expect(report.front.map(\.hash) == ["b", "a"])
        #expect(report.front.map(\.index) == [1, 0])
        // (1 − 0.1)·(0.7 − 0.1) + (1 − 0.3)·(0.8 − 0.7), by hand.
        #expect(abs(report.hypervolume - (0.9 * 0.6 + 0.7 * 0.1)) < 1e-12)
    }

    @Test("With parameters as a third objective, smaller networks join the front")
    func threeObjectives() throws {
        let report = ParetoReport(records: Self.records, name: try RunName("r"), objectives: .accuracyCPUParams,
                                  reference: Objectives(accuracy: 0.1, latencyMilliseconds: 1))
        #expect(report.front.map(\.hash) == ["b", "c", "a", "e"])
    }

    @Test("A run without Vulkan latencies has no acc,vulkan front")
    func otherEngine() throws {
        let report = ParetoReport(records: Self.records, name: try RunName("r"), objectives: .accuracyVulkan,
                                  reference: Objectives(accuracy: 0.1, latencyMilliseconds: 1))
        #expect(report.candidates == 0 && report.front.isEmpty && report.hypervolume == 0)
    }

    @Test("nas status stars an architecture evaluated twice once")
    func statusFront() throws {
        let configuration = SearchConfiguration(
            spaceYAML: "", spacePath: "x.yaml", strategy: .random, seed: 0, budget: 6, hours: nil,
            reward: Reward(engine: .cpu, targetMilliseconds: 0.2, constraint: .soft), latency: .measured, threads: 1,
            latencyTable: "t")
        let status = RunStatus(records: Self.records, name: try RunName("r"), configuration: configuration)
        #expect(status.pareto == [1, 0])
    }
}
