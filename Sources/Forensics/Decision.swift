import Foundation
import Probe

/// How a verdict is reached; every field is recorded in the report.
///
/// Two nulls, each tested exactly, and infringement only when both fall:
/// 1. the calibrated null: the trigger hits against p0, the largest upper bound of independently
///    trained reference models' hit rates (exact one-sided binomial test at `alpha`);
/// 2. the suspect's own null: its trigger hits against its decoy hits (false watermarks it cannot
///    tell from triggers), by the exact conditional test of their odds ratio against the margin
///    `oddsRatioMargin` (at `decoyAlpha`). A model that answers the target to every composite, or
///    to everything, has an odds ratio near 1 and is never accused, however high its WSR.
/// An innocent suspect whose trigger and decoy rates are equal is accused with probability at
/// most `decoyAlpha`, whatever the rates and counts (see `OddsRatioTest`). `no evidence` needs
/// evidence of absence, not a failure to convict (see `noEvidenceAlpha`).
public struct DecisionRule: Codable, Equatable, Sendable {
    /// Level of the test against the calibrated null.
    public var alpha = 1e-6
    /// Level of the test of triggers against decoys: the false-accusation bound for a suspect
    /// that treats triggers and decoys alike.
    public var decoyAlpha = 1e-4
    /// The trigger odds must exceed this many times the decoy odds: an innocent model may find the
    /// secret pair a little more target-like than other pairs without being accused.
    public var oddsRatioMargin = 2.0
    /// `no evidence` needs evidence of absence at this level: the odds ratio below the margin,
    /// or the trigger hit rate below `smallestWatermarkRate` with nothing remarkable against
    /// the calibrated null.
    public var noEvidenceAlpha = 0.01
    /// The weakest watermark the rule is built to find: a suspect whose trigger hit rate is
    /// shown to lie below it, and that independent models explain, is not pursued.
    public var smallestWatermarkRate = 0.10
    /// Of the Clopper–Pearson intervals shown beside the rates.
    public var confidence = 0.95
    /// The paper's rule: a WSR above this means the model was stolen.
    public var paperThreshold = 0.30

    public init() {}

    /// This rule for one of `channels` evidence channels: α and the decoy test's α divided among
    /// them (Bonferroni), so a suspect convicted when any channel convicts is falsely accused no
    /// more often than with one channel at the full levels.
    public func share(among channels: Int) -> DecisionRule {
        var shared = self
        shared.alpha /= Double(channels)
        shared.decoyAlpha /= Double(channels)
        return shared
    }

    /// Why this rule cannot be decided with, or nil.
    public var problem: String? {
        for (name, level) in [("α", alpha), ("the decoy test's α", decoyAlpha), ("the no-evidence level", noEvidenceAlpha),
                              ("the confidence level", confidence), ("the paper's threshold", paperThreshold)]
        where !(level > 0 && level < 1) {
            return "\(name) must lie strictly between 0 and 1"
        }
        guard oddsRatioMargin >= 1, oddsRatioMargin.isFinite else { return "the odds-ratio margin must be a finite number of at least 1" }
        guard alpha <= noEvidenceAlpha, decoyAlpha <= noEvidenceAlpha else {
            return "α and the decoy test's α may not exceed the no-evidence level \(noEvidenceAlpha): a suspect could be convicted and acquitted at once"
        }
        guard smallestWatermarkRate > 0, smallestWatermarkRate < 1 else { return "the smallest watermark rate must lie strictly between 0 and 1" }
        return nil
    }
}

public enum Verdict: String, Codable, Sendable {
    case infringement
    case noEvidence = "no evidence"
    case inconclusive

    /// The verdict over evidence channels each decided at its share of the rule: infringement
    /// when any channel convicts, no evidence when every channel acquits.
    public static func combining(_ verdicts: [Verdict]) -> Verdict {
        verdicts.contains(.infringement) ? .infringement : verdicts.allSatisfy { $0 == .noEvidence } ? .noEvidence : .inconclusive
    }
}

