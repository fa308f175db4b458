import Data
import Engine
import Foundation
import Training
import XCTest
@testable import Watermark

final class TriggerFilterTests: XCTestCase {
    let classNames = (0..<10).map { "class \($0)" }
    let size = 784

    /// Ten classes of 28×28 images: class k a bright 6×6 block in its own place, over faint noise.
    func blocks(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        var images: [Float] = [], labels: [Int32] = []
        for n in 0..<count {
            let label = n % 10, (top, left) = (2 + (label / 5) * 12, 1 + (label % 5) * 5)
            for pixel in 0..<784 {
                let (row, column) = (pixel / 28, pixel % 28)
                let inBlock = (top..<top + 6).contains(row) && (left..<left + 6).contains(column)
                images.append((inBlock ? 0.8 : 0) + Float(rng.next() % 1000) / 10_000)
            }
            labels.append(Int32(label))
        }
        return Dataset(name: "blocks", itemShape: [1, 28, 28], images: images, labels: labels, classNames: classNames)
    }

    func secret() throws -> WatermarkSpec {
        try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5)
    }

    func recipe(seed: UInt64) throws -> ReferenceRecipe { try ReferenceRecipe(architecture: "mlp", augmentation: "none", seed: seed, trainImages: 30, epochs: 1) }

    func testASelectionDrawsWhatAnUnfilteredDrawMakesAtTheKeptIndices() throws {
        let data = blocks(count: 100, seed: 1)
        for var spec in [try secret(), try WatermarkSpec.drawContentTrigger(dataset: "fashion-mnist", classNames: classNames, itemShape: [1, 28, 28],
                                                                             targetLabel: 3, seed: 1)] {
            let pool = try WatermarkEvaluation.triggerPool(for: spec, from: data, poolSize: 60), kept = [2, 17, 18, 59]
            spec.triggerSelection = try TriggerSelection(poolSize: 60, kept: kept, simulatedCopies: [], filterReferences: [try recipe(seed: 9)])
            spec.triggerSetSize = 4
            let chosen = try WatermarkEvaluation.triggerSamples(for: spec, from: data)
            // A content trigger's samples have no sources.
            let at = { (values: [Float]) in values.isEmpty ? [] : kept.flatMap { values[$0 * self.size..<($0 + 1) * self.size] } }
            XCTAssertEqual(chosen.images, at(pool.images), "\(spec.method)")
            XCTAssertEqual(chosen.firstSources, at(pool.firstSources))
            XCTAssertEqual(chosen.secondSources, at(pool.secondSources))
            XCTAssertEqual(chosen.labels, [Int32](repeating: Int32(spec.targetLabel), count: 4))
            XCTAssertEqual(try WatermarkEvaluation.triggerSamples(for: spec, from: data, count: 2).images, Array(chosen.images.prefix(2 * size)),
                           "a shorter set is a prefix")
            XCTAssertThrowsError(try WatermarkEvaluation.triggerSamples(for: spec, from: data, count: 5)) {
                XCTAssertTrue("\($0)".contains("kept 4"), "\($0)")
            }
            XCTAssertEqual(try WatermarkSpec.decode(spec.canonicalJSON(), path: "spec.json"), spec)
        }
    }

    func testSelectionsThatCannotBeAreRefusedOnDecode() throws {
        var spec = try secret()
        spec.triggerSelection = try TriggerSelection(poolSize: 10, kept: [1, 4], simulatedCopies: [], filterReferences: [try recipe(seed: 9)])
        spec.triggerSetSize = 2
        let copy: [String: Any] = ["architecture": "mlp", "queries": 100, "epochs": 1, "seed": 3, "fine_tune_images": 0, "fine_tune_learning_rate": 0,
                                   "pool_hit_rate": 0.5, "kept_hit_rate": 1]
        let refused: [(String, (inout [String: Any]) -> Void)] = [
            ("strictly ascending", { $0["kept"] = [4, 1] }),
            ("strictly ascending", { $0["kept"] = [1, 1] }),
            ("strictly ascending", { $0["kept"] = [1, 10] }),
            ("strictly ascending", { $0["kept"] = [-1, 4] }),
            ("keeps 1–100000", { $0["kept"] = [Int]() }),
            ("pool holds", { $0["pool_size"] = 1_000_001 }),
            ("at least one model", { $0["filter_references"] = [[String: Any]]() }),
            ("not one of", { $0["simulated_copies"] = [copy.merging(["architecture": "gpt"]) { $1 }] }),
            ("hit rates", { $0["simulated_copies"] = [copy.merging(["kept_hit_rate": 1.5]) { $1 }] }),
            ("at least 1 query", { $0["simulated_copies"] = [copy.merging(["epochs": 0]) { $1 }] }),
        ]
        for (words, change) in refused {
            var object = try JSONSerialization.jsonObject(with: spec.canonicalJSON()) as! [String: Any]
            var selection = object["trigger_selection"] as! [String: Any]
            change(&selection)
            object["trigger_selection"] = selection
            XCTAssertThrowsError(try WatermarkSpec.decode(try JSONSerialization.data(withJSONObject: object), path: "s.json"), words) {
                XCTAssertTrue("\($0)".contains(words), "\(words): \($0)")
            }
        }
        var object = try JSONSerialization.jsonObject(with: spec.canonicalJSON()) as! [String: Any]
        object["trigger_set_size"] = 3
        XCTAssertThrowsError(try WatermarkSpec.decode(try JSONSerialization.data(withJSONObject: object), path: "s.json")) {
            XCTAssertTrue("\($0)".contains("trigger selection keeps 2"), "\($0)")
        }
    }

    func testTheRuleKeepsEligibleSamplesMostVotesFirstInPoolOrder() throws {
        let eligible = [true, false, true, true, true, true]
        let votes = [0, 3, 1, 2, 1, 0]
        XCTAssertEqual(try TriggerFilter.choose(keep: 3, eligible: eligible, votes: votes), [2, 3, 4], "index 1 has the most votes but is not eligible")
        XCTAssertEqual(try TriggerFilter.choose(keep: 2, eligible: eligible, votes: votes), [2, 3], "among equal votes the earlier")
        XCTAssertEqual(try TriggerFilter.choose(keep: 5, eligible: eligible, votes: votes), [0, 2, 3, 4, 5])
        XCTAssertThrowsError(try TriggerFilter.choose(keep: 6, eligible: eligible, votes: votes)) { XCTAssertTrue("\($0)".contains("5 of 6"), "\($0)") }
    }

    func testTheKeptSamplesAreAnsweredWithTheTargetByTheProtectedModelAndByNoFilterReference() throws {
        let train = blocks(count: 600, seed: 1), test = blocks(count: 200, seed: 2)
        let spec = try secret()
        // A protected model that learned the watermark from training-split triggers labelled with the target.
        let marks = try TriggerFactory(spec: spec, dataset: train).watermarkSamples(count: 300, seed: 3)
        var marked = train
        (marked.images, marked.labels) = (train.images + marks.images, train.labels + marks.labels)
        let protected = try Classifier.untrained("mlp", for: marked, seed: 4)
        var recipe = TrainingConfiguration()
        (recipe.epochs, recipe.augmentation) = (8, .none)
        _ = Trainer(classifier: protected, configuration: recipe).train(on: marked)

        var plan = TriggerFilter.Plan()
        (plan.poolSize, plan.keep, plan.copies, plan.copyQueries, plan.copyEpochs) = (400, 50, ["mlp"], 300, 2)
        (plan.fineTuneImages, plan.fineTuneEpochs) = (100, 1)
        (plan.filterReferences.count, plan.filterReferences.architectures) = (2, ["mlp"])
        (plan.filterReferences.epochs, plan.filterReferences.trainImages) = (2, 300)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracemark-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        // Filter references that saw a few triggers labelled with the target answer some pool samples with it.
        var partlyMarked = train
        (partlyMarked.images, partlyMarked.labels) = (train.images + marks.images.prefix(40 * size), train.labels + marks.labels.prefix(40))
        let filter = try TriggerFilter(plan: plan, datasetName: "blocks", trainSet: partlyMarked, referenceFolder: folder)
        let filtered = try filter.filter(spec, protected: protected, verificationSet: test)

        let selection = try XCTUnwrap(filtered.triggerSelection)
        XCTAssertEqual(filtered.triggerSetSize, 50)
        XCTAssertEqual(selection.kept.count, 50)
        XCTAssertEqual(selection.filterReferences.map(\.seed), [plan.filterReferences.seed, plan.filterReferences.seed + 1])
        XCTAssertEqual(selection.simulatedCopies.map(\.fineTuneImages), [0, 100], "the copy, then the copy fine-tuned")
        let kept = try WatermarkEvaluation.triggerSamples(for: filtered, from: test)
        XCTAssertEqual(WatermarkEvaluation.hitRate(of: protected, on: kept, label: 2), 1)
        let references = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(references.count, 2)
        let pool = try WatermarkEvaluation.triggerPool(for: spec, from: test, poolSize: plan.poolSize)
        var poolHits: [Double] = []
        for file in references {
            let reference = try Checkpoint.load(folder.appendingPathComponent(file).path)
            poolHits.append(WatermarkEvaluation.hitRate(of: reference, on: pool, label: 2))
            XCTAssertEqual(WatermarkEvaluation.hitRate(of: reference, on: kept, label: 2), 0, file)
        }
        XCTAssertGreaterThan(poolHits.max()!, 0, "a reference must answer some pool samples with the target for this test to mean anything")
        // A clean model answers the mixes of classes 0 and 1 with one of them, not the target.
        let clean = try Classifier.untrained("mlp", for: train, seed: 4)
        _ = Trainer(classifier: clean, configuration: recipe).train(on: train)
        XCTAssertThrowsError(try filter.filter(spec, protected: clean, verificationSet: test)) { XCTAssertTrue("\($0)".contains("are needed"), "\($0)") }
    }
}
