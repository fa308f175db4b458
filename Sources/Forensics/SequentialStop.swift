import Probe

/// Wald's test run on a probe as its records arrive, to stop sending once the evidence is
/// decisive. Each direction uses the null that is harder for it: stopping for theft tests
/// against the decision's p0 — the calibrated one raised to the upper bound of the suspect's
/// decoy hit rate so far (when the plan has decoys; with few decoys answered that bound is high,
/// so this cannot happen before they have spoken) — and its θ; stopping for independence tests
/// against the calibrated p0 and its lower θ, so a high decoy rate never makes acquittal easy.
public final class SequentialStop {
    public let calibratedP0: Double
    public let rule: DecisionRule
    public let decoysPlanned: Bool
    public private(set) var triggerHits = 0, triggers = 0, decoyHits = 0, decoys = 0
    public private(set) var outcome = SequentialTest.Outcome.undecided

    public init(calibratedP0: Double, decoysPlanned: Bool, rule: DecisionRule = DecisionRule()) {
        self.calibratedP0 = calibratedP0
        self.decoysPlanned = decoysPlanned
        self.rule = rule
    }

    /// Counts `record`; true once the test has decided.
    public func observe(_ record: TranscriptRecord) -> Bool {
        guard record.status == .answered, let label = record.label, record.kind != .control else { return outcome != .undecided }
        let hit = label == record.expectedLabel
        if record.kind == .trigger {
            triggers += 1
            if hit { triggerHits += 1 }
        } else {
            decoys += 1
            if hit { decoyHits += 1 }
        }
        let decoyBound = !decoysPlanned ? 0 : decoys == 0 ? 1 : ClopperPearson(successes: decoyHits, trials: decoys, confidence: rule.confidence).upper
        func test(p0: Double) -> SequentialTest.Outcome {
            let theta = rule.theta(p0: p0)
            guard p0 > 0, theta < 1 else { return .undecided }
            return SequentialTest(p0: p0, p1: theta, alpha: rule.alpha, beta: rule.noEvidenceAlpha).outcome(hits: triggerHits, trials: triggers)
        }
        if test(p0: max(calibratedP0, decoyBound)) == .acceptAlternative {
            outcome = .acceptAlternative
        } else if test(p0: calibratedP0) == .acceptNull {
            outcome = .acceptNull
        }
        return outcome != .undecided
    }
}
