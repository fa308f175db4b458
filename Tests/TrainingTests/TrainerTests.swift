import Data
import Engine
import Foundation
import XCTest
@testable import Training

final class TrainerTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    /// A small real fixture: the first 2,000 Fashion-MNIST training images and 1,000 test images.
    private func fixture() throws -> (train: Dataset, test: Dataset) {
        let folder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/train-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        return (try DatasetCatalog.load("fashion-mnist", split: "train").prefix(2_000),
                try DatasetCatalog.load("fashion-mnist", split: "test").prefix(1_000))
    }

    /// End to end: a tiny MLP reaches at least 75 % on held-out images after 3 epochs on 2,000
    /// (chance is 10 %; it lands near 78 %).
    func testTinyModelLearnsFashionMNIST() throws {
        let (train, test) = try fixture()
        let classifier = try Classifier.untrained("mlp", for: train, seed: 3)
        var configuration = TrainingConfiguration()
        configuration.epochs = 3
        configuration.batchSize = 64
        configuration.augmentation = .none
        var lines = 0
        let result = Trainer(classifier: classifier, configuration: configuration).train(on: train, testSet: test, progress: { _ in lines += 1 })
        let accuracy = try XCTUnwrap(result.epochs.last?.testAccuracy)
        XCTAssertGreaterThanOrEqual(accuracy, 0.75)
        XCTAssertLessThan(result.epochs.last!.trainLoss, result.epochs.first!.trainLoss)
        XCTAssertEqual(lines, 3 * 32 + 3)
        XCTAssertGreaterThan(result.imagesPerSecond, 0)

        // The confusion matrix counts every test image once, in its true class's row, and its
        // diagonal is the accuracy.
        let confusion = Evaluation.confusion(of: classifier, on: test)
        XCTAssertEqual(confusion.count, 10)
        for label in 0..<10 {
            XCTAssertEqual(confusion[label].reduce(0, +), test.labels.filter { $0 == label }.count)
        }
        XCTAssertEqual(Double((0..<10).reduce(0) { $0 + confusion[$1][$1] }) / Double(test.count),
                       Evaluation.accuracy(of: classifier, on: test), accuracy: 1e-12)
    }

    func testSameSeedSameResult() throws {
        let (train, _) = try fixture()
        let small = train.prefix(256)
        var configuration = TrainingConfiguration()
        configuration.epochs = 1
        configuration.batchSize = 32
        func weights(seed: UInt64) throws -> [Float] {
            var config = configuration
            config.seed = seed
            let classifier = try Classifier.untrained("fmnist-cnn", for: small, seed: seed)
            _ = Trainer(classifier: classifier, configuration: config).train(on: small)
            return Array(UnsafeBufferPointer(start: classifier.network.store.values, count: classifier.network.store.count))
        }
        let first = try weights(seed: 4)
        XCTAssertEqual(first, try weights(seed: 4))
        XCTAssertNotEqual(first, try weights(seed: 5))
    }

    /// Label smoothing, mixup, cutmix and strong augmentation are seeded like the rest, and each
    /// changes what the model learns.
    func testRecipesAreSeededAndEachChangesTheResult() throws {
        let (train, _) = try fixture()
        let small = train.prefix(256)
        func weights(_ change: (inout TrainingConfiguration) -> Void) throws -> [Float] {
            var configuration = TrainingConfiguration()
            configuration.epochs = 1
            configuration.batchSize = 32
            change(&configuration)
            let classifier = try Classifier.untrained("mlp", for: small, seed: 2)
            let result = Trainer(classifier: classifier, configuration: configuration).train(on: small)
            XCTAssertTrue(result.epochs[0].trainLoss.isFinite)
            return Array(UnsafeBufferPointer(start: classifier.network.store.values, count: classifier.network.store.count))
        }
        let plain = try weights { _ in }
        let recipes: [(inout TrainingConfiguration) -> Void] = [
            { $0.labelSmoothing = 0.1 },
            { $0.mixing = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 0) },
            { $0.mixing = BatchMixing(mixupAlpha: 0, cutmixAlpha: 1) },
            { $0.mixing = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1); $0.labelSmoothing = 0.1 },
            { $0.augmentation = .strong },
        ]
        for recipe in recipes {
            let first = try weights(recipe)
            XCTAssertEqual(first, try weights(recipe))
            XCTAssertNotEqual(first, plain)
        }
    }
}