/// An independent body of evidence a verdict rests on, each with its own queries, decoys and null.
public enum EvidenceChannel: String, Codable, CaseIterable, Sendable {
    /// Trigger samples of the embedded watermark against decoys (false watermarks).
    case watermark
    /// The protected model's fingerprint inputs against fingerprint decoys (`Fingerprint`).
    case fingerprint

    /// The query kinds whose hits are the evidence and the per-suspect null.
    public var kinds: (hits: QueryKind, decoys: QueryKind) { self == .watermark ? (.trigger, .decoy) : (.fingerprint, .fingerprintDecoy) }

    /// What a hit and a decoy are called in the decision's reasons.
    var words: (hits: String, decoys: String, answer: String) {
        self == .watermark ? ("trigger hits", "decoy", "the target") : ("fingerprint agreements", "fingerprint decoy", "the fingerprint's label")
    }
}

/// The verdict on one suspect from its answered triggers and decoys and the calibrated null.
public struct Decision: Codable, Equatable, Sendable {
    public var verdict: Verdict
    public var triggerHits: Int
    public var triggers: Int
    public var wsr: Double
    public var interval: ClopperPearson
    public var decoyHits: Int
    public var decoys: Int
    /// Decoy hits over answered decoys; nil without decoy answers.
    public var decoyRate: Double?
    public var decoyInterval: ClopperPearson?
    public var calibratedP0: Double
    /// log₁₀ of the exact binomial p-value of the trigger hits at the calibrated p0.
    public var log10CalibratedPValue: Double
    /// log₁₀ of the exact conditional p-value of the trigger-versus-decoy odds ratio exceeding
    /// the rule's margin.
    public var log10DecoyPValue: Double
    /// log₁₀ of the exact conditional p-value of the odds ratio lying below the margin: the
    /// evidence that the suspect answers triggers no differently from decoys.
    public var log10BelowMarginPValue: Double
    /// log₁₀ of the exact binomial p-value of the trigger hit rate lying below the rule's smallest
    /// watermark rate.
    public var log10BelowSmallestWatermarkPValue: Double
    /// The evidence's p-value: infringement needs both tests, so the larger of the two.
    public var log10PValue: Double
    /// The observed odds ratio of a trigger hit against a decoy hit; nil when a count is 0.
    public var oddsRatio: Double?
    /// Why the verdict is what it is, test by test.
    public var reasons: [String]
    /// For `inconclusive`: how many more trigger queries (decoys in proportion) would most likely
    /// settle it at the observed rates; nil when more queries cannot.
    public var furtherTriggerQueries: Int?
    public var paperVerdict: Verdict
    public var agreesWithPaper: Bool
    public var rule: DecisionRule

    /// Why these counts and this rule cannot be decided on (a report read from a file may carry
    /// anything, a probe may have too few answers), or nil when they can. Counts that could not
    /// convict even if every trigger and no decoy had hit are refused: the probe was too small to
    /// find anything, so no verdict on it would mean what it says.
    public static func problem(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule) -> String? {
        guard (0...Binomial.largestTrials).contains(triggers), (0...Binomial.largestTrials).contains(decoys) else {
            return "answers must lie between 0 and \(Binomial.largestTrials)"
        }
        guard (0...triggers).contains(triggerHits), (0...decoys).contains(decoyHits) else { return "hits must lie between 0 and the answers" }
        guard (0...1).contains(calibratedP0) else { return "p0 must be a probability" }
        if let problem = rule.problem { return problem }
        let best = Tests(triggerHits: triggers, triggers: triggers, decoyHits: 0, decoys: decoys, calibratedP0: calibratedP0, rule: rule)
        guard best.convicts() else {
            return "\(triggers) answered triggers and \(decoys) answered decoys cannot reach a verdict: even if every trigger and no decoy had said the target, "
                + "p would be \(scientific(best.log10Calibrated)) against the calibrated null (α \(rule.alpha)) and \(scientific(best.log10Decoy)) against the decoys (α \(rule.decoyAlpha)); probe with more triggers and decoys"
        }
        return nil
    }

