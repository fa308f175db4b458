import Foundation
import Probe

/// Stops a probe once the evidence is decisive, with the decision's own two tests looked at
/// only when the answered triggers reach 16, 32, 64, … (look j at 16·2ʲ). Look j spends the share
/// 2^−(j+1) of each level, so over all looks the chance of stopping to accuse a suspect that
/// treats triggers and decoys alike stays below the decoy test's α (and below α for a suspect
/// as independent as the calibration's references) — the same bound as one test at the end.
/// It stops for `no evidence` when the verdict on the counts so far is `no evidence` and the
/// trigger-to-decoy odds ratio is below the rule's margin at a share of the no-evidence level:
/// a copy at least that asymmetric is let go this way with probability below that level.
public final class SequentialStop {
    public let calibratedP0: Double
    public let rule: DecisionRule
    public private(set) var tally: TranscriptTally
    /// The verdict it stopped for; nil while undecided.
    public private(set) var outcome: Verdict?
    /// Looks taken so far.
    public private(set) var looks = 0

    public static func triggersAtLook(_ look: Int) -> Int { 16 << look }

    public init(header: TranscriptHeader, calibratedP0: Double, rule: DecisionRule = DecisionRule()) {
        self.calibratedP0 = calibratedP0
        self.rule = rule
        tally = TranscriptTally(header: header)
    }

    /// Counts `record`; true once the probe should stop. A record the tally refuses (not from a
    /// probe of this plan) stops nothing: the report refuses the transcript later.
    public func observe(_ record: TranscriptRecord) -> Bool {
        guard outcome == nil else { return true }
        let isNewAnswer = (try? tally.count(record)) ?? false
        guard isNewAnswer, record.kind == .trigger, tally.trigger.answered == Self.triggersAtLook(looks) else { return false }
        outcome = Self.verdict(atLook: looks, triggerHits: tally.trigger.hits, triggers: tally.trigger.answered,
                               decoyHits: tally.decoy.hits, decoys: tally.decoy.answered, calibratedP0: calibratedP0, rule: rule)
        looks += 1
        return outcome != nil
    }

    /// What look `look` stops for on these counts: `infringement`, `no evidence`, or nil to go on.
    public static func verdict(atLook look: Int, triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double,
                               rule: DecisionRule) -> Verdict? {
        guard Decision.problem(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                               calibratedP0: calibratedP0, rule: rule) == nil else { return nil }
        let share = 1 / Double(2 << look)
        let tests = Decision.Tests(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                                   calibratedP0: calibratedP0, rule: rule)
        if tests.convicts(share: share) { return .infringement }
        let belowMargin = OddsRatioTest.log10LowerPValue(hits: triggerHits, of: triggers, against: decoyHits, of: decoys,
                                                         margin: rule.oddsRatioMargin) < log10(rule.noEvidenceAlpha * share)
        return tests.verdict == .noEvidence && belowMargin ? .noEvidence : nil
    }
}
