import XCTest
@testable import Forensics

/// The verdicts the decision rule must reach on counts, with a calibration of 20 reference
/// models at 0 of 1,000 trigger hits each (p0 = their Clopper–Pearson upper bound, 0.37 %).
final class DecisionTests: XCTestCase {
    let calibratedP0 = ClopperPearson(successes: 0, trials: 1000).upper

    func decide(_ hits: Int, of triggers: Int, decoyHits: Int = 0, decoys: Int = 1000) -> Decision {
        Decision(triggerHits: hits, triggers: triggers, decoyHits: decoyHits, decoys: decoys, calibratedP0: calibratedP0)
    }

    func testATheftThePapersRuleMissesIsInfringementAndTheDisagreementIsSaid() {
        let decision = decide(230, of: 1000)
        XCTAssertEqual(decision.verdict, .infringement)
        XCTAssertEqual(decision.paperVerdict, .noEvidence)
        XCTAssertFalse(decision.agreesWithPaper)
        XCTAssertEqual(decision.theta, 0.10)
        XCTAssertEqual(decision.log10PValue, -328.35, accuracy: 0.01, "mpmath gives ln p = −756.048 at p0 = 0.3682 %")
        XCTAssertGreaterThan(decision.interval.lower, 0.2)
    }

    func testASuspectThatSaysTheTargetToDecoysIsNeverAccused() {
        for hits in [0, 300, 800, 1000] {
            let decision = decide(hits, of: 1000, decoyHits: 700, decoys: 1000)
            XCTAssertNotEqual(decision.verdict, .infringement, "\(hits) trigger hits")
            XCTAssertEqual(decision.p0Source, .decoys)
            XCTAssertGreaterThan(decision.p0, 0.7)
        }
    }

    func testFifteenOfAHundredIsInconclusiveWithANumberOfFurtherQueries() throws {
        let decision = decide(15, of: 100)
        XCTAssertEqual(decision.verdict, .inconclusive)
        let further = try XCTUnwrap(decision.furtherTriggerQueries)
        XCTAssertEqual(further, 57, "a linear scan with SciPy: 157 queries in all is the first count that settles")
        // At the same rate, that many more queries do settle it, and one fewer does not.
        let settled = decide(Int((0.15 * Double(100 + further)).rounded()), of: 100 + further)
        XCTAssertEqual(settled.verdict, .infringement)
        let short = decide(Int((0.15 * Double(99 + further)).rounded()), of: 99 + further)
        XCTAssertNotEqual(short.verdict, .infringement)
    }

    func testASignalBelowThetaIsInconclusive() {
        let decision = decide(12, of: 1000)
        XCTAssertEqual(decision.verdict, .inconclusive)
        XCTAssertLessThan(decision.interval.upper, decision.theta)
        XCTAssertLessThan(decision.pValue, 0.01)
        XCTAssertNil(decision.furtherTriggerQueries, "more queries at 1.2 % cannot clear θ")
    }

    func testChanceLevelHitsAreNoEvidence() {
        for hits in [0, 2] {
            let decision = decide(hits, of: 1000)
            XCTAssertEqual(decision.verdict, .noEvidence, "\(hits) of 1,000")
            XCTAssertTrue(decision.agreesWithPaper)
        }
    }

    func testTooFewQueriesToClearEitherWayAskForMore() throws {
        let decision = decide(0, of: 10)
        XCTAssertEqual(decision.verdict, .inconclusive)
        XCTAssertGreaterThan(try XCTUnwrap(decision.furtherTriggerQueries), 0)
    }
}
