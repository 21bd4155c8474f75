import Testing
@testable import SearchSpace

@Suite("Architecture strings")
struct ArchitectureGrammarTests {
    static let mbv2 = "r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r3_k3_s2_e6_o32|mb_r2_k3_s1_e6_o64|head_o256"

    static let canonical = [
        mbv2,
        "r28_w0.5:stem_k3_s1_o16|mb_r1_k3_s1_e1_o16|mb_r2_k3_s2_e6_o24|mb_r3_k3_s2_e6_o32|mb_r2_k3_s1_e6_o64|head_o256",
        "r20_w0.75:stem_k3_s1_o16|mb_r1_k7s_s1_e1_o16|conv_r1_k5s_s2_o24_se0.25|mb_r2_k3f_s2_e3_o40_se0.25_noskip|head_o256",
        "r32_w1.25:stem_k3_s2_o8|sep_r1_k5f_s1_o8_noskip|conv_r3_k7f_s2_o12_se0.5|sep_r2_k7_s1_o12|head_o64",
        "r1_w4.0:stem_k3_s1_o4096|conv_r16_k3_s1_o1|head_o1",
    ]

    @Test("print(parse(s)) == s for canonical strings", arguments: canonical)
    func roundTrip(text: String) throws {
        let arch = try Architecture(parsing: text)
        #expect(arch.description == text)
        #expect(try Architecture(parsing: arch.description) == arch)
    }

    @Test("The hash is the first 12 hex digits of SHA-256 of the canonical string")
    func hash() throws {
        let arch = try Architecture(parsing: Self.mbv2)
        #expect(arch.hash.count == 12)
        #expect(arch.hash.allSatisfy { "0123456789abcdef".contains($0) })
        // SHA-256 of the mbv2-fm string, computed independently (sha256sum).
        #expect(arch.hash == "abcd0d503120")
        #expect(try Architecture(parsing: Self.canonical[1]).hash != arch.hash)
    }

    @Test("Non-canonical spellings parse to the canonical string")
    func canonicalisation() throws {
        // A decimal with trailing zeros.
        #expect(try Architecture(parsing: "r28_w1.00:stem_k3_s1_o16|sep_r1_k3_s1_o16_se0.250|head_o64").description
                == "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16_se0.25|head_o64")
        // _noskip where no residual can exist (stride 2, one repeat) is dropped …
        #expect(try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s2_o16_noskip|head_o64").description
                == "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s2_o16|head_o64")
        // … and where channels change, once the width multiplier is applied.
        #expect(try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o24_noskip|head_o64").description
                == "r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o24|head_o64")
        // At width 0.5, 16 and 17 both become 8 channels: now a residual exists and _noskip matters.
        #expect(try Architecture(parsing: "r28_w0.5:stem_k3_s1_o16|sep_r1_k3_s1_o17_noskip|head_o64").description
                == "r28_w0.5:stem_k3_s1_o16|sep_r1_k3_s1_o17_noskip|head_o64")
        // Repeats after the first always can take a residual.
        #expect(try Architecture(parsing: "r28_w1.0:stem_k3_s1_o16|sep_r2_k3_s2_o24_noskip|head_o64").description
                == "r28_w1.0:stem_k3_s1_o16|sep_r2_k3_s2_o24_noskip|head_o64")
    }

    /// (string, 1-based position of the error, a phrase of the message)
    static let malformed: [(String, Int, String)] = [
        ("", 1, "the resolution"),
        ("x28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 1, "the resolution"),
        ("r_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 2, "input resolution"),
        ("r0_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 2, "must be in 1...1024"),
        ("r028_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 2, "leading zeros"),
        ("r99999999999999999999_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 2, "must be in"),
        ("r28_w1:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 7, "with a point"),
        ("r28_w1.:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 8, "digits after the decimal point"),
        ("r28_w9.0:stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 6, "width multiplier must be in"),
        ("r28_w1.0|stem_k3_s1_o16|sep_r1_k3_s1_o16|head_o64", 9, "\":\" before the stem"),
        ("r28_w1.0:stem_k5_s1_o16|sep_r1_k3_s1_o16|head_o64", 10, "stem kernel is always 3"),
        ("r28_w1.0:stem_k3_s1_o16|head_o64", 25, "at least one block"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_o16", 41, "\"|\" and the next block"),
        ("r28_w1.0:stem_k3_s1_o16|dw_r1_k3_s1_o16|head_o64", 25, "block op (conv, sep or mb)"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r0_k3_s1_o16|head_o64", 30, "repeats must be in 1...16"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r1_k4_s1_o16|head_o64", 33, "expected a kernel"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r1_k3s_s1_o16|head_o64", 33, "expected a kernel"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r1_k35_s1_o16|head_o64", 33, "expected a kernel"),
        ("r28_w1.0:stem_k3_s1_o16|sep_r1_k3_s1_e6_o16|head_o64", 37, "belongs to mb blocks only"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_o16|head_o64", 36, "needs its expansion ratio"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16_se0.0|head_o64", 46, "leaving \"_se\" out"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16_se1.5|head_o64", 46, "ratio must be in"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16_skip|head_o64", 43, "\"_se\", \"_b\", \"_noskip\" or \"|\""),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16|head_o64|", 52, "the head ends the architecture"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16|head_o64 ", 52, "the head ends the architecture"),
        ("r2_w1.0:stem_k3_s2_o16|mb_r1_k3_s2_e6_o16|head_o64", 34, "would shrink it below 1×1"),
        ("r28_w1.0:stem_k3_s1_o16|mb_r1_k3_s1_e6_o16|head_oö", 50, "head's channels"),
    ]

    @Test("Malformed strings are rejected at the right character, with what was expected",
          arguments: malformed.indices)
    func rejects(index: Int) {
        let (text, position, phrase) = Self.malformed[index]
        do {
            let arch = try Architecture(parsing: text)
            Issue.record("parsed \(text) as \(arch)")
        } catch {
            #expect(error.position == position, "\(error)")
            #expect(error.message.contains(phrase), "\(error)")
            #expect(error.description.contains("^"))
        }
    }

    @Test("Generated corruptions never crash: each is rejected with a position inside the string, or parses canonically")
    func fuzz() {
        var generator = SplitMix(seed: 11)
        let alphabet = Array("rws_k:|0123456789.efoxmbpcnvadh".unicodeScalars) + ["é", " ", "\u{0}"]
        var rejected = 0
        for base in Self.canonical {
            let scalars = Array(base.unicodeScalars)
            var variants: [[Unicode.Scalar]] = (0...scalars.count).map { Array(scalars[..<$0]) }  // every prefix
            for _ in 0..<400 {
                var s = scalars
                let edits = 1 + Int(generator.next() % 3)
                for _ in 0..<edits {
                    let i = Int(generator.next() % UInt64(max(1, s.count)))
                    let c = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    switch generator.next() % 4 {
                    case 0 where !s.isEmpty: s.remove(at: i)
                    case 1: s.insert(c, at: min(i, s.count))
                    case 2 where !s.isEmpty: s[i] = c
                    default: if s.count > 1 { s.swapAt(i, s.count - 1 - i) }
                    }
                }
                variants.append(s)
            }
            for v in variants {
                let text = String(String.UnicodeScalarView(v))
                do {
                    let arch = try Architecture(parsing: text)
                    #expect(try Architecture(parsing: arch.description) == arch)
                } catch {
                    rejected += 1
                    #expect((1...v.count + 1).contains(error.position), "\(error)")
                }
            }
        }
        #expect(rejected > 1000)
    }
}

/// A tiny deterministic generator for test inputs (independent of GSLNumerics).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
