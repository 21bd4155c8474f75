import Engine
import Model
import GSLNumerics
import SearchSpace
import Testing

/// Builds IR layers by hand, for networks that isolate one layer kind.
struct LayerList {
    let input: TensorShape
    private(set) var layers: [Layer] = []

    init(input: TensorShape) { self.input = input }

    func shape(_ index: Int) -> TensorShape { index < 0 ? input : layers[index].outputShape }

    @discardableResult
    mutating func add(_ kind: Layer.Kind, from inputs: [Int], out: TensorShape? = nil, kernel: (Int, Int) = (1, 1),
                      stride: Int = 1, groups: Int = 1, bias: Bool = false) -> Int {
        let inShape = shape(inputs.first ?? -1)
        let output = out ?? inShape
        layers.append(Layer(index: layers.count, name: "l\(layers.count).\(kind.rawValue)", unit: "test", kind: kind,
                            inputs: inputs.filter { $0 >= 0 }, kernel: KernelSize(height: kernel.0, width: kernel.1),
                            stride: stride, groups: groups, bias: bias, inputShape: inShape, outputShape: output,
                            params: 0, macs: 0))
        return layers.count - 1
    }

    mutating func conv(from input: Int, out channels: Int, kernel: (Int, Int), stride: Int = 1, depthwise: Bool = false,
                       bias: Bool = false) -> Int {
        let s = shape(input)
        let out = TensorShape(channels: channels, height: (s.height + stride - 1) / stride, width: (s.width + stride - 1) / stride)
        return add(.conv, from: [input], out: out, kernel: kernel, stride: stride, groups: depthwise ? s.channels : 1, bias: bias)
    }
}

/// Compares backward's gradients with central finite differences of
/// loss = Σ output · R for a fixed random R.
struct GradientChecker {
    let network: TrainingNetwork
    let weights: [Float]
    let input: [Float]

    init(_ list: LayerList, batch: Int = 2, layout: ActivationLayout, seed: UInt64 = 1,
         inputRange: ClosedRange<Double> = -2...2) throws {
        let context = try ComputeContext(threads: 1)
        network = try TrainingNetwork(layers: list.layers, input: list.input, batch: batch, context: context,
                                      layout: layout, initialisation: RandomStream(seed: seed, name: "init"),
                                      // He-normal's larger weights keep activations well above float32's
                                      // rounding of the finite differences; the check is of backward, not init.
                                      scheme: .heNormal, inputGradient: true)
        let stream = RandomStream(seed: seed, name: "check")
        input = (0..<network.withInput { $0.count }).map { _ in Float(stream.uniform(inputRange.lowerBound, inputRange.upperBound)) }
        let outputCount = batch * list.layers.last!.outputShape.elements
        weights = (0..<outputCount).map { _ in Float(stream.uniform(-1, 1)) }
    }

