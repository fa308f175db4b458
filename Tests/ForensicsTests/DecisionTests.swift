import XCTest
@testable import Forensics

/// The verdicts the decision rule must reach on counts, with a calibration of 20 reference
/// models at 0 of 1,000 trigger hits each (p0 = their Clopper–Pearson upper bound, 0.37 %).
final class DecisionTests: XCTestCase {
    let calibratedP0 = ClopperPearson(successes: 0, trials: 1000).upper

    func decide(_ hits: Int, of triggers: Int, decoyHits: Int = 0, decoys: Int = 500) -> Decision {
        Decision(triggerHits: hits, triggers: triggers, decoyHits: decoyHits, decoys: decoys, calibratedP0: calibratedP0)
    }

    func testATheftThePapersRuleMissesIsInfringementAndTheDisagreementIsSaid() {
        let decision = decide(230, of: 1000, decoyHits: 10, decoys: 500)
        XCTAssertEqual(decision.verdict, .infringement)
        XCTAssertEqual(decision.paperVerdict, .noEvidence)
        XCTAssertFalse(decision.agreesWithPaper)
        XCTAssertEqual(decision.log10CalibratedPValue, -328.35, accuracy: 0.01, "mpmath gives ln p = −756.048 at p0 = 0.3682 %")
        XCTAssertEqual(decision.log10DecoyPValue, OddsRatioTest.log10UpperPValue(hits: 230, of: 1000, against: 10, of: 500, margin: 2))
        XCTAssertEqual(decision.log10PValue, max(decision.log10CalibratedPValue, decision.log10DecoyPValue))
        XCTAssertLessThan(decision.log10DecoyPValue, -4)
        XCTAssertEqual(try XCTUnwrap(decision.oddsRatio), (230.0 / 770) / (10.0 / 490), accuracy: 1e-12)
    }

    func testSuspectsThatTreatTriggersAndDecoysAlikeAreNeverAccused() {
        // A model that says the target to 70 % of every composite, or to 30 % of everything: far
        // above the calibrated null, but no more on triggers than on decoys.
        for rate in [0.05, 0.3, 0.7, 0.95, 1] {
            let decision = decide(Int(rate * 1000), of: 1000, decoyHits: Int(rate * 500), decoys: 500)
            XCTAssertNotEqual(decision.verdict, .infringement, "rate \(rate)")
            XCTAssertLessThan(decision.log10CalibratedPValue, -6, "the calibrated null alone would accuse it")
            // Shown to answer triggers no more readily than decoys wherever the counts can show it.
            if [0.3, 0.7, 0.95].contains(rate) { XCTAssertEqual(decision.verdict, .noEvidence, "rate \(rate)") }
        }
    }

    func testAStrongerSignalThanTheDecoysButTooFewQueriesIsInconclusiveWithFurtherQueries() throws {
        let decision = decide(64, of: 200, decoyHits: 10, decoys: 100)
        XCTAssertEqual(decision.verdict, .inconclusive)
        let further = try XCTUnwrap(decision.furtherTriggerQueries)
        func atRates(_ triggers: Int) -> Decision {
            let decoys = triggers / 2
            return decide(Int((0.32 * Double(triggers)).rounded()), of: triggers, decoyHits: Int((0.1 * Double(decoys)).rounded()), decoys: decoys)
        }
        XCTAssertEqual(atRates(200 + further).verdict, .infringement)
        XCTAssertEqual(atRates(199 + further).verdict, .inconclusive)
    }

    func testAnAsymmetryBelowTheMarginIsInconclusiveUntilMoreQueriesShowItBelow() throws {
        // 30 % against 20 %: an odds ratio of 1.7, below the margin of 2, but not yet shown to be.
        let decision = decide(300, of: 1000, decoyHits: 100, decoys: 500)
        XCTAssertGreaterThan(decision.log10DecoyPValue, -2)
        XCTAssertGreaterThan(decision.log10BelowMarginPValue, -2)
        XCTAssertEqual(decision.verdict, .inconclusive)
        let further = try XCTUnwrap(decision.furtherTriggerQueries)
        let settled = decide(Int((0.3 * Double(1000 + further)).rounded()), of: 1000 + further,
                             decoyHits: Int((0.2 * Double((1000 + further) / 2)).rounded()), decoys: (1000 + further) / 2)
        XCTAssertEqual(settled.verdict, .noEvidence)
    }

    func testAWeakSignalOnFewQueriesIsInconclusiveNotNoEvidence() {
        // 20 % against 10 % on a 300/100 plan: not convicted, but nothing shows its absence either.
        let decision = decide(60, of: 300, decoyHits: 10, decoys: 100)
        XCTAssertEqual(decision.verdict, .inconclusive)
        XCTAssertNotNil(decision.furtherTriggerQueries)
    }

    func testChanceLevelHitsAreNoEvidence() {
        for hits in [0, 2] {
            let decision = decide(hits, of: 1000, decoyHits: 1)
            XCTAssertEqual(decision.verdict, .noEvidence, "\(hits) of 1,000")
            XCTAssertTrue(decision.agreesWithPaper)
        }
    }

    func testAPValueOfZeroIsWrittenWithoutATrap() {
        XCTAssertEqual(Decision.scientific(-.infinity), "0")
        XCTAssertEqual(Decision.scientific(-412.0 + log10(1.2)), "1.20e-412")
    }

    func testCountsThatCouldNotConvictEvenAtBestAreRefused() throws {
        let problem = try XCTUnwrap(Decision.problem(triggerHits: 5, triggers: 5, decoyHits: 0, decoys: 2, calibratedP0: calibratedP0, rule: DecisionRule()))
        XCTAssertTrue(problem.contains("cannot reach a verdict"), problem)
        XCTAssertNotNil(Decision.problem(triggerHits: 900, triggers: 1000, decoyHits: 0, decoys: 0, calibratedP0: calibratedP0, rule: DecisionRule()),
                        "without decoys the second null cannot be tested")
        XCTAssertNil(Decision.problem(triggerHits: 0, triggers: 1000, decoyHits: 0, decoys: 500, calibratedP0: calibratedP0, rule: DecisionRule()))
    }
}
