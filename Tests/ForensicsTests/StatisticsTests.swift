import Foundation
import XCTest
@testable import Forensics

/// The statistics against reference values computed independently (mpmath and SciPy; the
/// script and its command are in `fixtures/statistics/`).
final class StatisticsTests: XCTestCase {
    struct Reference: Decodable {
        struct Probability: Decodable { var k: Int; var n: Int; var p: Double; var logProbability: Double }
        struct Tail: Decodable { var k: Int; var n: Int; var p: Double; var logUpperTail: Double }
        struct Interval: Decodable { var k: Int; var n: Int; var confidence: Double; var lower: Double; var upper: Double }
        var logProbabilities: [Probability]
        var logUpperTails: [Tail]
        var clopperPearson: [Interval]
    }

    static let reference: Reference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/statistics/binomial.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Reference.self, from: Data(contentsOf: url))
    }()

    func assertClose(_ value: Double, _ expected: Double, relative: Double = 1e-9, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        if expected == 0 || expected.isInfinite {
            XCTAssertEqual(value, expected, message, file: file, line: line)
        } else {
            XCTAssertLessThanOrEqual(abs(value - expected) / abs(expected), relative, "\(message): \(value) vs \(expected)", file: file, line: line)
        }
    }

    func testLogProbabilitiesMatchTheReference() {
        XCTAssertGreaterThan(Self.reference.logProbabilities.count, 20)
        for r in Self.reference.logProbabilities {
            assertClose(Binomial.logProbability(r.k, of: r.n, rate: r.p), r.logProbability, "ln P(X = \(r.k); \(r.n), \(r.p))")
        }
    }

    func testLogUpperTailsMatchTheReferenceIncludingFarBelowTheSmallestDouble() {
        for r in Self.reference.logUpperTails {
            let value = Binomial.logUpperTail(r.k, of: r.n, rate: r.p)
            // A tail of probability near 1 has a log near 0: compare absolutely there.
            if abs(r.logUpperTail) < 1e-3 { XCTAssertEqual(value, r.logUpperTail, accuracy: 1e-12, "ln P(X ≥ \(r.k); \(r.n), \(r.p))") } else {
                assertClose(value, r.logUpperTail, "ln P(X ≥ \(r.k); \(r.n), \(r.p))")
            }
        }
        // 230 of 1,000 against 0.3682 %: p ≈ 4e-329, past the smallest Double; its log is finite.
        XCTAssertLessThan(Binomial.log10PValue(230, of: 1000, rate: 0.003682), -300)
        XCTAssertEqual(Binomial.pValue(230, of: 1000, rate: 0.003682), 0)
    }

    func testClopperPearsonMatchesSciPy() {
        XCTAssertGreaterThan(Self.reference.clopperPearson.count, 10)
        for r in Self.reference.clopperPearson {
            let interval = ClopperPearson(successes: r.k, trials: r.n, confidence: r.confidence)
            assertClose(interval.lower, r.lower, "lower bound of \(r.k)/\(r.n) at \(r.confidence)")
            assertClose(interval.upper, r.upper, "upper bound of \(r.k)/\(r.n) at \(r.confidence)")
        }
    }

    func testTailsAreConsistentWithSummedProbabilities() {
        // Independent of the fixtures: the tail equals the sum of the point probabilities.
        for (n, p) in [(30, 0.2), (200, 0.01), (200, 0.7)] {
            for k in stride(from: 0, through: n, by: max(1, n / 10)) {
                let summed = (k...n).map { exp(Binomial.logProbability($0, of: n, rate: p)) }.reduce(0, +)
                XCTAssertEqual(exp(Binomial.logUpperTail(k, of: n, rate: p)), summed, accuracy: 1e-12 * max(1, summed), "k \(k) n \(n) p \(p)")
            }
        }
    }

    func testTheOddsRatioTestMatchesExactRationalSums() {
        // log₁₀ of both tails, summed over C(n₁, x) C(n₂, s − x) ψˣ in exact rationals (Python's
        // fractions, logged with mpmath): (k₁, n₁, k₂, n₂, ψ₀, upper, lower).
        let fixtures: [(Int, Int, Int, Int, Double, Double, Double)] = [
            (322, 500, 47, 300, 2, -20.131563072678773, 0),
            (322, 500, 47, 300, 1, -42.873580132122896, 0),
            (30, 100, 10, 60, 2, -0.27929690723591705, -0.1978312263650821),
            (64, 200, 10, 100, 2, -1.625720631834966, -0.004364204070768096),
            (980, 1000, 15, 500, 2, -257.25520887281385, 0),
            (5, 20, 9, 10, 1.5, -1.4466334441465278e-06, -3.7872304532983554),
            (0, 10, 0, 5, 2, 0, 0),
            (10, 10, 0, 5, 2, -2.5587085705331654, 0),
        ]
        for (k1, n1, k2, n2, margin, upper, lower) in fixtures {
            let label = "\(k1)/\(n1) against \(k2)/\(n2) at ψ₀ \(margin)"
            XCTAssertEqual(OddsRatioTest.log10UpperPValue(hits: k1, of: n1, against: k2, of: n2, margin: margin), upper,
                           accuracy: 1e-9 * max(1, abs(upper)), label)
            XCTAssertEqual(OddsRatioTest.log10LowerPValue(hits: k1, of: n1, against: k2, of: n2, margin: margin), lower,
                           accuracy: 1e-9 * max(1, abs(lower)), label)
        }
    }
}
