import Data
import Engine
import Training
import XCTest
@testable import Watermark

/// Issue 21 item 3: the rehearsal's gradient is what it claims to be — the first-order change of
/// the student's watermark loss after its distillation step, per change of the victim's logits —
/// and an embedding with a rehearsal student balances five tasks and trains the student.
final class RehearsalTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    private func trainSet() throws -> Dataset {
        let folder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/train-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        return try DatasetCatalog.load("fashion-mnist", split: "train").prefix(1_000)
    }

    /// The student's watermark loss after one plain SGD step on `victimLogits` (momentum and weight
    /// decay off, so the step is θ − η∇ and the derivative is exact to first order).
    private func lossAfterStep(student: Classifier, from values: [Float], victimLogits: Tensor, pixels: [Float],
                               gradient: Tensor) -> Float {
        values.withUnsafeBufferPointer { student.network.store.values.update(from: $0.baseAddress!, count: $0.count) }
        var setup = RehearsalConfiguration(architecture: "mlp")
        setup.temperature = 2
        setup.momentum = 0
        setup.weightDecay = 0
        let rehearsal = Rehearsal(student: student, configuration: setup)
        gradient.fill(0)
        _ = pixels.withUnsafeBufferPointer {
            rehearsal.step(victimLogits: victimLogits, clean: 0..<8, marks: 8..<16, markLabels: Array(repeating: 2, count: 8),
                           pixels: $0.baseAddress!, learningRate: 0.1, gradient: gradient)
        }
        let input = Tensor(shape: [0])
        pixels.withUnsafeBufferPointer { student.normalize($0.baseAddress! + 8 * student.itemSize, count: 8, into: input) }
        return Loss.crossEntropy(logits: student.network.forward(input, training: false), labels: Array(repeating: 2, count: 8))
    }

    func testTheRehearsalGradientPredictsTheStudentsWatermarkLossAfterItsStep() throws {
        let train = try trainSet()
        let student = try Classifier.untrained("mlp", for: train, seed: 4)
        let values = Array(UnsafeBufferPointer(start: student.network.store.values, count: student.network.store.count))
        let pixels = Array(train.images[0..<(16 * train.itemSize)])
        var rng = SeededGenerator(seed: 8)
        let victimLogits = Tensor(shape: [16, 10])
        for i in 0..<victimLogits.count { victimLogits.data[i] = Float(rng.next() % 4000) / 500 - 4 }

        let gradient = Tensor(shape: [16, 10])
        _ = lossAfterStep(student: student, from: values, victimLogits: victimLogits, pixels: pixels, gradient: gradient)
        let predicted = (0..<gradient.count).reduce(Float(0)) { $0 + gradient.data[$1] * gradient.data[$1] }.squareRoot()
        XCTAssertGreaterThan(predicted, 0)
        for n in 8..<16 { for k in 0..<10 { XCTAssertEqual(gradient.data[n * 10 + k], 0, "only the clean rows are the thief's queries") } }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: student.network.store.values, count: values.count)) == values, false,
                       "the student took its step")

        // Central difference of the loss after the step along the unit gradient.
        let h: Float = 0.5, scratch = Tensor(shape: [16, 10])
        var measured: [Float] = []
        for sign: Float in [1, -1] {
            let moved = Tensor(shape: [16, 10])
            for i in 0..<moved.count { moved.data[i] = victimLogits.data[i] + sign * h * gradient.data[i] / predicted }
            measured.append(lossAfterStep(student: student, from: values, victimLogits: moved, pixels: pixels, gradient: scratch))
        }
        let derivative = (measured[0] - measured[1]) / (2 * h)
        XCTAssertEqual(derivative / predicted, 1, accuracy: 0.15,
                       "measured \(derivative), predicted \(predicted): the gradient is the loss's slope after the step")
    }

    func testAnEmbeddingWithARehearsalStudentBalancesFiveTasksAndTrainsTheStudent() throws {
        let train = try trainSet()
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: train.classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5,
                                                     triggerSetSize: 300)
        var configuration = EmbeddingConfiguration()
        configuration.training.epochs = 2
        configuration.training.augmentation = .none
        configuration.training.batchSize = 64
        configuration.rehearsal = RehearsalConfiguration(architecture: "mlp")
        let trainer = try EmbeddingTrainer(classifier: try Classifier.untrained("mlp", for: train, seed: 1),
                                           factory: try TriggerFactory(spec: spec, dataset: train), configuration: configuration)
        let student = try XCTUnwrap(trainer.student)
        let agreement = { () -> Double in
            let (a, b) = train.images.withUnsafeBufferPointer { (student.labels($0), trainer.classifier.labels($0)) }
            return Double(zip(a, b).filter { $0 == $1 }.count) / Double(train.count)
        }
        let before = agreement()
        let result = trainer.embed()
        let weights = try XCTUnwrap(result.epochs.last?.weights)
        XCTAssertEqual(Set(weights.keys), Set(EmbeddingTask.allCases.map(\.rawValue)))
        XCTAssertEqual(weights.values.reduce(0, +), 1, accuracy: 1e-6, "MGDA weights are a convex combination")
        XCTAssertGreaterThan(try XCTUnwrap(weights["rehearsal"]), 0)
        XCTAssertGreaterThan(agreement(), before + 0.2, "the student learnt the victim's answers (two epochs of 16 steps)")

        configuration.rehearsal = nil
        let plain = try EmbeddingTrainer(classifier: try Classifier.untrained("mlp", for: train, seed: 1),
                                         factory: try TriggerFactory(spec: spec, dataset: train), configuration: configuration)
        XCTAssertNil(plain.student)
        XCTAssertNil(plain.embed().epochs.last?.weights?["rehearsal"], "no student, no rehearsal task")
    }
}