    /// The two tests' p-values on one set of counts.
    struct Tests {
        var log10Calibrated: Double
        var log10Decoy: Double
        var log10BelowMargin: Double
        var log10BelowSmallestWatermark: Double
        var rule: DecisionRule

        init(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule) {
            log10Calibrated = Binomial.log10PValue(triggerHits, of: triggers, rate: calibratedP0)
            log10Decoy = OddsRatioTest.log10UpperPValue(hits: triggerHits, of: triggers, against: decoyHits, of: decoys, margin: rule.oddsRatioMargin)
            log10BelowMargin = OddsRatioTest.log10LowerPValue(hits: triggerHits, of: triggers, against: decoyHits, of: decoys, margin: rule.oddsRatioMargin)
            log10BelowSmallestWatermark = Binomial.logLowerTail(triggerHits, of: triggers, rate: rule.smallestWatermarkRate) / M_LN10
            self.rule = rule
        }

        /// Both nulls rejected, each at its level times `share` (an early stop spends a share at each look).
        func convicts(share: Double = 1) -> Bool {
            log10Calibrated < log10(rule.alpha * share) && log10Decoy < log10(rule.decoyAlpha * share)
        }
        /// Evidence of absence, at the no-evidence level times `share`: the suspect answers triggers
        /// no more than twice as readily as decoys, or its trigger hit rate is below the smallest
        /// watermark the rule is built to find and independent models explain it.
        func acquits(share: Double = 1) -> Bool {
            let level = log10(rule.noEvidenceAlpha * share)
            return log10BelowMargin < level || (log10BelowSmallestWatermark < level && log10Calibrated >= log10(rule.noEvidenceAlpha))
        }
        var verdict: Verdict { convicts() ? .infringement : acquits() ? .noEvidence : .inconclusive }
    }

    /// For the fingerprint channel the "triggers" are fingerprint inputs and a hit is an answer
    /// of the fingerprint's label; `channel` only words the reasons.
    public init(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule = DecisionRule(),
                channel: EvidenceChannel = .watermark) {
        precondition(Self.problem(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                                  calibratedP0: calibratedP0, rule: rule) == nil, "check Decision.problem first")
        self.triggerHits = triggerHits
        self.triggers = triggers
        self.decoyHits = decoyHits
        self.decoys = decoys
        self.calibratedP0 = calibratedP0
        self.rule = rule
        wsr = Double(triggerHits) / Double(triggers)
        interval = ClopperPearson(successes: triggerHits, trials: triggers, confidence: rule.confidence)
        decoyRate = decoys == 0 ? nil : Double(decoyHits) / Double(decoys)
        decoyInterval = decoys == 0 ? nil : ClopperPearson(successes: decoyHits, trials: decoys, confidence: rule.confidence)
        let tests = Tests(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys, calibratedP0: calibratedP0, rule: rule)
        log10CalibratedPValue = tests.log10Calibrated
        log10DecoyPValue = tests.log10Decoy
        log10BelowMarginPValue = tests.log10BelowMargin
        log10BelowSmallestWatermarkPValue = tests.log10BelowSmallestWatermark
        log10PValue = max(tests.log10Calibrated, tests.log10Decoy)
        let (misses, decoyMisses) = (triggers - triggerHits, decoys - decoyHits)
        oddsRatio = [triggerHits, misses, decoyHits, decoyMisses].contains(0) ? nil
            : (Double(triggerHits) / Double(misses)) / (Double(decoyHits) / Double(decoyMisses))
        verdict = tests.verdict

        let words = channel.words
        let calibrated = "\(words.hits) \(triggerHits) of \(triggers) (\(Self.percent(wsr))) against the calibrated null p0 = \(Self.percent(calibratedP0)): p = \(Self.scientific(tests.log10Calibrated))"
        let againstDecoys = "odds of a hit against \(words.decoys) odds (\(decoyHits) of \(decoys)) above \(Self.number(rule.oddsRatioMargin))×: p = \(Self.scientific(tests.log10Decoy))"
        var reasons = [
            calibrated + (tests.log10Calibrated < log10(rule.alpha) ? " < α = \(rule.alpha)" : ", not below α = \(rule.alpha)"),
            againstDecoys + (tests.log10Decoy < log10(rule.decoyAlpha) ? " < α = \(rule.decoyAlpha)" : ", not below α = \(rule.decoyAlpha)"),
        ]
        switch verdict {
        case .infringement:
            reasons.append("both nulls are rejected: the suspect answers \(words.answer) far more often than an independent model would, and far more often than to \(words.decoys)s")
        case .noEvidence:
            reasons.append(tests.log10BelowMargin < log10(rule.noEvidenceAlpha)
                ? "the suspect answers \(words.answer) no more readily than to \(words.decoys)s (odds ratio below \(Self.number(rule.oddsRatioMargin))×: p = \(Self.scientific(tests.log10BelowMargin)))"
                : "the hit rate is below \(Self.percent(rule.smallestWatermarkRate)) (p = \(Self.scientific(tests.log10BelowSmallestWatermark))) and what an independent model gives")
        case .inconclusive:
            reasons.append("neither convicted nor shown innocent: more queries are needed, or the signal is real but weaker than the margin")
            furtherTriggerQueries = Self.furtherQueries(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                                                        calibratedP0: calibratedP0, rule: rule)
        }
        paperVerdict = wsr > rule.paperThreshold ? .infringement : .noEvidence
        agreesWithPaper = paperVerdict == verdict
        self.reasons = reasons
    }

