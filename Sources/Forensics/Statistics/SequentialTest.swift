import Foundation

/// Wald's sequential probability ratio test between a null rate `p0` and an alternative `p1`:
/// after each trigger answer the log likelihood ratio moves by ln(p1/p0) on a hit and by
/// ln((1−p1)/(1−p0)) on a miss; crossing ln((1−β)/α) accepts the alternative, crossing
/// ln(β/(1−α)) accepts the null. Wald's bounds keep the error rates at about α and β whatever
/// the stopping time, so a probe may stop as soon as the evidence is decisive.
public struct SequentialTest: Codable, Equatable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case acceptAlternative = "accept-alternative"
        case acceptNull = "accept-null"
        case undecided
    }

    public var p0: Double
    public var p1: Double
    public var alpha: Double
    public var beta: Double

    public init(p0: Double, p1: Double, alpha: Double, beta: Double) {
        precondition(0 < p0 && p0 < p1 && p1 < 1, "need 0 < p0 < p1 < 1")
        precondition(0 < alpha && alpha < 1 && 0 < beta && beta < 1, "error rates are probabilities")
        self.p0 = p0
        self.p1 = p1
        self.alpha = alpha
        self.beta = beta
    }

    public var upperBoundary: Double { log((1 - beta) / alpha) }
    public var lowerBoundary: Double { log(beta / (1 - alpha)) }

    public func logLikelihoodRatio(hits: Int, trials: Int) -> Double {
        Double(hits) * log(p1 / p0) + Double(trials - hits) * (log1p(-p1) - log1p(-p0))
    }

    public func outcome(hits: Int, trials: Int) -> Outcome {
        let ratio = logLikelihoodRatio(hits: hits, trials: trials)
        if ratio >= upperBoundary { return .acceptAlternative }
        if ratio <= lowerBoundary { return .acceptNull }
        return .undecided
    }
}
