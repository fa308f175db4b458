import Probe

/// Wald's test run on a probe as its records arrive, to stop sending once the evidence is
/// decisive. Each direction uses the null that is harder for it: stopping for theft tests the
/// decision's p0 — the calibrated one raised to the upper bound of the suspect's decoy hit rate
/// so far (when the plan has decoys; with few decoys answered that bound is high, so this cannot
/// happen before they have spoken) — against a rate well above its θ, since the verdict needs
/// the WSR's lower bound above θ, not the rate at θ; stopping for independence tests the
/// calibrated p0 against θ, so a high decoy rate never makes acquittal easy. A stop also needs
/// the decision on the counts so far to agree, so a report on the stopped transcript never
/// comes out inconclusive.
public final class SequentialStop {
    public let calibratedP0: Double
    public let targetLabel: Int
    public let decoysPlanned: Bool
    public let rule: DecisionRule
    public private(set) var triggerHits = 0, triggers = 0, decoyHits = 0, decoys = 0
    public private(set) var outcome = SequentialTest.Outcome.undecided
    /// The decoys' upper bound, recomputed only when a decoy answers: a bisection per record
    /// would sit on the probe's path under its lock.
    private var decoyBound: Double

    public init(calibratedP0: Double, targetLabel: Int, decoysPlanned: Bool, rule: DecisionRule = DecisionRule()) {
        self.calibratedP0 = calibratedP0
        self.targetLabel = targetLabel
        self.decoysPlanned = decoysPlanned
        self.rule = rule
        decoyBound = decoysPlanned ? 1 : 0
    }

    /// Counts `record`; true once the test has decided.
    public func observe(_ record: TranscriptRecord) -> Bool {
        guard outcome == .undecided else { return true }
        guard record.status == .answered, let label = record.label, record.kind != .control else { return false }
        // Records from before expected labels were written expect the target, as in TranscriptFigures.
        let hit = label == (record.expectedLabel ?? targetLabel)
        if record.kind == .trigger {
            triggers += 1
            if hit { triggerHits += 1 }
        } else {
            decoys += 1
            if hit { decoyHits += 1 }
            decoyBound = ClopperPearson(successes: decoyHits, trials: decoys, confidence: rule.confidence).upper
        }
        func test(p0: Double, p1: Double) -> SequentialTest.Outcome {
            guard p0 > 0, p1 > p0, p1 < 1 else { return .undecided }
            return SequentialTest(p0: p0, p1: p1, alpha: rule.alpha, beta: rule.noEvidenceAlpha).outcome(hits: triggerHits, trials: triggers)
        }
        let raised = max(calibratedP0, decoyBound), raisedTheta = rule.theta(p0: raised)
        var candidate = SequentialTest.Outcome.undecided
        if test(p0: raised, p1: min(2 * raisedTheta, (1 + raisedTheta) / 2)) == .acceptAlternative {
            candidate = .acceptAlternative
        } else if test(p0: calibratedP0, p1: rule.theta(p0: calibratedP0)) == .acceptNull {
            candidate = .acceptNull
        }
        guard candidate != .undecided else { return false }
        let verdict = Decision(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                               calibratedP0: calibratedP0, rule: rule).verdict
        if verdict == (candidate == .acceptAlternative ? .infringement : .noEvidence) { outcome = candidate }
        return outcome != .undecided
    }
}
