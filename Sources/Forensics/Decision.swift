import Foundation

/// How a verdict is reached; every field is recorded in the report.
public struct DecisionRule: Codable, Equatable, Sendable {
    /// The p-value below which the trigger hits are evidence against independence.
    public var alpha = 1e-6
    /// θ = max(`thetaFloor`, `thetaMultiple` × p0): the hit rate the watermark must clearly exceed.
    public var thetaFloor = 0.10
    public var thetaMultiple = 3.0
    /// Of the Clopper–Pearson intervals.
    public var confidence = 0.95
    /// `no evidence` needs the hits to be unremarkable even at this level.
    public var noEvidenceAlpha = 0.01
    /// The paper's rule: a WSR above this means the model was stolen.
    public var paperThreshold = 0.30

    public init() {}

    public func theta(p0: Double) -> Double { max(thetaFloor, thetaMultiple * p0) }
}

public enum Verdict: String, Codable, Sendable {
    case infringement
    case noEvidence = "no evidence"
    case inconclusive
}

/// The verdict on one suspect from its trigger and decoy hits (answers of the target label) and
/// the calibrated null rate. The null p0 is the larger of the calibration's and the upper bound
/// of this suspect's own decoy hit rate, so a suspect that says the target to everything raises
/// its own bar instead of being accused.
public struct Decision: Codable, Equatable, Sendable {
    public var verdict: Verdict
    public var triggerHits: Int
    public var triggers: Int
    public var wsr: Double
    public var interval: ClopperPearson
    public var calibratedP0: Double
    public var decoyHits: Int
    public var decoys: Int
    /// The upper confidence bound of the decoy hit rate; nil without decoy answers.
    public var decoyUpperBound: Double?
    public var p0: Double
    public enum NullSource: String, Codable, Sendable { case calibration, decoys }
    /// Which bound set p0.
    public var p0Source: NullSource
    public var theta: Double
    public var pValue: Double
    public var log10PValue: Double
    /// Why the verdict is what it is, condition by condition.
    public var reasons: [String]
    /// For `inconclusive`: how many more trigger queries would most likely settle it at the
    /// observed rate; nil when more queries cannot (a rate between p0 and θ only grows more
    /// significant without ever clearing θ).
    public var furtherTriggerQueries: Int?
    public var paperVerdict: Verdict
    public var agreesWithPaper: Bool
    public var rule: DecisionRule

    /// Why these counts and this rule cannot be decided on (a report read from a file may carry
    /// anything), or nil when they can.
    public static func problem(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule) -> String? {
        guard (0...Binomial.largestTrials).contains(triggers), (0...Binomial.largestTrials).contains(decoys) else {
            return "answers must lie between 0 and \(Binomial.largestTrials)"
        }
        guard (0...triggers).contains(triggerHits), (0...decoys).contains(decoyHits) else { return "hits must lie between 0 and the answers" }
        guard (0...1).contains(calibratedP0) else { return "p0 must be a probability" }
        guard rule.alpha > 0, rule.alpha < 1, rule.noEvidenceAlpha > 0, rule.noEvidenceAlpha < 1, rule.confidence > 0, rule.confidence < 1 else {
            return "α and the confidence level must lie strictly between 0 and 1"
        }
        guard rule.thetaFloor > 0, rule.thetaFloor < 1, rule.thetaMultiple > 1, rule.paperThreshold > 0, rule.paperThreshold < 1 else {
            return "θ's floor and the paper's threshold must lie in (0, 1) and θ's multiple above 1"
        }
        return nil
    }

