import SearchSpace

/// How `prune:S` shares its sparsity out among the layers: the model as a
/// whole ends with the fraction S of its weights at zero, but the layers
/// where each output rests on few weights lose them at half the rate (more
/// only when the others cannot take the rest): the
/// convolution that meets the image, the depthwise convolutions (9 weights
/// per output channel) and the classifier. The 1×1 convolutions, which hold
/// most of a mobile network's weights and are the most redundant, take the
/// rest. Zhu & Gupta (2017) leave MobileNet's depthwise and first layers
/// dense for the same reason.
struct SparsityAllocation {
    /// Target sparsity per layer name.
    let targets: [String: Double]

    /// - Parameter layers: each pruned layer (conv or linear) with its number of weights.
    init(_ layers: [(layer: Layer, weights: Int)], sparsity: Double, roles: [String: LayerRole]) {
        func sensitive(_ layer: Layer) -> Bool {
            roles[layer.name] != nil || (layer.kind == .conv && layer.groups > 1 && layer.groups == layer.inputShape.channels)
        }
        let total = Double(layers.reduce(0) { $0 + $1.weights })
        let gentle = Double(layers.filter { sensitive($0.layer) }.reduce(0) { $0 + $1.weights })
        let rest = total - gentle
        // The 1×1 layers' rate that brings the whole to `sparsity`, but no more than half-way from
        // it to empty (a layer with 1% of its weights left carries nothing); if that is not enough
        // (a small network, mostly depthwise), the sensitive layers give the rest.
        let ceiling = (1 + sparsity) / 2
        var bulk = rest > 0 ? (sparsity * total - sparsity / 2 * gentle) / rest : sparsity
        var soft = sparsity / 2
        if bulk > ceiling {
            bulk = ceiling
            soft = gentle > 0 ? min((sparsity * total - ceiling * rest) / gentle, ceiling) : soft
        }
        var targets: [String: Double] = [:]
        for (layer, _) in layers { targets[layer.name] = sensitive(layer) ? soft : bulk }
        self.targets = targets
    }
}
