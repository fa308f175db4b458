import XCTest
@testable import Engine

final class LossesTests: XCTestCase {
    /// dLoss/dlogits by central differences of the loss itself.
    private func numericGradient(_ logits: Tensor, _ loss: () -> Float) -> [Double] {
        (0..<logits.count).map { i in
            let saved = logits[i]
            logits[i] = saved + 1e-2
            let plus = Double(loss())
            logits[i] = saved - 1e-2
            let minus = Double(loss())
            logits[i] = saved
            return (plus - minus) / 2e-2
        }
    }

    private func assertClose(_ analytic: [Float], _ numeric: [Double], _ what: String) {
        for (a, n) in zip(analytic, numeric) {
            XCTAssert(abs(Double(a) - n) <= 1e-3 * max(1, abs(n)), "\(what): analytic \(a) vs numeric \(n)")
        }
    }

    func testCrossEntropyValueAndGradient() {
        let logits = Tensor(shape: [3, 4], values: GradientCheck.randomValues(12, seed: 21, range: -3...3))
        let labels: [Int32] = [2, 0, 3]
        let gradient = Tensor(shape: [3, 4])
        let value = Loss.crossEntropy(logits: logits, labels: labels, gradient: gradient)
        var expected = 0.0
        for n in 0..<3 {
            let row = (0..<4).map { Double(logits[n * 4 + $0]) }
            expected += log(row.map(exp).reduce(0, +)) - row[Int(labels[n])]
        }
        XCTAssertEqual(Double(value), expected / 3, accuracy: 1e-5)
        assertClose(gradient.values, numericGradient(logits) { Loss.crossEntropy(logits: logits, labels: labels) }, "cross-entropy")
    }

    func testSquaredErrorValueAndGradient() {
        let output = Tensor(shape: [2, 3], values: GradientCheck.randomValues(6, seed: 23))
        let target = GradientCheck.randomValues(6, seed: 24)
        let gradient = Tensor(shape: [2, 3])
        let value = Loss.squaredError(output: output, target: target, gradient: gradient)
        let expected = zip(output.values, target).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / 2 / 2
        XCTAssertEqual(Double(value), expected, accuracy: 1e-6)
        assertClose(gradient.values, numericGradient(output) { Loss.squaredError(output: output, target: target) }, "squared error")
    }

    func testCrossEntropyOverARowRangeAddsOnlyIntoThoseRows() {
        let logits = Tensor(shape: [4, 3], values: GradientCheck.randomValues(12, seed: 22))
        let gradient = Tensor(shape: [4, 3])
        gradient.fill(1)
        _ = Loss.crossEntropy(logits: logits, labels: [1, 2], rows: 1..<3, gradient: gradient, scale: 2)
        XCTAssertEqual(Array(gradient.values[0..<3]), [1, 1, 1])
        XCTAssertEqual(Array(gradient.values[9..<12]), [1, 1, 1])
        XCTAssertEqual(gradient.values[3..<9].reduce(0, +), 6, accuracy: 1e-5) // softmax − one-hot sums to 0 per row
    }

    func testSoftCrossEntropyWithTemperatureGradient() {
        let logits = Tensor(shape: [2, 5], values: GradientCheck.randomValues(10, seed: 23, range: -4...4))
        let targets = Loss.probabilities(Tensor(shape: [2, 5], values: GradientCheck.randomValues(10, seed: 24)), temperature: 1)
        let gradient = Tensor(shape: [2, 5])
        _ = Loss.softCrossEntropy(logits: logits, targets: targets, temperature: 4, gradient: gradient)
        assertClose(gradient.values, numericGradient(logits) { Loss.softCrossEntropy(logits: logits, targets: targets, temperature: 4) }, "soft CE")
    }

    func testKLDivergenceValueAndGradientsOnBothSides() {
        let both = Tensor(shape: [4, 3], values: GradientCheck.randomValues(12, seed: 25, range: -2...2))
        let gradientP = Tensor(shape: [4, 3]), gradientQ = Tensor(shape: [4, 3])
        let value = Loss.klDivergence(p: both, pRows: 0..<2, q: both, qRows: 2..<4, gradientP: gradientP, gradientQ: gradientQ)
        var expected = 0.0
        for r in 0..<2 {
            let p = (0..<3).map { exp(Double(both[r * 3 + $0])) }, q = (0..<3).map { exp(Double(both[(r + 2) * 3 + $0])) }
            let ps = p.reduce(0, +), qs = q.reduce(0, +)
            for k in 0..<3 { expected += p[k] / ps * log((p[k] / ps) / (q[k] / qs)) }
        }
        XCTAssertEqual(Double(value), expected / 2, accuracy: 1e-5)
        let numeric = numericGradient(both) { Loss.klDivergence(p: both, pRows: 0..<2, q: both, qRows: 2..<4) }
        assertClose(Array(gradientP.values[0..<6]), Array(numeric[0..<6]), "KL dP")
        assertClose(Array(gradientQ.values[6..<12]), Array(numeric[6..<12]), "KL dQ")
        XCTAssertEqual(Loss.klDivergence(p: both, pRows: 0..<1, q: both, qRows: 0..<1), 0, accuracy: 1e-7)
        // scaleQ scales only Q's side.
        let partialP = Tensor(shape: [4, 3]), partialQ = Tensor(shape: [4, 3])
        _ = Loss.klDivergence(p: both, pRows: 0..<2, q: both, qRows: 2..<4, gradientP: partialP, gradientQ: partialQ, scaleQ: 0.25)
        assertClose(partialP.values, gradientP.values.map(Double.init), "KL dP with scaleQ")
        assertClose(Array(partialQ.values[6..<12]), gradientQ.values[6..<12].map { Double($0) * 0.25 }, "KL dQ scaled")
    }
}
