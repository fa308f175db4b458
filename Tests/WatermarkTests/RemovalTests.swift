import Data
import Engine
import Training
import XCTest
@testable import Watermark

/// Weight shifting's pieces: the anti-alignment gradient, PGD's ball, and the whole removal on
/// a tiny MLP.
final class RemovalTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    /// A dataset of `count` random 1×8×8 images in three classes (no files needed).
    private func randomSet(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        return Dataset(name: "random", itemShape: [1, 8, 8], images: (0..<(count * 64)).map { _ in rng.nextUnitFloat() },
                       labels: (0..<count).map { _ in Int32(rng.next() % 3) }, classNames: ["a", "b", "c"])
    }

    /// The analytic gradient of λ·Σ cos(w, w⁰) against central differences, on weights moved
    /// away from w⁰ (at w = w⁰ every cosine is 1 and its gradient 0, which would check nothing).
    func testAntiAlignmentGradientMatchesFiniteDifferences() throws {
        let model = try Classifier.untrained("mlp", for: randomSet(count: 4, seed: 1), seed: 2)
        let term = AntiAlignment(classifier: model, strength: 0.7)
        var rng = SeededGenerator(seed: 3)
        let weights = Removal.weightTensors(of: model)
        XCTAssertEqual(weights.count, 3)
        for parameter in weights {
            for i in 0..<parameter.count { parameter.value[i] += 0.05 * rng.nextUniform(-1, 1) }
        }
        XCTAssertLessThan(term.value(), 0.7 * 3)
        model.network.store.zeroGradients()
        _ = term.addGradient()
        let epsilon: Float = 1e-3
        var checked = 0
        for parameter in weights {
            for _ in 0..<20 {
                let i = Int(rng.next() % UInt64(parameter.count))
                let saved = parameter.value[i]
                parameter.value[i] = saved + epsilon
                let plus = term.value()
                parameter.value[i] = saved - epsilon
                let minus = term.value()
                parameter.value[i] = saved
                // Float weights move by the rounded ±ε: divide by the real step.
                let step = Double(saved + epsilon) - Double(saved - epsilon)
                let numeric = (plus - minus) / step, analytic = Double(parameter.gradient[i])
                XCTAssertEqual(analytic, numeric, accuracy: 2e-3 * max(abs(numeric), 1e-3), "element \(i) of a \(parameter.shape) tensor")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 60)
    }

    /// PGD stays inside the ε ball and [0, 1], and raises the loss of the true labels.
    func testProjectedGradientDescentStaysInTheBallAndRaisesTheLoss() throws {
        let set = randomSet(count: 64, seed: 4)
        let model = try Classifier.untrained("mlp", for: set, seed: 5)
        var configuration = TrainingConfiguration()
        configuration.epochs = 3
        configuration.augmentation = .none
        _ = Trainer(classifier: model, configuration: configuration).train(on: set)
        let attacked = SignedGradientStep.projectedGradientDescent(model, images: set.images, labels: set.labels, epsilon: 0.1, steps: 5, seed: 6)
        XCTAssertTrue(zip(attacked, set.images).allSatisfy { abs($0 - $1) <= 0.1 + 1e-6 && $0 >= 0 && $0 <= 1 })
        func loss(_ images: [Float]) -> Float {
            let logits = images.withUnsafeBufferPointer { model.logits($0) }
            return Loss.crossEntropy(logits: logits, labels: set.labels)
        }
        XCTAssertGreaterThan(loss(attacked), loss(set.images) + 0.1)
    }

    /// The whole removal: the head is new, and with the anti-alignment term the weights end
    /// up less aligned with the copy's than after the same fine-tuning without it.
    func testWeightShiftResetsTheHeadAndTurnsTheWeightsAway() throws {
        let clean = randomSet(count: 256, seed: 7)
        func shifted(antiAlignment: Float) throws -> (model: Classifier, cosine: Double, headBefore: [Float]) {
            let model = try Classifier.untrained("mlp", for: clean, seed: 8)
            let reference = AntiAlignment(classifier: model, strength: 1)
            let headBefore = Removal.weightTensors(of: model).last!.values
            var training = TrainingConfiguration()
            training.epochs = 2
            training.batchSize = 32
            training.learningRate = 0.02
            var plan = WeightShift(training: training)
            plan.antiAlignment = antiAlignment
            plan.adversarial = 32
            let result = try Removal.weightShift(model, clean: clean, plan: plan)
            XCTAssertEqual(result.epochs.count, 2)
            XCTAssertTrue(result.epochs.allSatisfy { $0.trainLoss.isFinite })
            return (model, reference.value(), headBefore)
        }
        let plain = try shifted(antiAlignment: 0), shifting = try shifted(antiAlignment: 5)
        XCTAssertNotEqual(Removal.weightTensors(of: plain.model).last!.values, plain.headBefore)
        XCTAssertLessThan(shifting.cosine, plain.cosine - 0.1)
    }
}
