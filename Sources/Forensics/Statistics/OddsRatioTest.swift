import Foundation

/// The exact conditional test of two binomial samples' odds ratio ψ = [p₁/(1−p₁)] / [p₂/(1−p₂)]
/// against a margin ψ₀: given the total number of hits s = k₁ + k₂, the first sample's hits follow
/// Fisher's noncentral hypergeometric distribution, P(K₁ = x | s) ∝ C(n₁, x) C(n₂, s − x) ψˣ,
/// whatever the two rates are. Its tail at ψ₀ is therefore an exact p-value for H₀: ψ ≤ ψ₀ (the
/// tail only shrinks for smaller ψ), conditionally on s and so unconditionally too. With ψ₀ = 1 it
/// is Fisher's exact test.
public enum OddsRatioTest {
    /// log₁₀ P(K₁ ≥ k₁ | s; ψ₀): evidence that the first rate's odds exceed ψ₀ times the second's.
    public static func log10UpperPValue(hits k1: Int, of n1: Int, against k2: Int, of n2: Int, margin: Double) -> Double {
        tails(hits: k1, of: n1, against: k2, of: n2, margin: margin).upper / M_LN10
    }

    /// log₁₀ P(K₁ ≤ k₁ | s; ψ₀): evidence that the odds ratio is below ψ₀.
    public static func log10LowerPValue(hits k1: Int, of n1: Int, against k2: Int, of n2: Int, margin: Double) -> Double {
        tails(hits: k1, of: n1, against: k2, of: n2, margin: margin).lower / M_LN10
    }

    /// ln of both tails, each including the observed count. The weights are walked from the
    /// support's lower end by their ratio w(x+1)/w(x) = (n₁−x)(s−x)ψ / ((x+1)(n₂−s+x+1)), one
    /// logarithm per count, and summed in log space.
    static func tails(hits k1: Int, of n1: Int, against k2: Int, of n2: Int, margin: Double) -> (upper: Double, lower: Double) {
        precondition(n1 >= 0 && n2 >= 0 && (0...n1).contains(k1) && (0...n2).contains(k2), "need 0 ≤ k ≤ n")
        precondition(margin > 0 && margin.isFinite, "the margin is a positive odds ratio")
        let s = k1 + k2
        let low = max(0, s - n2), high = min(n1, s)
        let logMargin = log(margin)
        var logWeights = [Double](repeating: 0, count: high - low + 1)
        for x in low..<high {
            let ratio = Double(n1 - x) * Double(s - x) / (Double(x + 1) * Double(n2 - s + x + 1))
            logWeights[x - low + 1] = logWeights[x - low] + log(ratio) + logMargin
        }
        let all = logSumExp(logWeights[...])
        // A tail holding nearly all the mass may round a hair above it.
        return (min(0, logSumExp(logWeights[(k1 - low)...]) - all), min(0, logSumExp(logWeights[...(k1 - low)]) - all))
    }

    private static func logSumExp(_ values: ArraySlice<Double>) -> Double {
        guard let largest = values.max(), largest > -.infinity else { return -.infinity }
        return largest + log(values.reduce(0) { $0 + exp($1 - largest) })
    }
}
