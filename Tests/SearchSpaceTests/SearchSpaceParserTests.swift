import Foundation
import Testing
@testable import SearchSpace

/// The repository root, for the shipped search spaces.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("Search-space files")
struct SearchSpaceParserTests {
    @Test("The shipped spaces parse", arguments: ["mnasnet-fm", "mobilenetv2-fm", "tiny"])
    func shipped(name: String) throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/\(name).yaml")
        #expect(space.name == name)
        #expect(space.decisions.count == 2 + 7 * space.blocks.count)
    }

    @Test("mnasnet-fm declares MnasNet's choices")
    func mnasnet() throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mnasnet-fm.yaml")
        #expect((5...7).contains(space.blocks.count))
        #expect(space.widths == [0.5, 0.75, 1.0, 1.25])
        #expect(space.resolutions == [20, 24, 28, 32])
        for block in space.blocks {
            #expect(block.choices.ops == [.conv, .sep, .mb])
            #expect(block.choices.kernels.map(\.description) == ["3", "5", "7", "5s", "7s", "3f", "5f", "7f"])
            #expect(block.choices.expansions == [1, 3, 6])
            #expect(block.choices.seRatios == [0, 0.25])
            #expect(block.choices.skips == [true, false])
            #expect(block.choices.filterMultipliers == [0.75, 1.0, 1.25])
            #expect(Set(block.choices.repeatOffsets.map { block.repeats + $0 }).isSubset(of: Set(block.repeats - 1...block.repeats + 1)))
        }
        #expect(space.proxy.subset > 0 && space.latency.targetMilliseconds > 0)
    }

    @Test("mobilenetv2-fm varies width and resolution only, around mbv2-fm")
    func mobilenet() throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mobilenetv2-fm.yaml")
        #expect(space.log10Size == log10(Double(space.widths.count * space.resolutions.count)))
        let tokens = [space.resolutions.firstIndex(of: 28)!, space.widths.firstIndex(of: 1.0)!]
            + Array(repeating: 0, count: 7 * space.blocks.count)
        #expect(space.architecture(tokens: tokens).description == ArchitectureGrammarTests.mbv2)
    }

    static let valid = """
        name: t
        stem: {filters: 8, stride: 1}
        head: {filters: 32}
        width: [1.0]
        resolution: [16]
        choices:
          op: [sep, mb]
          kernel: [3, 5s]
          expansion: [1, 3]
          se: [0, 0.25]
          skip: [identity, none]
          repeats: [0]
          filters: [1.0]
        blocks:
          - {filters: 16, stride: 2, repeats: 1}
        proxy: {subset: 100, epochs: 1, batch: 10}
        latency: {engine: cpu, target_ms: 0.1}
        """

    /// Replaces line `line` (1-based) of `valid` by `text`.
    static func withLine(_ line: Int, _ text: String) -> String {
        var lines = valid.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[line - 1] = text
        return lines.joined(separator: "\n")
    }

    /// (yaml, line, column, phrase): the first diagnostic expected.
    static let bad: [(String, Int, Int, String)] = [
        (withLine(1, "nam: t"), 1, 1, "unknown key 'nam'"),
        (withLine(2, "stem: {filters: 8, stride: one}"), 2, 28, "stem stride must be a whole number, found 'one'"),
        (withLine(2, "stem: [8, 1]"), 2, 7, "stem must be a mapping"),
        (withLine(3, "head: {}"), 3, 7, "head is missing the key 'filters'"),
        (withLine(4, "width: []"), 4, 8, "empty list"),
        (withLine(4, "width: 1.0"), 4, 8, "must be a list of choices"),
        (withLine(4, "width: [1.0, 0]"), 4, 14, "width multiplier must be in"),
        (withLine(5, "resolution: [16, 16]"), 5, 18, "twice"),
        (withLine(7, "  op: [sep, dw]"), 7, 13, "unknown op 'dw'; expected conv, sep or mb"),
        (withLine(8, "  kernel: [3, 9]"), 8, 15, "unknown kernel '9'"),
        (withLine(8, "  kernel: [3, 3s]"), 8, 15, "unknown kernel '3s'"),
        (withLine(9, "  expansion: [0]"), 9, 15, "expansion ratio must be in"),
        (withLine(10, "  se: [0, 2]"), 10, 11, "squeeze-and-excite ratio must be in"),
        (withLine(11, "  skip: [identity, maybe]"), 11, 20, "unknown skip 'maybe'"),
        (withLine(12, "  repeats: [-1, 0]"), 15, 5, "gives 0 repeats"),
        (withLine(13, "  filtres: [1.0]"), 13, 3, "unknown key 'filtres'"),
        (withLine(15, "  - {filters: 16, stride: 2}"), 15, 5, "block 1 is missing the key 'repeats'"),
        (withLine(15, "  - {filters: 16, stride: 2, repeats: 1, choices: {op: [mb], kernel: []}}"), 15, 70, "empty list"),
        (withLine(14, "blocks: []").replacingOccurrences(of: "  - {filters: 16, stride: 2, repeats: 1}", with: ""), 14, 9, "at least one block"),
        (withLine(16, "proxy: {subset: 0, epochs: 1, batch: 10}"), 16, 17, "proxy subset"),
        (withLine(17, "latency: {engine: gpu, target_ms: 0.1}"), 17, 19, "unknown latency engine 'gpu'"),
        (withLine(17, "latency: {engine: cpu, target_ms: -1}"), 17, 35, "target_ms must be in"),
        (withLine(5, "resolution: [1, 16]"), 15, 27, "would shrink it below 1×1"),
        (withLine(2, "stem: {filters: 8, stride: 1"), 3, 5, "flow mapping started at line 2, column 7"),
        (withLine(4, "width: [1.0"), 5, 11, "not valid YAML"),
        (withLine(4, "\twidth: [1.0]"), 4, 1, "not valid YAML"),
        ("", 1, 1, "the file is empty"),
        ("- a\n- b", 1, 1, "the search space must be a mapping"),
        (valid + "\nname: u", 1, 1, "appears twice"),
    ]

    @Test("Bad files are rejected with line, column and a plain reason", arguments: bad.indices)
    func rejects(index: Int) {
        let (yaml, line, column, phrase) = Self.bad[index]
        do {
            _ = try SearchSpace(yaml: yaml, path: "bad.yaml")
            Issue.record("accepted:\n\(yaml)")
        } catch {
            let first = error.diagnostics.first
            #expect(first?.message.contains(phrase) == true, "\(error)")
            #expect(first?.line == line && first?.column == column, "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:"))
        }
    }

    @Test("Every problem in a file is reported, not only the first")
    func allProblems() {
        let yaml = Self.withLine(1, "nam: t").replacingOccurrences(of: "[sep, mb]", with: "[sep, xx]")
        #expect(throws: SearchSpaceError.self) { try SearchSpace(yaml: yaml) }
        do { _ = try SearchSpace(yaml: yaml) } catch {
            #expect(error.diagnostics.count >= 3)  // unknown key, missing name, unknown op
        }
    }

    @Test("A missing file names the path and what to do")
    func missingFile() {
        do { _ = try SearchSpace(contentsOf: "/nonexistent/space.yaml") } catch {
            #expect(error.description.contains("/nonexistent/space.yaml"))
            #expect(error.description.contains("no such file"))
        }
    }

    @Test("Generated corruptions of a valid file never crash")
    func fuzz() throws {
        #expect(throws: Never.self) { try SearchSpace(yaml: Self.valid) }
        var generator = SplitMix(seed: 3)
        let lines = Self.valid.split(separator: "\n").map(String.init)
        let junk = ["", "x", "-1", "[", "]", "{", "}", ":", "- ", "  ", "0.0", "1e999", "nan", "\"", "&a", "*a", "!!int", "\t", "é", "99999999999999999999"]
        var rejected = 0
        for _ in 0..<1500 {
            var mutated = lines
            for _ in 0..<(1 + Int(generator.next() % 3)) {
                let i = Int(generator.next() % UInt64(mutated.count))
                var scalars = Array(mutated[i].unicodeScalars)
                let at = scalars.isEmpty ? 0 : Int(generator.next() % UInt64(scalars.count))
                let piece = junk[Int(generator.next() % UInt64(junk.count))]
                switch generator.next() % 4 {
                case 0: mutated.remove(at: i); if mutated.isEmpty { mutated = [""] }
                case 1: scalars.insert(contentsOf: piece.unicodeScalars, at: at); mutated[i] = String(String.UnicodeScalarView(scalars))
                case 2: if !scalars.isEmpty { scalars.remove(at: at) }; mutated[i] = String(String.UnicodeScalarView(scalars))
                default: mutated.swapAt(i, Int(generator.next() % UInt64(mutated.count)))
                }
            }
            do {
                let space = try SearchSpace(yaml: mutated.joined(separator: "\n"))
                _ = space.log10Size
                _ = space.decisions
            } catch {
                rejected += 1
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.line >= 1 && $0.column >= 1 && !$0.message.isEmpty })
            }
        }
        #expect(rejected > 500)
    }
}

