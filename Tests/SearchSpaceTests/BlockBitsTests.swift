import GSLNumerics
@testable import SearchSpace
import Testing

@Suite("Weight precision as a search dimension: `bits` choices and the `_b` field")
struct BlockBitsTests {
    static let space = """
    name: bits
    stem: {filters: 8, stride: 1}
    head: {filters: 32}
    width: [1.0]
    resolution: [16]
    choices: {op: [mb], kernel: [3], expansion: [3], se: [0], skip: [identity], repeats: [0], filters: [1.0], bits: [32, 8, 2]}
    blocks:
      - {filters: 16, stride: 2, repeats: 1}
      - {filters: 16, stride: 1, repeats: 1, choices: {bits: [4]}}
    proxy: {subset: 100, epochs: 1, batch: 10, learning_rate: 0.1, warmup_epochs: 0, label_smoothing: 0}
    latency: {engine: cpu, target_ms: 1, constraint: soft}
    """

    @Test("A space with bits gets one bits decision per block, last, and samples them into _b")
    func decisions() throws {
        let space = try SearchSpace(yaml: Self.space)
        #expect(space.searchesBits)
        let names = space.decisions.map(\.name)
        #expect(names.suffix(2) == ["b1.bits", "b2.bits"])
        #expect(space.decisions.last?.choices == ["4"])
        let archs = space.sample(count: 30, from: RandomStream(seed: 3, name: "sample"))
        #expect(archs.allSatisfy { $0.blocks[1].bits == 4 })
        #expect(Set(archs.map { $0.blocks[0].bits }) == [nil, 8, 2])
        for a in archs { #expect(try Architecture(parsing: a.description) == a) }
        // A space without bits keeps its decisions (and so its runs' sequences).
        let plain = try SearchSpace(yaml: Self.space.replacingOccurrences(of: ", bits: [32, 8, 2]", with: "")
            .replacingOccurrences(of: ", choices: {bits: [4]}", with: ""))
        #expect(!plain.searchesBits && plain.decisions.count == names.count - 2)
    }

    @Test("Bad bits are refused with the place and the allowed values")
    func refused() throws {
        #expect(throws: SearchSpaceError.self) { try SearchSpace(yaml: Self.space.replacingOccurrences(of: "[32, 8, 2]", with: "[3]")) }
        do { _ = try SearchSpace(yaml: Self.space.replacingOccurrences(of: "[32, 8, 2]", with: "[3]")) } catch {
            #expect("\(error)".contains("bits per weight 3 is not 1, 2, 4, 8 or 32"), "\(error)")
        }
        #expect(throws: ArchitectureSyntaxError.self) { try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|conv_r1_k3_s1_o8_b3|head_o32") }
        #expect(throws: ArchitectureSyntaxError.self) { try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|conv_r1_k3_s1_o8_b32|head_o32") }
        #expect(try Architecture(parsing: "r16_w1.0:stem_k3_s1_o8|conv_r1_k3_s1_o8_se0.25_b4_noskip|head_o32").blocks[0].bits == 4)
    }
}
