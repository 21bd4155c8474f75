import GSLNumerics
public import Model
public import SearchSpace

/// Weight precision as a search dimension: a block's `_b` bits store each of
/// its convolutions as a codebook of 2^bits centroids (per layer, seeded
/// k-means++), so a candidate's accuracy is measured on the weights it would
/// ship and its size counts them packed. (`nas compress --method kmeans:B`
/// clusters with the exact optimum, found later; the search keeps k-means++
/// so that a run begun before resumes to the same candidates.)
public enum BlockPrecision {
    /// The bits of the block `layer` belongs to; nil for float32 (the stem, the head, blocks without `_b`).
    public static func bits(of layer: Layer, in architecture: Architecture) -> Int? {
        // Units of blocks are named "b<block>.<repeat>".
        guard layer.unit.hasPrefix("b"), let dot = layer.unit.firstIndex(of: "."),
              let block = Int(layer.unit[layer.unit.index(after: layer.unit.startIndex)..<dot]),
              architecture.blocks.indices.contains(block - 1) else { return nil }
        return architecture.blocks[block - 1].bits
    }

    /// Bytes of the network's convolution and linear weights as stored: per
    /// codebook layer the packed indices, 2^bits float32 centroids and the
    /// float32 per-channel scale of the batch norm folded into it; float32
    /// elsewhere. Defined by the format, so known before training.
    public static func storageBytes(_ network: Network) -> Int {
        var total = 0
        for layer in network.layers where layer.kind == .conv || layer.kind == .linear {
            let count = TensorName.plainShape(of: .weight, in: layer).reduce(1, *)
            guard let bits = bits(of: layer, in: network.architecture) else {
                total += 4 * count
                continue
            }
            let folded = network.layers.contains { $0.kind == .batchNorm && $0.inputs == [layer.index] }
            total += (count * bits + 7) / 8 + 4 * (1 << bits) + (folded ? 4 * layer.outputShape.channels : 0)
        }
        return total
    }

    /// The weights with every convolution of a block with `_b` replaced by
    /// its codebook's centroids (k-means++ seeded from `seed`).
    public static func quantised(_ network: Network, weights: NetworkWeights, seed: UInt64) throws -> NetworkWeights {
        var result = weights
        let random = RandomStream(seed: seed, name: "block-precision")
        for layer in network.layers where layer.kind == .conv {
            guard let bits = bits(of: layer, in: network.architecture) else { continue }
            let name = TensorName(layer, .weight)
            let values = try weights.tensor(name, count: TensorName.plainShape(of: .weight, in: layer).reduce(1, *))
            let clusters = KMeans(values, k: 1 << bits, random: random)
            result[name] = clusters.assignment.map { clusters.centroids[$0] }
        }
        return result
    }
}
