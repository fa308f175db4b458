import Foundation

/// The exact (Clopper–Pearson) confidence interval of a binomial rate: the rates at which
/// observing `k` or more (for the lower end) or `k` or fewer (for the upper end) successes has
/// probability (1 − confidence)/2. Never narrower than it claims, which is what a court needs.
public struct ClopperPearson: Codable, Equatable, Sendable {
    public var lower: Double
    public var upper: Double
    public var confidence: Double

    public init(successes k: Int, trials n: Int, confidence: Double = 0.95) {
        precondition(n >= 0 && (0...n).contains(k), "need 0 ≤ k ≤ n")
        precondition(confidence > 0 && confidence < 1, "confidence is a probability")
        let logTail = log((1 - confidence) / 2)
        self.confidence = confidence
        lower = k == 0 ? 0 : Self.solve { Binomial.logUpperTail(k, of: n, rate: $0) - logTail }
        upper = k == n ? 1 : Self.solve { logTail - Binomial.logLowerTail(k, of: n, rate: $0) }
    }

    /// The root in (0, 1) of an increasing function, by bisection down to adjacent Doubles.
    private static func solve(_ increasing: (Double) -> Double) -> Double {
        var (low, high) = (0.0, 1.0)
        while true {
            let middle = (low + high) / 2
            if middle <= low || middle >= high { return middle }
            if increasing(middle) < 0 { low = middle } else { high = middle }
        }
    }
}