@Suite("Search proxy")
struct SearchProxyTests {
    @Test("mnasnet-fm declares a cheaper search proxy; a bad one is reported like the proxy")
    func searchProxy() throws {
        let space = try SearchSpace(contentsOf: "\(repositoryRoot)/SearchSpaces/mnasnet-fm.yaml")
        let cheap = try #require(space.searchProxy)
        #expect(cheap.subset < space.proxy.subset)
        #expect(try SearchSpace(yaml: SearchSpaceParserTests.valid).searchProxy == nil)
        do {
            _ = try SearchSpace(yaml: SearchSpaceParserTests.valid + "\nsearch_proxy: {subset: 10, epochs: 1, batch: 64}", path: "s.yaml")
            Issue.record("accepted a search proxy smaller than one batch")
        } catch {
            #expect(error.description.contains("smaller than one batch"))
        }
        #expect(cheap.validationSubset == 2000)
        #expect(space.proxy.validationSubset == nil)
        do {
            _ = try SearchSpace(yaml: SearchSpaceParserTests.valid + "\nsearch_proxy: {subset: 100, epochs: 1, batch: 10, validation_subset: 20000}", path: "s.yaml")
            Issue.record("accepted a validation subset larger than the 10k validation split")
        } catch {
            #expect(error.description.contains("validation_subset"))
        }
    }
}