    func loss() throws -> Double {
        network.setInput(input)
        try network.forward(training: true)
        return zip(try network.output(), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Relative error ‖analytic − numeric‖ / ‖numeric‖ over sampled coordinates
    /// of the input and of every parameter.
    func relativeErrors(samples: Int = 12, step: Float) throws -> [(String, Double)] {
        _ = try loss()
        try network.setOutputGradient(weights)
        try network.backward()
        var results: [(String, Double)] = []

        let analyticInput = try network.inputGradients()!
        var mutableInput = input
        var pick = RandomStream(seed: 99, name: "coordinates")
        results.append(("input", try compare(analytic: analyticInput, count: input.count, samples: samples, pick: &pick, step: step) { i, delta in
            mutableInput[i] += delta
            defer { mutableInput[i] -= delta }
            network.setInput(mutableInput)
            try network.forward(training: true)
            return zip(try network.output(), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }))
        for parameter in network.parameters {
            let analytic = try parameter.gradients()
            var values = try parameter.values()
            results.append((parameter.name.description, try compare(analytic: analytic, count: values.count, samples: samples, pick: &pick, step: step) { i, delta in
                values[i] += delta
                try parameter.setValues(values)
                values[i] -= delta
                defer { try? parameter.setValues(values) }
                return try loss()
            }))
        }
        return results
    }

    private func compare(analytic: [Float], count: Int, samples: Int, pick: inout RandomStream, step: Float,
                         perturbed: (Int, Float) throws -> Double) throws -> Double {
        var difference = 0.0, norm = 0.0
        let indices = count <= samples ? Array(0..<count) : (0..<samples).map { _ in pick.uniformInt(count) }
        for i in indices {
            let numeric = (try perturbed(i, step) - (try perturbed(i, -step))) / Double(2 * step)
            difference += (Double(analytic[i]) - numeric) * (Double(analytic[i]) - numeric)
            norm += numeric * numeric
        }
        return norm == 0 ? difference.squareRoot() : (difference / norm).squareRoot()
    }
}

@Suite("Gradient checks against finite differences")
struct GradientCheckTests {
    static let layouts = ActivationLayout.allCases

    static func expectClose(_ list: LayerList, layout: ActivationLayout, tolerance: Double = 2e-2,
                            inputRange: ClosedRange<Double> = -2...2, step: Float = 1e-2) throws {
        let checker = try GradientChecker(list, layout: layout, inputRange: inputRange)
        for (name, error) in try checker.relativeErrors(step: step) {
            #expect(error < tolerance, "\(name): relative error \(error) (\(layout))")
        }
    }

    @Test("Full convolution k×k, with bias, stride 1 and 2", arguments: layouts)
    func fullConvolution(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 3, height: 7, width: 7))
        let a = l.conv(from: -1, out: 20, kernel: (3, 3), bias: true)
        _ = l.conv(from: a, out: 5, kernel: (5, 5), stride: 2)
        try Self.expectClose(l, layout: layout)
    }

    @Test("Depthwise convolution, stride 2", arguments: layouts)
    func depthwise(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 20, height: 9, width: 9))
        let a = l.conv(from: -1, out: 20, kernel: (3, 3), stride: 2, depthwise: true)
        _ = l.conv(from: a, out: 20, kernel: (7, 7), depthwise: true)
        try Self.expectClose(l, layout: layout)
    }

    @Test("Factorised 1×k then k×1, full and depthwise", arguments: layouts)
    func factorised(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 16, height: 8, width: 8))
        let a = l.conv(from: -1, out: 16, kernel: (1, 5), stride: 2, depthwise: true)
        let b = l.conv(from: a, out: 16, kernel: (5, 1), depthwise: true)
        let c = l.conv(from: b, out: 8, kernel: (1, 3))
        _ = l.conv(from: c, out: 8, kernel: (3, 1))
        try Self.expectClose(l, layout: layout)
    }

    @Test("Batch norm in training mode", arguments: layouts)
    func batchNorm(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 4, height: 5, width: 5))
        let a = l.conv(from: -1, out: 20, kernel: (1, 1))
        l.add(.batchNorm, from: [a])
        try Self.expectClose(l, layout: layout)
    }

    @Test("Frozen batch norm: running statistics, γ fixed, and training's gradients through it", arguments: layouts)
    func frozenBatchNorm(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 4, height: 5, width: 5))
        let a = l.conv(from: -1, out: 20, kernel: (1, 1))
        let bn = l.add(.batchNorm, from: [a])
        let checker = try GradientChecker(l, layout: layout)
        let stream = RandomStream(seed: 5, name: "statistics")
        let mean = (0..<20).map { _ in Float(stream.uniform(-1, 1)) }, variance = (0..<20).map { _ in Float(stream.uniform(0.5, 3)) }
        checker.network.setRunningStatistics(name: l.layers[bn].name, mean: mean, variance: variance)
        try checker.network.freezeBatchNorms()

        // Training's forward is evaluation's, and leaves the statistics alone.
        checker.network.setInput(checker.input)
        try checker.network.forward(training: false)
        let evaluated = try checker.network.output()
        try checker.network.forward(training: true)
        #expect(try checker.network.output() == evaluated)
        let after = checker.network.runningStatistics()[0]
        #expect(after.mean == mean && after.variance == variance)

        for (name, error) in try checker.relativeErrors(step: 1e-2) where !name.hasSuffix(".scale") {
            #expect(error < 2e-2, "\(name): relative error \(error) (\(layout))")
        }
        let scale = try #require(checker.network.parameters.first { $0.name.description.hasSuffix(".scale") })
        #expect(try scale.gradients().allSatisfy { $0 == 0 }, "γ is frozen: no gradient")
    }

    @Test("ReLU6, ReLU and sigmoid", arguments: layouts)
    func activations(layout: ActivationLayout) throws {
        for kind in [Layer.Kind.relu6, .relu, .sigmoid] {
            // The activation reads the input directly, spread over both of ReLU6's
            // kinks; a perturbation then crosses a kink only if the sampled value sits on it.
            var l = LayerList(input: TensorShape(channels: 20, height: 4, width: 4))
            let a = l.add(kind, from: [-1])
            _ = l.conv(from: a, out: 20, kernel: (1, 1))
            try Self.expectClose(l, layout: layout, inputRange: -8...8)
        }
    }

    @Test("Residual add: the gradient reaches both paths", arguments: layouts)
    func residual(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 3, height: 6, width: 6))
        let a = l.conv(from: -1, out: 20, kernel: (3, 3))
        let b = l.conv(from: a, out: 20, kernel: (3, 3), depthwise: true)
        let c = l.conv(from: b, out: 20, kernel: (1, 1))
        let d = l.add(.add, from: [a, c])
        let e = l.conv(from: d, out: 20, kernel: (1, 1))
        l.add(.add, from: [d, e])
        try Self.expectClose(l, layout: layout)
    }

    @Test("Squeeze-and-excite: pool, reduce, ReLU, expand, sigmoid, channel scale", arguments: layouts)
    func squeezeExcite(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 3, height: 5, width: 5))
        let x = l.conv(from: -1, out: 20, kernel: (3, 3))
        let p = l.add(.globalAveragePool, from: [x], out: TensorShape(channels: 20, height: 1, width: 1))
        let r = l.conv(from: p, out: 5, kernel: (1, 1), bias: true)
        let q = l.add(.relu, from: [r])
        let e = l.conv(from: q, out: 20, kernel: (1, 1), bias: true)
        let g = l.add(.sigmoid, from: [e])
        l.add(.channelScale, from: [x, g])
        try Self.expectClose(l, layout: layout)
    }

    @Test("Global average pool and linear", arguments: layouts)
    func classifier(layout: ActivationLayout) throws {
        var l = LayerList(input: TensorShape(channels: 3, height: 4, width: 4))
        let a = l.conv(from: -1, out: 20, kernel: (1, 1))
        let p = l.add(.globalAveragePool, from: [a], out: TensorShape(channels: 20, height: 1, width: 1))
        l.add(.linear, from: [p], out: TensorShape(channels: 10, height: 1, width: 1), bias: true)
        try Self.expectClose(l, layout: layout)
    }

    @Test("A whole decoded architecture (every op, SE, residuals)", arguments: layouts)
    func wholeNetwork(layout: ActivationLayout) throws {
        let arch = try Architecture(parsing:
            "r12_w1.0:stem_k3_s1_o8|mb_r2_k3f_s2_e3_o16_se0.25|sep_r1_k5s_s1_o16|conv_r1_k3_s2_o24|head_o32")
        let network = Network(arch)
        var l = LayerList(input: network.input)
        // ReLU6's kinks make finite differences through many layers noisy, and
        // BN after a per-channel linear path makes some true gradients zero;
        // with sigmoid (checked alone above) the composition is smooth.
        for layer in network.layers { l.add(layer.kind == .relu6 ? .sigmoid : layer.kind, from: layer.inputs.isEmpty ? [-1] : layer.inputs, out: layer.outputShape,
                                            kernel: (layer.kernel.height, layer.kernel.width), stride: layer.stride,
                                            groups: layer.groups, bias: layer.bias) }
        try Self.expectClose(l, layout: layout)
    }
}
