import Testing
@testable import SearchSpace

@Suite("Network IR")
struct NetworkIRTests {
    @Test("mbv2-fm: 149,098 params and 10,571,664 MACs")
    func mbv2() throws {
        let network = Network(try Architecture(parsing: ArchitectureGrammarTests.mbv2))
        #expect(network.params == 149_098)
        #expect(network.macs == 10_571_664)
        #expect(network.output == TensorShape(channels: 10, height: 1, width: 1))
    }

    @Test("mbv2-fm-0.5: 45,882 params and 3,432,064 MACs")
    func mbv2Half() throws {
        let network = Network(try Architecture(parsing: ArchitectureGrammarTests.canonical[1]))
        #expect(network.params == 45_882)
        #expect(network.macs == 3_432_064)
    }

    @Test("A small network counted by hand")
    func handCounted() throws {
        // stem 1→8 at 8×8: 72 + 16 (BN) params, 64·72 = 4,608 MACs.
        // sep, 1×3 then 3×1 depthwise on 8 channels, stride 2 → 4×4: 2 × (24 + 16) params, 2 × 16·24 MACs;
        //   SE with max(1, ⌊8·0.25⌋) = 2: 8·2+2 + 2·8+8 = 42 params, 16 + 16 MACs;
        //   1×1 8→16: 128 + 32 params, 16·128 = 2,048 MACs.
        // head 1×1 16→16: 256 + 32 params, 16·256 = 4,096 MACs; linear 16→10: 170 params, 160 MACs.
        let network = Network(try Architecture(parsing: "r8_w1.0:stem_k3_s1_o8|sep_r1_k3f_s2_o16_se0.25|head_o16"))
        #expect(network.params == 88 + 80 + 42 + 160 + 288 + 170)
        #expect(network.macs == 4_608 + 768 + 32 + 2_048 + 4_096 + 160)
        let dw = network.layers.filter { $0.name.hasPrefix("b1.1.dw") && $0.kind == .conv }
        #expect(dw.map(\.kernel) == [KernelSize(height: 1, width: 3), KernelSize(height: 3, width: 1)])
        #expect(dw.map(\.stride) == [2, 1])
        #expect(dw.map(\.groups) == [8, 8])
        #expect(dw.map(\.outputShape) == [TensorShape(channels: 8, height: 4, width: 4), TensorShape(channels: 8, height: 4, width: 4)])
        #expect(!network.layers.contains { $0.kind == .add })  // stride 2: no residual
    }

    @Test("'Same' padding: each stride-2 layer gives ⌈side/2⌉")
    func ceilShapes() throws {
        let network = Network(try Architecture(parsing:
            "r20_w1.0:stem_k3_s2_o8|conv_r1_k3_s2_o8|conv_r1_k5_s2_o8|conv_r1_k7_s2_o8|head_o8"))
        let sides = network.layers.filter { $0.kind == .conv }.map(\.outputShape.height)
        #expect(sides == [10, 5, 3, 2, 2])
    }

    @Test("Layers read earlier layers only; residual adds join the block input and its output")
    func graph() throws {
        let network = Network(try Architecture(parsing: ArchitectureGrammarTests.mbv2))
        for layer in network.layers {
            #expect(layer.inputs.allSatisfy { $0 < layer.index })
            #expect(layer.index == 0 ? layer.inputs.isEmpty : !layer.inputs.isEmpty)
            for input in layer.inputs where layer.kind != .channelScale {
                #expect(network.layers[input].outputShape == layer.inputShape)
            }
        }
        let adds = network.layers.filter { $0.kind == .add }
        #expect(adds.map(\.unit) == ["b1.1", "b2.2", "b3.2", "b3.3", "b4.2"])
        #expect(Set(network.layers.map(\.name)).count == network.layers.count)
    }

    // MARK: Independent count

