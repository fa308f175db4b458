import Foundation
import Probe

/// Stops a probe once the evidence is decisive, with the decision's own tests looked at only
/// when the answered triggers reach 16, 32, 64, … (look j at 16·2ʲ). Look j spends the share
/// 2^−(j+1) of each level, so over all looks the chance of stopping to accuse a suspect that
/// treats triggers and decoys alike stays below the decoy test's α (and below α for a suspect
/// as independent as the calibration's references). The report on the transcript then tests
/// once more at the full levels, so a probe run with this stop accuses such a suspect with
/// probability at most twice the level. It stops for `no evidence` when the acquittal tests
/// pass at the same share of the no-evidence level: a copy the rule is built to find is let go
/// this way with probability below that level.
///
/// The looks see a prefix of the plan, not whatever happened to come back first: with queries
/// in flight at once, a suspect could answer some images faster than others, and the counts at
/// a look would then depend on the answers. The plan is shuffled before anything is sent, so a
/// prefix of it is a random sample whatever the suspect does.
///
/// Given the fingerprint's null (when the fingerprint channel decides), each look decides both
/// channels, each at its share of the rule as the report does: it stops to accuse when either
/// channel convicts, and to acquit when both do.
public final class SequentialStop {
    public let calibratedP0: Double
    /// The fingerprint channel's null; nil unless that channel decides.
    public let fingerprintP0: Double?
    public let rule: DecisionRule
    public private(set) var tally: TranscriptTally
    /// The verdict it stopped for; nil while undecided.
    public private(set) var outcome: Verdict?
    /// Looks taken so far.
    public private(set) var looks = 0
    /// Records that came back ahead of an earlier query of the plan, by query id.
    private var waiting: [Int: TranscriptRecord] = [:]
    /// Every query before this one has been counted.
    private var nextQueryID = 0

    public static func triggersAtLook(_ look: Int) -> Int { 16 << look }

    /// `fingerprintP0` makes the fingerprint channel decide; it needs fingerprint queries in the plan.
    public init(header: TranscriptHeader, calibratedP0: Double, fingerprintP0: Double? = nil, rule: DecisionRule = DecisionRule()) throws {
        guard fingerprintP0 == nil || header.counts.fingerprints + header.counts.fingerprintDecoys > 0 else {
            throw ForensicsError.invalid("the fingerprint channel cannot decide a plan without fingerprint queries")
        }
        self.calibratedP0 = calibratedP0
        self.fingerprintP0 = fingerprintP0
        self.rule = rule.share(among: fingerprintP0 == nil ? 1 : 2)
        tally = try TranscriptTally(header: header)
    }

    /// Takes `record` in; true once the probe should stop. Records are counted in plan order, so
    /// one that overtook an earlier query waits for it. A record the tally refuses (not from a
    /// probe of this plan) stops nothing: the report refuses the transcript later.
    public func observe(_ record: TranscriptRecord) -> Bool {
        guard outcome == nil else { return true }
        // A query already passed is a failed one sent again on resume: nothing is waiting for it.
        guard record.queryId >= nextQueryID else { return count(record) }
        waiting[record.queryId] = record
        while outcome == nil, let next = waiting.removeValue(forKey: nextQueryID) {
            nextQueryID += 1
            _ = count(next)
        }
        return outcome != nil
    }

    /// Counts one record and takes a look when it brings the trigger answers to the next look's number.
    private func count(_ record: TranscriptRecord) -> Bool {
        let isNewAnswer = (try? tally.count(record)) ?? false
        guard isNewAnswer, record.kind == .trigger, tally.trigger.answered == Self.triggersAtLook(looks) else { return false }
        let channels = [(EvidenceChannel.watermark, calibratedP0)] + (fingerprintP0.map { [(.fingerprint, $0)] } ?? [])
        let verdicts = channels.map { channel, p0 in
            let (hits, decoys) = (tally[channel.kinds.hits], tally[channel.kinds.decoys])
            return Self.verdict(atLook: looks, triggerHits: hits.hits, triggers: hits.answered, decoyHits: decoys.hits, decoys: decoys.answered,
                                calibratedP0: p0, rule: rule)
        }
        looks += 1
        // A channel that cannot be looked at yet (nil) can neither acquit nor stop the others convicting.
        if verdicts.contains(.infringement) { outcome = .infringement } else if verdicts.allSatisfy({ $0 == .noEvidence }) { outcome = .noEvidence }
        return outcome != nil
    }

    /// What look `look` stops for on one channel's counts: `infringement`, `no evidence`, or nil to go on.
    public static func verdict(atLook look: Int, triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double,
                               rule: DecisionRule) -> Verdict? {
        guard Decision.problem(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                               calibratedP0: calibratedP0, rule: rule) == nil else { return nil }
        let share = exp2(-Double(look + 1))
        let tests = Decision.Tests(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                                   calibratedP0: calibratedP0, rule: rule)
        if tests.convicts(share: share) { return .infringement }
        return tests.acquits(share: share) ? .noEvidence : nil
    }
}
