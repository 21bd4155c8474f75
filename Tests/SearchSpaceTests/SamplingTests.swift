import Foundation
import GSLNumerics
import Testing
@testable import SearchSpace

@Suite("Sampling and space size")
struct SamplingTests {
    @Test("The same seed draws the same architectures; each parses back to itself")
    func determinism() throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mnasnet-fm.yaml")
        let first = space.sample(count: 200, from: RandomStream(seed: 7, name: "sample"))
        let again = space.sample(count: 200, from: RandomStream(seed: 7, name: "sample"))
        let other = space.sample(count: 200, from: RandomStream(seed: 8, name: "sample"))
        #expect(first == again)
        #expect(first != other)
        #expect(Set(first).count > 190)
        for arch in first {
            #expect(try Architecture(parsing: arch.description) == arch)
            let network = Network(arch)
            #expect(network.params > 0 && network.macs > 0)
        }
    }

    @Test("Every choice of every decision is drawn")
    func coverage() throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mnasnet-fm.yaml")
        let archs = space.sample(count: 600, from: RandomStream(seed: 1, name: "sample"))
        #expect(Set(archs.map(\.resolution)) == Set(space.resolutions))
        #expect(Set(archs.map(\.width)) == Set(space.widths))
        #expect(Set(archs.map { $0.blocks[2].kernel }) == Set(Architecture.KernelForm.allCases))
        #expect(Set(archs.map { $0.blocks[2].op }) == Set(Architecture.Op.allCases))
        #expect(Set(archs.map { $0.blocks[2].repeats }) == [2, 3, 4])
    }

    /// A space small enough to enumerate, with every kind of collapse: expansion
    /// on conv/sep, `none` skips where no residual exists, multipliers that round alike.
    static let enumerable = """
        name: enum
        stem: {filters: 16, stride: 1}
        head: {filters: 32}
        width: [0.5, 1.0]
        resolution: [8, 12]
        choices:
          op: [conv, sep, mb]
          kernel: [3, 3f]
          expansion: [1, 6]
          se: [0, 0.25]
          skip: [identity, none]
          repeats: [0, 1]
          filters: [0.5, 1.0, 1.0625]
        blocks:
          - {filters: 16, stride: 1, repeats: 1}
          - {filters: 24, stride: 2, repeats: 1, choices: {repeats: [0], filters: [0.75, 1.0]}}
        proxy: {subset: 100, epochs: 1, batch: 10}
        latency: {engine: cpu, target_ms: 0.1}
        """

    @Test("log10 size equals the count of distinct strings, by enumeration")
    func sizeByEnumeration() throws {
        let space = try SearchSpace(yaml: Self.enumerable)
        let sizes = space.decisions.map(\.choices.count)
        var distinct = Set<String>()
        var tokens = Array(repeating: 0, count: sizes.count)
        var total = 0
        enumeration: while true {
            distinct.insert(space.architecture(tokens: tokens).description)
            total += 1
            var d = 0
            while true {
                tokens[d] += 1
                if tokens[d] < sizes[d] { break }
                tokens[d] = 0
                d += 1
                if d == sizes.count { break enumeration }
            }
        }
        #expect(total == sizes.reduce(1, *))
        #expect(distinct.count < total)  // the collapses are real
        #expect(abs(space.log10Size - log10(Double(distinct.count))) < 1e-9,
                "counted \(distinct.count) distinct of \(total)")
    }

    @Test("Sizes of the shipped spaces")
    func shippedSizes() throws {
        let tiny = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/tiny.yaml")
        let mnas = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mnasnet-fm.yaml")
        #expect(tiny.log10Size > 3 && tiny.log10Size < 7)
        #expect(mnas.log10Size > 15)
    }
}
