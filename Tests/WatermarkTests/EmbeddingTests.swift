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

    func testMEADefenderWatermarkFormsAndACleanModelDoesNotCarryIt() throws {
        let (train, test) = try fixture()
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: train.classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5,
                                                     triggerSetSize: 300)
        var configuration = EmbeddingConfiguration()
        configuration.training.epochs = 4
        configuration.training.augmentation = .none
        configuration.training.batchSize = 64
        let marked = try Classifier.untrained("mlp", for: train, seed: 1)
        let result = EmbeddingTrainer(classifier: marked, factory: try TriggerFactory(spec: spec, dataset: train),
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
        _ = EmbeddingTrainer(classifier: marked, factory: try TriggerFactory(spec: spec, dataset: train), configuration: configuration).embed()
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
}
