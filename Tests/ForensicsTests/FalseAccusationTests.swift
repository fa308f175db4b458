import Engine
import Foundation
import XCTest
@testable import Forensics

/// The decision rule's false-accusation rate, simulated: 10⁵ innocent suspects that answer the
/// target on triggers exactly as often as on decoys, at a rate drawn uniformly from [0, 1], with
/// trigger and decoy counts as probes plan them. The calibrated null is made worthless (p0 far
/// below every rate that matters), so only the test against the suspect's own decoys stands
/// between them and an accusation: at most α of them may be accused at the end of a full probe,
/// at most α by the early stop's looks, and at most 2α by either.
final class FalseAccusationTests: XCTestCase {
    let suspects = 100_000
    /// (triggers, decoys): `probe`'s defaults, the demo's, a budget of 300, the demo test's.
    let plans = [(1000, 500), (500, 300), (150, 75), (80, 40)]
    let rule = DecisionRule()
    let calibratedP0 = 1e-4

    func testInnocentsThatTreatTriggersAndDecoysAlikeAreAccusedAtMostAlphaOfTheTime() {
        var rng = SeededGenerator(seed: 2026_12_02)
        var (accusedAtTheEnd, accusedByALook, accusedEither, decided) = (0, 0, 0, 0)
        var largestRateAccused: Double?
        for n in 0..<suspects {
            let (triggers, decoys) = plans[n % plans.count]
            let rate = Double(rng.nextUnitFloat())
            // The shuffled plan's order of triggers and decoys, each answered with the target at `rate`.
            var (triggersLeft, decoysLeft) = (triggers, decoys)
            var (hits, answered, decoyHits, decoysAnswered, look) = (0, 0, 0, 0, 0)
            var stoppedFor: Verdict?
            while triggersLeft + decoysLeft > 0 {
                let hit = Double(rng.nextUnitFloat()) < rate
                if Int(rng.next() % UInt64(triggersLeft + decoysLeft)) < triggersLeft {
                    triggersLeft -= 1
                    answered += 1
                    if hit { hits += 1 }
                    if stoppedFor == nil, answered == SequentialStop.triggersAtLook(look) {
                        stoppedFor = SequentialStop.verdict(atLook: look, triggerHits: hits, triggers: answered, decoyHits: decoyHits,
                                                            decoys: decoysAnswered, calibratedP0: calibratedP0, rule: rule)
                        look += 1
                    }
                } else {
                    decoysLeft -= 1
                    decoysAnswered += 1
                    if hit { decoyHits += 1 }
                }
            }
            if stoppedFor == .infringement { accusedByALook += 1 }
            var accusedAtEnd = false
            defer { if accusedAtEnd || stoppedFor == .infringement { accusedEither += 1 } }
            if Decision.problem(triggerHits: hits, triggers: triggers, decoyHits: decoyHits, decoys: decoys, calibratedP0: calibratedP0, rule: rule) == nil {
                decided += 1
                if Decision(triggerHits: hits, triggers: triggers, decoyHits: decoyHits, decoys: decoys, calibratedP0: calibratedP0, rule: rule).verdict == .infringement {
                    accusedAtTheEnd += 1
                    accusedAtEnd = true
                    largestRateAccused = max(largestRateAccused ?? 0, rate)
                }
            }
        }
        let bound = Int(rule.decoyAlpha * Double(suspects))
        XCTAssertEqual(decided, suspects, "every plan here can reach a verdict")
        XCTAssertLessThanOrEqual(accusedAtTheEnd, bound, "accused at rates up to \(largestRateAccused ?? 0)")
        XCTAssertLessThanOrEqual(accusedByALook, bound)
        XCTAssertLessThanOrEqual(accusedEither, 2 * bound, "a probe with the early stop, then its report: at most twice the level")
        print("false accusations among \(suspects) simulated innocents: \(accusedAtTheEnd) at the end of the probe, \(accusedByALook) by an early-stop look (bound \(bound) each)")
    }
}
