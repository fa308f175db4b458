import Data
import Engine
import Training
import XCTest
@testable import Watermark

/// End to end on a small slice of Fashion-MNIST with the MLP: the watermark forms, a clean model
/// does not answer it, and distillation runs through the thief's interface.
final class EmbeddingTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    private func fixture() throws -> (train: Dataset, test: Dataset) {
        let folder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/train-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        return (try DatasetCatalog.load("fashion-mnist", split: "train").prefix(3_000),
                try DatasetCatalog.load("fashion-mnist", split: "test").prefix(2_000))
    }

    /// The paper's secret (T-shirt + Trouser → Pullover) and a small embedding run for it.
    private func paperSecret(_ train: Dataset, epochs: Int) throws -> (WatermarkSpec, EmbeddingConfiguration) {
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: train.classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5,
                                                     triggerSetSize: 300)
        var configuration = EmbeddingConfiguration()
        configuration.training.epochs = epochs
        configuration.training.augmentation = .none
        configuration.training.batchSize = 64
        return (spec, configuration)
    }

    func testMEADefenderWatermarkFormsAndACleanModelDoesNotCarryIt() throws {
        let (train, test) = try fixture()
        let (spec, configuration) = try paperSecret(train, epochs: 4)
        let marked = try Classifier.untrained("mlp", for: train, seed: 1)
        let result = try EmbeddingTrainer(classifier: marked, factory: try TriggerFactory(spec: spec, dataset: train),
                                      configuration: configuration).embed()
        XCTAssertEqual(result.epochs.count, 4)
        let weights = try XCTUnwrap(result.epochs.last!.weights)
        XCTAssertEqual(weights.values.reduce(0, +), 1, accuracy: 1e-6, "MGDA weights are a convex combination")
        XCTAssertGreaterThanOrEqual(weights["utility"]!, 0.5 - 1e-9, "the utility floor holds")
        let scores = try WatermarkEvaluation.scores(of: marked, spec: spec, testSet: test)
        XCTAssertGreaterThan(scores.accuracy, 0.70)
        XCTAssertGreaterThan(scores.wsr, 0.80, "the watermark must form on test-split trigger samples")
        // Four epochs on 3,000 images leave the evasion task half-learnt (full runs reach a few per cent).
        XCTAssertLessThan(scores.wfpr!, 0.50)

        var plain = TrainingConfiguration()
        plain.epochs = 4
        plain.batchSize = 64
        plain.augmentation = .none
        let clean = try Classifier.untrained("mlp", for: train, seed: 1)
        _ = Trainer(classifier: clean, configuration: plain).train(on: train)
        XCTAssertLessThan(try WatermarkEvaluation.scores(of: clean, spec: spec, testSet: test).wsr, 0.15)

        // The thief's pipeline end to end (soft labels through QueryableModel).
        var thief = TrainingConfiguration()
        thief.epochs = 2
        thief.batchSize = 64
        let stolen = try ExtractionAttack(surrogateArchitecture: "mlp", labels: .soft(temperature: 7), training: thief)
            .run(victim: marked, queries: train)
        XCTAssertGreaterThan(Evaluation.accuracy(of: stolen, on: test), 0.65)
    }

    func testContentTriggerBaselineForms() throws {
        let (train, test) = try fixture()
        let spec = try WatermarkSpec.drawContentTrigger(dataset: "fashion-mnist", classNames: train.classNames,
                                                        itemShape: train.itemShape, targetLabel: 4, seed: 3, triggerSetSize: 300)
        var configuration = EmbeddingConfiguration()
        configuration.training.epochs = 3
        configuration.training.augmentation = .none
        configuration.training.batchSize = 64
        configuration.weighting = .fixed([.utility: 0.5, .verification: 0.5])
        let marked = try Classifier.untrained("mlp", for: train, seed: 1)
        _ = try EmbeddingTrainer(classifier: marked, factory: try TriggerFactory(spec: spec, dataset: train), configuration: configuration).embed()
        XCTAssertGreaterThan(try WatermarkEvaluation.scores(of: marked, spec: spec, testSet: test).wsr, 0.9)
    }

    func testPruningZeroesTheRequestedShareOfEachWeightTensor() throws {
        let (train, _) = try fixture()
        let model = try Classifier.untrained("fmnist-cnn", for: train, seed: 1)
        Removal.prune(model, fraction: 0.5)
        for (name, parameter) in model.network.namedParameters where name.hasSuffix(".weight") && parameter.shape.count >= 2 {
            let zeros = parameter.values.filter { $0 == 0 }.count
            XCTAssertEqual(zeros, parameter.count / 2, "\(name)")
        }
    }

    /// The model kept is the most accurate epoch that met the targets, restored after later epochs
    /// moved on; targets no epoch meets leave nothing kept.
    func testEmbeddingKeepsTheMostAccurateEpochThatMetTheTargets() throws {
        let (train, test) = try fixture()
        let (spec, threeEpochs) = try paperSecret(train, epochs: 3)
        var configuration = threeEpochs
        // The third epoch runs at a rate that wrecks the model, so the kept epoch must be restored.
        configuration.training.schedule = .step(base: 0.05, every: 2, factor: 60)
        let verification = try WatermarkEvaluation.triggerSamples(for: spec, from: test)
        let factory = try TriggerFactory(spec: spec, dataset: train)

        let marked = try Classifier.untrained("mlp", for: train, seed: 1)
        let result = try EmbeddingTrainer(classifier: marked, factory: factory, configuration: configuration)
            .embed(testSet: test, verification: verification, targets: EmbeddingTargets(minimumWSR: 0))
        let best = try XCTUnwrap(result.epochs.max { ($0.testAccuracy ?? 0) < ($1.testAccuracy ?? 0) })
        XCTAssertEqual(result.keptEpoch, best.epoch)
        XCTAssertLessThan(best.epoch, 3, "the wrecked last epoch is not the most accurate")
        XCTAssertEqual(Evaluation.accuracy(of: marked, on: test), try XCTUnwrap(best.testAccuracy), accuracy: 1e-9,
                       "the classifier holds the kept epoch's weights")
        XCTAssertEqual(WatermarkEvaluation.hitRate(of: marked, on: verification, label: spec.targetLabel), try XCTUnwrap(best.wsr), accuracy: 1e-9)

        let unreachable = try Classifier.untrained("mlp", for: train, seed: 1)
        let failed = try EmbeddingTrainer(classifier: unreachable, factory: factory, configuration: configuration)
            .embed(testSet: test, verification: verification, targets: EmbeddingTargets(minimumWSR: 0, minimumAccuracy: 1.01))
        XCTAssertNil(failed.keptEpoch)
        XCTAssertEqual(failed.epochs.count, 3)
    }

    /// A thief's own queries, labelled as the victim answered them: its top-1, not the true labels.
    func testALabelledSetCarriesTheModelsTopOneAnswers() throws {
        let (train, _) = try fixture()
        let queries = train.prefix(500)
        let model = try Classifier.untrained("mlp", for: train, seed: 3)
        let (labelled, probabilities) = try model.labelled(queries)
        XCTAssertEqual(labelled.labels, queries.images.withUnsafeBufferPointer { model.labels($0) })
        XCTAssertEqual(probabilities.batch, 500)
        XCTAssertEqual(labelled.images, queries.images)
        XCTAssertNotEqual(labelled.labels, queries.labels, "an untrained model's answers are not the true labels")
    }

    /// With anchored sources the utility loss also trains the stacked source images towards their
    /// true classes; without, it leaves their rows alone.
    func testAnchoredSourcesJoinTheUtilityLossWithTheirTrueLabels() throws {
        let (train, _) = try fixture()
        let (spec, base) = try paperSecret(train, epochs: 1)
        let factory = try TriggerFactory(spec: spec, dataset: train)
        let model = try Classifier.untrained("mlp", for: train, seed: 2)
        var pixels = Array(train.images[0..<(8 * train.itemSize)])
        for anchored in [false, true] {
            var configuration = base
            configuration.anchorSources = anchored
            let tasks: [EmbeddingTask] = [.utility]
            let stack = pixels.withUnsafeMutableBufferPointer { clean in
                var stacked: [Float] = []
                let batch = TrainingBatch(epoch: 0, step: 0, globalStep: 0, indices: Array(0..<8)[...], labels: Array(train.labels[0..<8]),
                                          pixels: clean.baseAddress!, seed: 9, learningRate: 0.05)
                let stack = EmbeddingStack(batch: batch, factory: factory, configuration: configuration,
                                           tasks: [.utility, .verification, .combination], seed: 9, into: &stacked)
                let input = Tensor(shape: [0])
                stacked.withUnsafeBufferPointer { model.normalize($0.baseAddress!, count: stack.rows, into: input) }
                let losses = EmbeddingLosses(tasks: tasks, configuration: configuration, spec: spec)
                let logits = model.network.forward(input, training: false)
                _ = stacked.withUnsafeBufferPointer {
                    losses.evaluate(logits, stack: stack, labels: batch.labels, pullGate: [], pixels: $0.baseAddress!, learningRate: 0.05)
                }
                let g = losses.gradients[.utility]!, classes = logits.itemCount
                for (rows, label) in [(stack.firstSources, 0), (stack.secondSources, 1)] {
                    for n in rows {
                        let atLabel = g.data[n * classes + label]
                        if anchored {
                            XCTAssertLessThan(atLabel, 0, "anchored: row \(n) is pulled towards source class \(label)")
                        } else {
                            XCTAssertEqual(atLabel, 0, "unanchored: row \(n) is not in the utility loss")
                        }
                    }
                }
                return stack
            }
            XCTAssertEqual(stack.sources.count, 32)
        }
    }

    /// Issue 21 item 4: the coupling loss's gradient is its derivative (central differences on
    /// the watermark rows' logits; the class centroids come from the clean rows and are held
    /// constant), and a watermark sample whose logits point like the target class's costs nothing
    /// for the pull.
    func testTheCouplingLossGradientIsItsDerivative() throws {
        let (train, _) = try fixture()
        var (spec, configuration) = try paperSecret(train, epochs: 1)
        configuration.coupling = 1
        let factory = try TriggerFactory(spec: spec, dataset: train)
        var pixels = Array(train.images[0..<(8 * train.itemSize)])
        let labels = Array(train.labels[0..<8])
        XCTAssertTrue(labels.contains(Int32(spec.targetLabel)), "the clean rows must hold the target class")
        let stack = pixels.withUnsafeMutableBufferPointer { clean in
            var stacked: [Float] = []
            let batch = TrainingBatch(epoch: 0, step: 0, globalStep: 0, indices: Array(0..<8)[...], labels: labels, pixels: clean.baseAddress!, seed: 3, learningRate: 0.05)
            return EmbeddingStack(batch: batch, factory: factory, configuration: configuration, tasks: [.utility, .verification], seed: 3, into: &stacked)
        }
        let losses = EmbeddingLosses(tasks: [.verification], configuration: configuration, spec: spec)
        var rng = SeededGenerator(seed: 11)
        let logits = Tensor(shape: [stack.rows, 10])
        for i in 0..<logits.count { logits.data[i] = Float(rng.next() % 2000) / 500 - 2 }
        let gradient = Tensor(shape: logits.shape)
        let loss = { () -> Float in
            let scratch = Tensor(shape: logits.shape)
            return losses.coupling(logits, stack: stack, labels: labels, gradient: scratch, scale: 1)
        }
        XCTAssertGreaterThan(losses.coupling(logits, stack: stack, labels: labels, gradient: gradient, scale: 1), 0)
        for n in [stack.marks.lowerBound, stack.marks.upperBound - 1] {
            for k in [0, 2, 7] {
                let index = n * 10 + k, saved = logits.data[index], h: Float = 1e-2
                logits.data[index] = saved + h
                let up = loss()
                logits.data[index] = saved - h
                let down = loss()
                logits.data[index] = saved
                XCTAssertEqual(gradient.data[index], (up - down) / (2 * h), accuracy: 2e-3, "row \(n), class \(k)")
            }
        }
        for (i, n) in stack.clean.enumerated() { XCTAssertEqual(gradient.data[n * 10 + (i % 10)], 0, "clean rows only give the centroids") }
        // Clean rows of the target class all along one axis, every other row along another, the
        // watermark rows along the target's: nothing to pull, nothing to push.
        for n in 0..<stack.rows {
            let isTarget = stack.clean.contains(n) && labels[n - stack.clean.lowerBound] == Int32(spec.targetLabel)
            let axis = stack.marks.contains(n) || isTarget ? spec.targetLabel : 5
            for k in 0..<10 { logits.data[n * 10 + k] = k == axis ? 3 : 0 }
        }
        XCTAssertEqual(losses.coupling(logits, stack: stack, labels: labels, gradient: Tensor(shape: logits.shape), scale: 1), 0, accuracy: 1e-6)
    }
}
