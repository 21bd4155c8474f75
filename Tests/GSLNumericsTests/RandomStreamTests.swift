import Testing
@testable import GSLNumerics

@Suite("Random streams")
struct RandomStreamTests {
    @Test("Same seed and name give the same sequence; another name or seed does not")
    func derivation() {
        let a = RandomStream(seed: 42, name: "controller")
        let b = RandomStream(seed: 42, name: "controller")
        let c = RandomStream(seed: 42, name: "data-order")
        let d = RandomStream(seed: 43, name: "controller")
        let sa = (0..<100).map { _ in a.uniform() }
        #expect(sa == (0..<100).map { _ in b.uniform() })
        #expect(sa != (0..<100).map { _ in c.uniform() })
        #expect(sa != (0..<100).map { _ in d.uniform() })
    }

    @Test("The seed derivation is stable across builds and platforms")
    func derivedSeedIsFrozen() {
        // Changing these values would change every run's candidates for a given seed.
        let seeds = [(0, ""), (1, "sample"), (7, "sample"), (42, "controller")].map {
            RandomStream.derivedSeed(seed: UInt64($0.0), name: $0.1)
        }
        #expect(Set(seeds).count == 4)
        #expect(seeds == RandomStreamTests.frozenSeeds)
    }
    static let frozenSeeds: [UInt32] = [2_186_657_657, 159_860_149, 2_726_560_733, 140_363_026]

    @Test("Saving the state and restoring it continues the identical sequence", arguments: [0, 1, 623, 624, 625, 5000])
    func saveRestore(drawsBefore: Int) throws {
        let stream = RandomStream(seed: 9, name: "augmentation")
        for _ in 0..<drawsBefore { _ = stream.uniform() }
        let saved = stream.state()
        let expected = (0..<2000).map { _ in stream.uniform() }

        // Restored into a fresh stream …
        let restored = try RandomStream(restoring: saved)
        #expect((0..<2000).map { _ in restored.uniform() } == expected)
        // … and rewound in place, through every kind of draw.
        try stream.restore(saved)
        #expect((0..<2000).map { _ in stream.uniform() } == expected)

        try stream.restore(saved)
        let mixed = { (s: RandomStream) -> [Double] in
            var values: [Double] = []
            for i in 0..<300 {
                values.append(Double(s.uniformInt(10 + i)))
                values.append(s.normal())
                values.append(Double(s.categorical([0.2, 0.5, 0.3])))
                var deck = Array(0..<8)
                s.shuffle(&deck)
                values += deck.map(Double.init)
            }
            return values
        }
        let first = mixed(stream)
        try stream.restore(saved)
        #expect(mixed(stream) == first)
    }

    @Test("A saved state survives encoding as bytes")
    func stateBytesRoundTrip() throws {
        let stream = RandomStream(seed: 3, name: "x")
        _ = (0..<777).map { _ in stream.uniform() }
        let state = stream.state()
        #expect(state.algorithm == "mt19937")
        #expect(state.bytes.count == 624 * 8 + 8)  // unsigned long mt[624]; int mti; (padded)
        let copy = RandomStreamState(name: state.name, seed: state.seed, algorithm: state.algorithm, bytes: state.bytes)
        let other = try RandomStream(restoring: copy)
        #expect(other.uniform() == stream.uniform())
    }

    @Test("A damaged or foreign state is rejected and the stream is unchanged")
    func damagedStates() throws {
        let stream = RandomStream(seed: 1, name: "s")
        let good = stream.state()
        let next = stream.uniform()
        try stream.restore(good)

        var truncated = good
        truncated.bytes.removeLast(100)
        #expect(throws: RandomStreamError.self) { try stream.restore(truncated) }

        var foreign = good
        foreign.algorithm = "ranlxd2"
        #expect(throws: RandomStreamError.wrongAlgorithm(stream: "s", found: "ranlxd2")) { try stream.restore(foreign) }

        var badPosition = good
        badPosition.bytes.replaceSubrange((624 * 8)..<(624 * 8 + 4), with: [0xff, 0xff, 0, 0])
        #expect(throws: RandomStreamError.self) { try stream.restore(badPosition) }

        #expect(stream.uniform() == next)
        #expect(RandomStreamError.wrongSize(stream: "s", expected: 5000, found: 10).description.contains("truncated or damaged"))
    }

    @Test("Draws stay in range and have the right distribution")
    func distributions() {
        let s = RandomStream(seed: 5, name: "d")
        let n = 20_000
        let ints = (0..<n).map { _ in s.uniformInt(7) }
        #expect(ints.allSatisfy { (0..<7).contains($0) })
        #expect(Set(ints).count == 7)

        let normals = (0..<n).map { _ in s.normal(mean: 3, standardDeviation: 2) }
        let (mean, sd) = RobustStatistics.meanAndStandardDeviation(normals)!
        #expect(abs(mean - 3) < 0.05)
        #expect(abs(sd - 2) < 0.05)

        let weights = [1.0, 0, 3, 6]
        var counts = [0, 0, 0, 0]
        let table = CategoricalDistribution(weights: weights)
        for _ in 0..<n { counts[table.sample(s)] += 1 }
        #expect(counts[1] == 0)
        for (i, w) in weights.enumerated() {
            #expect(abs(Double(counts[i]) / Double(n) - w / 10) < 0.015)
        }

        let permutation = s.permutation(50)
        #expect(permutation.sorted() == Array(0..<50))
        #expect(permutation != Array(0..<50))

        let u = (0..<n).map { _ in s.uniform(-2, 2) }
        #expect(u.allSatisfy { $0 >= -2 && $0 < 2 })
    }
}