    /// Every op × kernel form × expansion × SE × stride × repeats × width against a
    /// closed-form count written independently of NetworkBuilder.
    @Test("Params and MACs equal a closed-form count for every op and kernel form",
          arguments: Architecture.KernelForm.allCases.map(\.description))
    func closedForm(kernel: String) throws {
        var checked = 0
        for op in ["conv", "sep", "mb"] {
            for e in (op == "mb" ? [1, 3, 6] : [0]) {
                for se in ["", "_se0.25", "_se0.5"] {
                    for (stride, repeats) in [(1, 1), (2, 1), (1, 3), (2, 2)] {
                        for (width, inFilters, outFilters) in [("1.0", 16, 16), ("1.0", 16, 24), ("0.5", 16, 40), ("1.25", 24, 24)] {
                            let block = "\(op)_r\(repeats)_k\(kernel)_s\(stride)" + (op == "mb" ? "_e\(e)" : "") + "_o\(outFilters)\(se)"
                            let text = "r12_w\(width):stem_k3_s1_o\(inFilters)|\(block)|head_o32"
                            let network = Network(try Architecture(parsing: text))
                            let expected = Self.count(side: 12, width: Double(width)!, stem: inFilters, op: op,
                                                      kernel: kernel, stride: stride, repeats: repeats, expansion: e,
                                                      out: outFilters, se: se.isEmpty ? 0 : Double(se.dropFirst(3))!, head: 32)
                            #expect(network.params == expected.params, "\(text)")
                            #expect(network.macs == expected.macs, "\(text)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked == 5 * 3 * 4 * 4)
    }

    static func count(side: Int, width: Double, stem: Int, op: String, kernel: String, stride: Int, repeats: Int,
                      expansion: Int, out: Int, se: Double, head: Int) -> (params: Int, macs: Int) {
        func scaled(_ c: Int) -> Int {
            let v = Double(c) * width
            var r = max(8, (Int(v) + 4) / 8 * 8)
            if Double(r) < 0.9 * v { r += 8 }
            return r
        }
        let k = Int(String(kernel.prefix(1)))!
        let convs: [(Int, Int)] = kernel.hasSuffix("s") ? Array(repeating: (3, 3), count: (k - 1) / 2)
            : kernel.hasSuffix("f") ? [(1, k), (k, 1)] : [(k, k)]
        let cs = scaled(stem), co = scaled(out), ch = scaled(head)
        var params = 9 * cs + 2 * cs
        var macs = side * side * 9 * cs
        var h = side, ci = cs
        for r in 0..<repeats {
            let s = r == 0 ? stride : 1
            let ho = (h + s - 1) / s
            let reduced = max(1, Int(Double(ci) * se))
            let seCost = { (c: Int) -> (Int, Int) in se == 0 ? (0, 0) : (c * reduced + reduced + reduced * c + c, 2 * c * reduced) }
            switch op {
            case "mb":
                let ex = ci * expansion
                if expansion > 1 { params += ci * ex + 2 * ex; macs += h * h * ci * ex }
                for (kh, kw) in convs { params += kh * kw * ex + 2 * ex; macs += ho * ho * kh * kw * ex }
                let (p, m) = seCost(ex); params += p; macs += m
                params += ex * co + 2 * co; macs += ho * ho * ex * co
            case "sep":
                for (kh, kw) in convs { params += kh * kw * ci + 2 * ci; macs += ho * ho * kh * kw * ci }
                let (p, m) = seCost(ci); params += p; macs += m
                params += ci * co + 2 * co; macs += ho * ho * ci * co
            default:
                for (i, (kh, kw)) in convs.enumerated() {
                    let cin = i == 0 ? ci : co
                    params += kh * kw * cin * co + 2 * co; macs += ho * ho * kh * kw * cin * co
                }
                let (p, m) = seCost(co); params += p; macs += m
            }
            h = ho
            ci = co
        }
        params += ci * ch + 2 * ch + ch * 10 + 10
        macs += h * h * ci * ch + ch * 10
        return (params, macs)
    }
}