    /// The smallest number of further trigger queries (decoys growing in proportion) after which,
    /// if the suspect keeps its observed rates, the verdict would no longer be inconclusive.
    static func furtherQueries(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule) -> Int? {
        let (rate, decoyRate, decoysPerTrigger) = (Double(triggerHits) / Double(triggers), Double(decoyHits) / Double(decoys),
                                                   Double(decoys) / Double(triggers))
        func settles(_ n: Int) -> Bool {
            let m = Int((decoysPerTrigger * Double(n)).rounded())
            return Tests(triggerHits: Int((rate * Double(n)).rounded()), triggers: n, decoyHits: Int((decoyRate * Double(m)).rounded()), decoys: m,
                         calibratedP0: calibratedP0, rule: rule).verdict != .inconclusive
        }
        // More queries at fixed rates drive each p-value monotonically (up to rounding) to 0 or 1:
        // find a count that settles by doubling, the first one by bisection, and — rounding the
        // expected hits makes the edge a sawtooth — scan the last stretch.
        let largest = Binomial.largestTrials / max(1, Int(decoysPerTrigger.rounded(.up)))
        var (failing, passing) = (triggers, triggers * 2)
        while passing <= largest && !settles(passing) {
            failing = passing
            passing *= 2
        }
        if passing > largest { return nil }
        while passing - failing > 256 {
            let middle = (failing + passing) / 2
            if settles(middle) { passing = middle } else { failing = middle }
        }
        return ((failing + 1)...passing).first(where: settles)! - triggers
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }
    static func number(_ value: Double) -> String { String(format: "%g", value) }

    /// A p-value from its log₁₀, readable where the value itself underflows (`1.2e-412`).
    public static func scientific(_ log10Value: Double) -> String {
        guard log10Value.isFinite else { return log10Value < 0 ? "0" : "\(log10Value)" }
        if log10Value > -4 { return String(format: "%.4g", pow(10, log10Value)) }
        let exponent = floor(log10Value)
        return String(format: "%.2fe%d", pow(10, log10Value - exponent), Int(exponent))
    }
}
