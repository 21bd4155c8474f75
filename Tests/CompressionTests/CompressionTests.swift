@testable import Compression
import Core
import GSLNumerics
import Model
import SearchSpace
import Testing

@Suite("Compression: k-means, quantisers, pruning schedule, methods, stored sizes")
struct CompressionTests {
    @Test("1-D k-means finds well-separated clusters, is deterministic per seed, and never makes more clusters than values")
    func kmeans() {
        let values: [Float] = (0..<300).map { i in [Float(-1), 0.1, 2][i % 3] + Float(i % 7) * 0.001 }
        let a = KMeans(values, k: 3, random: RandomStream(seed: 1, name: "kmeans"))
        #expect(a.centroids.count == 3)
        let expected: [Float] = [-0.997, 0.103, 2.003]
        for c in 0..<3 { #expect(abs(a.centroids[c] - expected[c]) < 0.01) }
        for (i, v) in values.enumerated() { #expect(abs(a.centroids[a.assignment[i]] - v) < 0.01) }
        let b = KMeans(values, k: 3, random: RandomStream(seed: 1, name: "kmeans"))
        #expect(a.centroids == b.centroids && a.assignment == b.assignment)
        let few = KMeans([1, 1, 2, 2, 2], k: 16, random: RandomStream(seed: 1, name: "kmeans"))
        #expect(few.centroids == [1, 2])
    }

    @Test("Exact 1-D k-means: the least squared error over every split into contiguous ranges, never above Lloyd's from k-means++")
    func optimalKMeans() {
        func inertia(_ values: [Float], _ clusters: KMeans) -> Double {
            values.indices.reduce(0.0) { total, i in
                let d = Double(values[i] - clusters.centroids[clusters.assignment[i]])
                return total + d * d
            }
        }
        // Brute force over every way to cut 9 sorted values into k ranges.
        let stream = RandomStream(seed: 8, name: "values")
        for k in 1...4 {
            let values = (0..<9).map { _ in Float(stream.normal()) }
            let sorted = values.sorted()
            func least(_ start: Int, _ ranges: Int) -> Double {
                func cost(_ r: ArraySlice<Float>) -> Double {
                    let mean = r.reduce(0.0) { $0 + Double($1) } / Double(r.count)
                    return r.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
                }
                if ranges == 1 { return cost(sorted[start...]) }
                return (start + 1...(sorted.count - ranges + 1)).map { cost(sorted[start..<$0]) + least($0, ranges - 1) }.min()!
            }
            let optimal = KMeans(optimal: values, k: k)
            #expect(abs(inertia(values, optimal) - least(0, k)) < 1e-9, "k = \(k)")
            #expect(optimal.centroids == optimal.centroids.sorted() && optimal.centroids.count == k)
        }
        // On a layer's worth of values, no seed of Lloyd's does better.
        let layer = (0..<2000).map { _ in Float(stream.normal() * (stream.uniform(0, 1) < 0.1 ? 3 : 1)) }
        let optimal = inertia(layer, KMeans(optimal: layer, k: 16))
        for seed in 1...5 {
            #expect(optimal <= inertia(layer, KMeans(layer, k: 16, random: RandomStream(seed: UInt64(seed), name: "kmeans"))) + 1e-9)
        }
        #expect(KMeans(optimal: [1, 1, 2, 2, 2], k: 16).centroids == [1, 2])
        #expect(KMeans(optimal: [3, 3, 3], k: 4).assignment == [0, 0, 0])
    }

    @Test("Symmetric per-channel quantisation keeps codes in range, the extreme exact; binary is sign × mean |w|")
    func quantise() {
        let w: [Float] = [0.5, -0.25, 0.1, 0, /* channel 2 */ -2, 1, 0.3, -0.01]
        let (values, codes, steps) = WeightProjection.quantise(w, channels: 2, bits: 4)
        let expectedSteps: [Float] = [0.5 / 7, 2 / 7]
        #expect(steps == expectedSteps)
        #expect(codes.allSatisfy { abs(Int($0)) <= 7 })
        #expect(values[0] == 0.5 && values[4] == -2)
        for i in w.indices { #expect(abs(values[i] - w[i]) <= steps[i / 4] / 2 + 1e-6) }
        let binary = WeightProjection.quantise(w, channels: 2, bits: 1)
        let alphas: [Float] = [(0.5 + 0.25 + 0.1 + 0) / 4, (2 + 1 + 0.3 + 0.01) / 4]
        #expect(binary.steps == alphas)
        #expect(binary.codes == [1, -1, 1, 1, -1, 1, 1, -1])
    }

    @Test("Magnitude masks prune exactly the asked fraction, smallest first")
    func mask() {
        let mask = WeightProjection.magnitudeMask([0.3, -0.1, 0.05, 2, -0.7, 0.01, 0, 1], sparsity: 0.5)
        #expect(mask == [true, false, false, true, true, false, false, true])
    }

    @Test("Zhu & Gupta's schedule rises from 0 to the target over two thirds of the steps, fast first")
    func schedule() {
        let s = PruningSchedule(final: 0.8, totalSteps: 300)
        #expect(s.steps == 200 && s.interval == 12)
        #expect(s.sparsity(afterStep: 0) == 0 && s.sparsity(afterStep: 200) == 0.8 && s.sparsity(afterStep: 299) == 0.8)
        let values = (0...200).map(s.sparsity(afterStep:))
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 })
        // Cubic: 1 − (2/3)³ = 70% of the pruning happens in the first third of the window.
        #expect(abs(s.sparsity(afterStep: 72) - 0.8 * (1 - 0.64 * 0.64 * 0.64)) < 1e-12)
        #expect(s.updatesMask(afterStep: 0) && s.updatesMask(afterStep: 12) && !s.updatesMask(afterStep: 13))
        #expect(s.updatesMask(afterStep: 200) && !s.updatesMask(afterStep: 204))
        let once = PruningSchedule(final: 0.5, totalSteps: 0)
        #expect(once.sparsity(afterStep: 0) == 0.5 && once.updatesMask(afterStep: 0))
    }

    @Test("Methods parse from their names and refuse anything else with the list of methods")
    func methods() throws {
        #expect(try CompressionMethod(parsing: "kmeans:4") == .kmeans(bits: 4))
        #expect(try CompressionMethod(parsing: "kmeans:4:folded") == .kmeans(bits: 4, folded: true))
        #expect(try CompressionMethod(parsing: "linear:2:Folded").description == "linear:2:folded")
        #expect(try CompressionMethod(parsing: "prune:0.5") == .prune(sparsity: 0.5))
        #expect(try CompressionMethod(parsing: "qat:6").description == "qat:6")
        #expect(try CompressionMethod(parsing: "prune:0.5").slug == "prune-0.5")
        #expect(try CompressionMethod(parsing: "binary") == .binary)
        #expect(try CompressionMethod(parsing: "XNOR") == .xnor && CompressionMethod.xnor.slug == "xnor")
        #expect(try CompressionMethod(parsing: "qat:6:act") == .qat(bits: 6, activations: true))
        #expect(try CompressionMethod(parsing: "qat:8:ACT").slug == "qat-8-act")
        #expect(try CompressionMethod(parsing: "qat:8") == .qat(bits: 8, activations: false))
        for (text, message) in [("kmeans", "takes one bit width"), ("kmeans:3", "1, 2, 4, 8 bits"), ("qat:2", "4, 6, 8 bits"),
                                ("prune:1", "sparsity in (0.0, 1.0)"), ("prune:nan", "sparsity"), ("binary:1", "takes no argument"),
                                ("xnor:1", "takes no argument"), ("qat:6:acts", "qat:8:act"), ("qat::act", "takes one bit width"),
                                ("qat:3:act", "4, 6, 8 bits"), ("kmeans:4:act", "kmeans:4:folded"), ("qat:8:folded", "qat:8:act"),
                                ("kmeans:4:folded:x", "takes one bit width"), ("kmeans::folded", "takes one bit width"),
                                ("zip", "not a compression method"), ("", "not a compression method")] {
            #expect(throws: NasError.self) { try CompressionMethod(parsing: text) }
            do { _ = try CompressionMethod(parsing: text) } catch { #expect("\(error)".contains(message), "\(text): \(error)") }
        }
    }

    @Test("Stored sizes: packed codes, float32 codebooks and scales, a bitmask plus non-zeros; decoding folds the channel scales")
    func storedSizes() {
        let codebook = StoredWeight.codebook(indices: [0, 1, 1, 0, 2, 3, 3, 2], bits: 2, codebook: [-1, 0, 1, 2], channelScales: [1, 10])
        #expect(codebook.storageBytes == 2 + 16 + 8)
        #expect(codebook.dequantised == [-1, 0, 0, -1, 10, 20, 20, 10])
        let integers = StoredWeight.integers(values: [1, -1, 1, 1], bits: 1, scales: [0.5, 2])
        #expect(integers.storageBytes == 1 + 8 && integers.dequantised == [0.5, -0.5, 2, 2] && integers.encoding == "binary")
        let sparse = StoredWeight.sparse(values: [0, 0, 3, 0, 0, 0, 0, 0, 1])
        #expect(sparse.storageBytes == 2 + 8 && sparse.sparsity == 7.0 / 9)
        #expect(StoredWeight.dense(values: [1, 2]).storageBytes == 8)
    }
}

@Suite("Block precision: the size objective and the codebook weights a search scores")
struct BlockPrecisionTests {
    @Test("Size counts float32 weights, or packed codes, a 2^bits codebook and the folded scale")
    func size() throws {
        let plain = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|conv_r1_k3_s1_o16|head_o32"))
        // stem 8·1·3·3, block 16·8·3·3, head 32·16, classifier 10·32.
        #expect(BlockPrecision.storageBytes(plain) == 4 * (72 + 1152 + 512 + 320))
        let coded = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|conv_r1_k3_s1_o16_b4|head_o32"))
        #expect(BlockPrecision.storageBytes(coded) == 4 * (72 + 512 + 320) + 1152 / 2 + 4 * 16 + 4 * 16)
        var weights = NetworkWeights.random(for: coded, using: RandomStream(seed: 1, name: "w"))
        weights = try BlockPrecision.quantised(coded, weights: weights, seed: 1)
        let block = try #require(coded.layers.first { $0.name == "b1.1.conv" })
        #expect(Set(weights[TensorName(block, .weight)]!).count <= 16)
        #expect(Set(weights[TensorName(coded.layers[0], .weight)]!).count == 72)  // the stem stays float32
    }
}

@Suite("Pruning shares its sparsity out: the model at S, the sensitive layers at S/2")
struct SparsityAllocationTests {
    @Test("First convolution, depthwise ones and the classifier at S/2; the 1×1 ones at the rate that brings the whole to S")
    func allocation() throws {
        let network = Network(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|mb_r2_k3_s2_e4_o16|mb_r1_k5_s1_e6_o24|head_o64"))
        let roles = Compressor.roles(network)
        let layers = network.layers.filter { $0.kind == .conv || $0.kind == .linear }.map { layer in
            (layer: layer, weights: TensorName.plainShape(of: .weight, in: layer).reduce(1, *))
        }
        for sparsity in [0.5, 0.8] {
            let targets = SparsityAllocation(layers, sparsity: sparsity, roles: roles).targets
            #expect(targets.count == layers.count)
            var zeros = 0.0, total = 0.0
            for (layer, weights) in layers {
                let target = try #require(targets[layer.name])
                let sensitive = roles[layer.name] != nil || layer.groups == layer.inputShape.channels && layer.groups > 1
                let bulk = targets.values.max()!
                if sensitive {
                    // At half the rate, unless the 1×1 layers, at their ceiling, cannot take the rest.
                    #expect(target == sparsity / 2 || (bulk == (1 + sparsity) / 2 && target > sparsity / 2), "\(layer.name)")
                } else {
                    #expect(target > sparsity, "\(layer.name)")
                }
                zeros += target * Double(weights)
                total += Double(weights)
            }
            #expect(abs(zeros / total - sparsity) < 1e-9)
        }
        // This small network's 1×1 layers reach their ceiling, half-way from S to empty, at 0.8, and the others give more.
        #expect(SparsityAllocation(layers, sparsity: 0.8, roles: roles).targets.values.max() == 0.9)
    }
}
