import Engine
import XCTest
@testable import Training

final class LabelSmoothingTests: XCTestCase {
    /// Logits (1, 2, 0), label 1, ε = 0.1, by hand: targets (1/30, 14/15, 1/30);
    /// loss = log(e + e² + 1) − Σ t·z = 2.407606 − 1.9 = 0.507606; gradient p − t with
    /// p = (0.244728, 0.665241, 0.090031).
    func testSmoothedCrossEntropyMatchesAHandComputation() {
        let targets = Tensor(shape: [0])
        LabelSmoothing.targets(labels: [1], classes: 3, epsilon: 0.1, into: targets)
        XCTAssertEqual(targets.values[0], 1 / 30, accuracy: 1e-6)
        XCTAssertEqual(targets.values[1], 14 / 15, accuracy: 1e-6)
        XCTAssertEqual(targets.values[2], 1 / 30, accuracy: 1e-6)
        let logits = Tensor(shape: [1, 3], values: [1, 2, 0])
        let gradient = Tensor(shape: [1, 3])
        let loss = Loss.softCrossEntropy(logits: logits, targets: targets, gradient: gradient)
        XCTAssertEqual(loss, 0.507606, accuracy: 1e-5)
        let expected: [Float] = [0.244728 - 1 / 30, 0.665241 - 14 / 15, 0.090031 - 1 / 30]
        for k in 0..<3 { XCTAssertEqual(gradient.values[k], expected[k], accuracy: 1e-5) }
    }

    func testZeroSmoothingIsTheOneHotLabel() {
        let targets = Tensor(shape: [0])
        LabelSmoothing.targets(labels: [2, 0], classes: 3, epsilon: 0, into: targets)
        XCTAssertEqual(targets.values, [0, 0, 1, 1, 0, 0])
    }
}