    public init(triggerHits: Int, triggers: Int, decoyHits: Int, decoys: Int, calibratedP0: Double, rule: DecisionRule = DecisionRule()) {
        precondition(Self.problem(triggerHits: triggerHits, triggers: triggers, decoyHits: decoyHits, decoys: decoys,
                                  calibratedP0: calibratedP0, rule: rule) == nil, "check Decision.problem first")
        self.triggerHits = triggerHits
        self.triggers = triggers
        self.decoyHits = decoyHits
        self.decoys = decoys
        self.calibratedP0 = calibratedP0
        self.rule = rule
        wsr = triggers == 0 ? 0 : Double(triggerHits) / Double(triggers)
        interval = ClopperPearson(successes: triggerHits, trials: triggers, confidence: rule.confidence)
        decoyUpperBound = decoys == 0 ? nil : ClopperPearson(successes: decoyHits, trials: decoys, confidence: rule.confidence).upper
        p0 = max(calibratedP0, decoyUpperBound ?? 0)
        p0Source = p0 > calibratedP0 ? .decoys : .calibration
        theta = rule.theta(p0: p0)
        log10PValue = Binomial.log10PValue(triggerHits, of: triggers, rate: p0)
        pValue = pow(10, log10PValue)

        let significant = pValue < rule.alpha
        let aboveTheta = interval.lower > theta
        let belowTheta = interval.upper < theta
        let unremarkable = pValue >= rule.noEvidenceAlpha
        var reasons: [String] = []
        reasons.append(significant ? "the trigger hits are significant against p0 = \(Self.percent(p0)) (p = \(Self.scientific(log10PValue)) < α = \(rule.alpha))"
                                   : "the trigger hits are not significant at α = \(rule.alpha) against p0 = \(Self.percent(p0)) (p = \(Self.scientific(log10PValue)))")
        if aboveTheta {
            reasons.append("the WSR's lower bound \(Self.percent(interval.lower)) exceeds θ = \(Self.percent(theta))")
        } else if belowTheta {
            reasons.append("the WSR's upper bound \(Self.percent(interval.upper)) is below θ = \(Self.percent(theta))")
        } else {
            reasons.append("the WSR's interval \(Self.percent(interval.lower))–\(Self.percent(interval.upper)) contains θ = \(Self.percent(theta))")
        }
        if significant && aboveTheta {
            verdict = .infringement
        } else if belowTheta && unremarkable {
            verdict = .noEvidence
        } else {
            verdict = .inconclusive
            if belowTheta { reasons.append("a signal below θ: significant at \(rule.noEvidenceAlpha) but too weak to call infringement") }
        }
        if verdict == .inconclusive {
            furtherTriggerQueries = Self.furtherQueries(hits: triggerHits, trials: triggers, p0: p0, theta: theta, rule: rule)
        }
        paperVerdict = wsr > rule.paperThreshold ? .infringement : .noEvidence
        agreesWithPaper = paperVerdict == verdict
        self.reasons = reasons
    }

    /// The smallest number of further trigger queries after which, if the suspect keeps hitting
    /// at the observed rate, the verdict would no longer be inconclusive (within 10⁶ queries).
    static func furtherQueries(hits: Int, trials: Int, p0: Double, theta: Double, rule: DecisionRule) -> Int? {
        let rate = trials == 0 ? 0 : Double(hits) / Double(trials)
        func settles(_ n: Int) -> Bool {
            let k = Int((rate * Double(n)).rounded())
            let bounds = ClopperPearson(successes: k, trials: n, confidence: rule.confidence)
            let log10P = Binomial.log10PValue(k, of: n, rate: p0)
            if rate > theta { return log10P < log10(rule.alpha) && bounds.lower > theta }
            return log10P >= log10(rule.noEvidenceAlpha) && bounds.upper < theta
        }
        guard rate <= theta else {
            // Above θ more queries only help: find a count that settles by doubling, then the
            // first one by bisection and, because rounding the expected hits makes the edge a
            // sawtooth, a scan of the last stretch.
            var (failing, passing) = (trials, max(trials, 1) * 2)
            while !settles(passing) {
                failing = passing
                passing *= 2
                if passing > 1_000_000 { return nil }
            }
            while passing - failing > 4096 {
                let middle = (failing + passing) / 2
                if settles(middle) { passing = middle } else { failing = middle }
            }
            return ((failing + 1)...passing).first(where: settles)! - trials
        }
        // At or below θ the upper bound falls with more queries, but a rate above p0 only grows
        // more significant: already significant at the no-evidence level, it cannot settle.
        if rate > p0, Binomial.log10PValue(hits, of: trials, rate: p0) < log10(rule.noEvidenceAlpha) { return nil }
        // Otherwise a window may open (and close again), so the next stretch is scanned.
        return ((trials + 1)...(trials + max(4096, min(3 * trials, 20_000)))).first(where: settles).map { $0 - trials }
    }

    static func percent(_ value: Double) -> String { String(format: "%.2f %%", value * 100) }

    /// A p-value from its log₁₀, readable where the value itself underflows (`1.2e-412`).
    public static func scientific(_ log10Value: Double) -> String {
        if log10Value > -4 { return String(format: "%.4g", pow(10, log10Value)) }
        let exponent = floor(log10Value)
        return String(format: "%.2fe%d", pow(10, log10Value - exponent), Int(exponent))
    }
}
