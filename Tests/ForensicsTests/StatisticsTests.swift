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

    func testSequentialTestStopsOnDecisiveEvidenceOnly() {
        let test = SequentialTest(p0: 0.004, p1: 0.1, alpha: 1e-6, beta: 0.01)
        XCTAssertEqual(test.outcome(hits: 0, trials: 0), .undecided)
        XCTAssertEqual(test.outcome(hits: 10, trials: 40), .acceptAlternative)
        XCTAssertEqual(test.outcome(hits: 0, trials: 60), .acceptNull)
        XCTAssertEqual(test.outcome(hits: 2, trials: 30), .undecided)
        // Each hit moves the ratio by ln(p1/p0), each miss by ln((1−p1)/(1−p0)).
        XCTAssertEqual(test.logLikelihoodRatio(hits: 3, trials: 10), 3 * log(0.1 / 0.004) + 7 * log(0.9 / 0.996), accuracy: 1e-12)
        XCTAssertEqual(test.upperBoundary, log(0.99 / 1e-6), accuracy: 1e-12)
    }
}
