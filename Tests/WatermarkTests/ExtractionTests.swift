import Data
import Engine
import Training
import XCTest
@testable import Watermark

/// What the thieves send to their victim: every query is an image the victim answers once.
final class ExtractionTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    /// A victim that counts the images it is asked about and remembers them.
    private final class CountingVictim: QueryableModel {
        let model: Classifier
        private(set) var asked: [[Float]] = []
        private(set) var imagesPerCall: [Int] = []
        init(_ model: Classifier) { self.model = model }
        var itemShape: [Int] { model.itemShape }
        var classNames: [String] { model.classNames }
        func answer(_ images: UnsafeBufferPointer<Float>) throws -> Tensor {
            let size = itemShape.reduce(1, *)
            asked += stride(from: 0, to: images.count, by: size).map { Array(images[$0..<$0 + size]) }
            imagesPerCall.append(images.count / size)
            return try model.answer(images)
        }
    }

    private func randomSet(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        return Dataset(name: "random", itemShape: [1, 8, 8], images: (0..<(count * 64)).map { _ in rng.nextUnitFloat() },
                       labels: (0..<count).map { _ in Int32(rng.next() % 3) }, classNames: ["a", "b", "c"])
    }

    /// JBDA asks about each image once: the seed set, then only the images each round adds
    /// (seed × 2^rounds in all, not the whole set again every round).
    func testJacobianAugmentationAsksAboutEveryImageOnce() throws {
        let seedSet = randomSet(count: 6, seed: 1)
        let model = try Classifier.untrained("mlp", for: seedSet, seed: 2)
        var training = TrainingConfiguration()
        training.epochs = 1
        training.batchSize = 4
        for labels in [ThiefLabels.hard, .soft(temperature: 2)] {
            let victim = CountingVictim(model)
            let attack = ExtractionAttack(surrogateArchitecture: "mlp", labels: labels, training: training)
            _ = try attack.runJacobian(victim: victim, seedSet: seedSet, rounds: 2, step: 0.1)
            XCTAssertEqual(victim.imagesPerCall, [6, 6, 12], "each round asks about the images it added, and only those")
            XCTAssertEqual(Array(victim.asked.prefix(6)), stride(from: 0, to: 6 * 64, by: 64).map { Array(seedSet.images[$0..<$0 + 64]) })
        }
    }
}
