import Core
import Testing

@Suite("Shared limits and the error model")
struct LimitsTests {
    @Test("A value outside a limit is an invalid input naming the setting, the range and the value")
    func check() throws {
        #expect(throws: Never.self) { try Limits.threads.check(2, "--threads") }
        do {
            try Limits.threads.check(0, "--threads")
            Issue.record("0 threads accepted")
        } catch {
            #expect(error.kind == .invalidInput)
            #expect(error.description == "--threads must be in 1...256, got 0.")
        }
        #expect(throws: NasError.self) { try Limits.threads.check(100_000, "--threads") }
    }

    @Test("An excluded lower bound, NaN and nil")
    func edges() throws {
        #expect(!Limits.learningRate.contains(0))
        #expect(Limits.learningRate.contains(1e-9))
        #expect(Limits.learningRate.text == "(0.0, 10.0]")
        #expect(!Limits.labelSmoothing.contains(.nan))
        #expect(!Limits.hours.contains(.infinity))
        #expect(throws: Never.self) { try Limits.hours.check(nil, "--hours") }
    }

    @Test("An unclassified error counts as internal")
    func kinds() {
        struct Unclassified: Error {}
        #expect(ErrorKind.of(Unclassified()) == .internal)
        #expect(ErrorKind.of(NasError.notFound("x")) == .notFound)
    }
}
