import Foundation
import Watermark

/// The binomial distribution in log space, accurate to a few ulps for n up to 10⁵ and tail
/// probabilities far below the smallest Double (a p-value of 1e-400 is a log of −921).
///
/// The probability of one count uses Loader's saddle-point form (the one R's `dbinom` uses),
/// which avoids the cancellation of `lgamma` differences at large n. Tails use the continued
/// fraction of the regularised incomplete beta function, whose leading factor is exactly a
/// binomial probability, so the whole tail stays in log space.
public enum Binomial {
    /// The most trials any count Tracemark reads may claim: the range where the figures above
    /// hold (a spec's trigger set is bounded the same way), and far from the integer overflow a
    /// forged count of 2⁶³ − 1 reaches in the tails.
    public static let largestTrials = WatermarkSpec.triggerSetSizes.upperBound

    /// ln P(X = k) for X ~ Binomial(n, p).
    public static func logProbability(_ k: Int, of n: Int, rate p: Double) -> Double {
        precondition(n >= 0 && (0...1).contains(p), "need n ≥ 0 and 0 ≤ p ≤ 1")
        guard (0...n).contains(k) else { return -.infinity }
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == n ? 0 : -.infinity }
        let q = 1 - p
        if k == 0 { return Double(n) * log1p(-p) }
        if k == n { return Double(n) * log(p) }
        let (nn, kk, rest) = (Double(n), Double(k), Double(n - k))
        let saddle = stirlingError(nn) - stirlingError(kk) - stirlingError(rest) - deviance(kk, nn * p) - deviance(rest, nn * q)
        return saddle - 0.5 * (log(2 * Double.pi) + log(kk) + log1p(-kk / nn))
    }

    /// ln P(X ≥ k).
    public static func logUpperTail(_ k: Int, of n: Int, rate p: Double) -> Double {
        precondition(n >= 0 && (0...1).contains(p), "need n ≥ 0 and 0 ≤ p ≤ 1")
        if k <= 0 { return 0 }
        if k > n { return -.infinity }
        if p == 0 { return -.infinity }
        if p == 1 { return 0 }
        let q = 1 - p
        if p < Double(k + 1) / Double(n + 3) {
            // P(X ≥ k) = I_p(k, n−k+1) = P(X = k) · q · cf(k, n−k+1, p).
            return logProbability(k, of: n, rate: p) + log1p(-p) + log(continuedFraction(a: Double(k), b: Double(n - k + 1), x: p))
        }
        // The complement converges there: P(X ≤ k−1) = I_q(n−k+1, k) = P(X = k−1) · p · cf(n−k+1, k, q).
        let lower = logProbability(k - 1, of: n, rate: p) + log(p) + log(continuedFraction(a: Double(n - k + 1), b: Double(k), x: q))
        return log1p(-exp(lower))
    }

    /// ln P(X ≤ k): the upper tail of the failures.
    public static func logLowerTail(_ k: Int, of n: Int, rate p: Double) -> Double {
        if k >= n { return 0 }
        if k < 0 { return -.infinity }
        return logUpperTail(n - k, of: n, rate: 1 - p)
    }

    /// The exact one-sided p-value of `k` or more successes in `n` trials at rate `p0`.
    public static func pValue(_ k: Int, of n: Int, rate p0: Double) -> Double { exp(logUpperTail(k, of: n, rate: p0)) }

    /// log₁₀ of that p-value, finite where the p-value itself underflows.
    public static func log10PValue(_ k: Int, of n: Int, rate p0: Double) -> Double { logUpperTail(k, of: n, rate: p0) / M_LN10 }

    /// ln(n!) − ln(√(2πn) (n/e)ⁿ): the error of Stirling's formula, from its asymptotic series
    /// above 15 and from lgamma below, where the values are small enough not to cancel.
    static func stirlingError(_ n: Double) -> Double {
        if n <= 15 { return lgamma(n + 1) - (n + 0.5) * log(n) + n - 0.5 * log(2 * Double.pi) }
        let (s0, s1, s2, s3, s4) = (1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188)
        let nn = n * n
        if n > 500 { return (s0 - s1 / nn) / n }
        if n > 80 { return (s0 - (s1 - s2 / nn) / nn) / n }
        if n > 35 { return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n }
        return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n
    }

    /// x ln(x/m) + m − x, by a series when x is near m, where the direct form cancels.
    static func deviance(_ x: Double, _ m: Double) -> Double {
        guard abs(x - m) < 0.1 * (x + m) else { return x * log(x / m) + m - x }
        var v = (x - m) / (x + m)
        var sum = (x - m) * v
        var term = 2 * x * v
        v *= v
        for j in 1..<1000 {
            term *= v
            let next = sum + term / Double(2 * j + 1)
            if next == sum { return next }
            sum = next
        }
        return sum
    }

    /// The continued fraction of I_x(a, b) / (xᵃ (1−x)ᵇ / (a B(a, b))), by the modified Lentz
    /// method; converges fast for x < (a+1)/(a+b+2), in about √max(a, b) steps.
    static func continuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300
        let (sum, plus, minus) = (a + b, a + 1, a - 1)
        var c = 1.0
        var d = 1 - sum * x / plus
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var fraction = d
        for m in 1..<100_000 {
            let (mm, twoM) = (Double(m), Double(2 * m))
            var step = mm * (b - mm) * x / ((minus + twoM) * (a + twoM))
            d = 1 + step * d
            if abs(d) < tiny { d = tiny }
            c = 1 + step / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            fraction *= d * c
            step = -(a + mm) * (sum + mm) * x / ((a + twoM) * (plus + twoM))
            d = 1 + step * d
            if abs(d) < tiny { d = tiny }
            c = 1 + step / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let change = d * c
            fraction *= change
            if abs(change - 1) < 1e-16 { return fraction }
        }
        return fraction
    }
}
