import Data
import Engine
import Foundation
import XCTest
@testable import Watermark

/// The autoencoder blend on tiny 8×8 images: it learns to reconstruct, blends deterministically,
/// and its weights travel beside the spec under the digest the spec commits to.
final class AutoencoderBlendTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 2) }

    static let classNames = (0..<10).map { "class \($0)" }

    /// Class k: a bright square whose position depends on k, over a dim background.
    static let dataset: Dataset = {
        var rng = SeededGenerator(seed: 3)
        var images: [Float] = [], labels: [Int32] = []
        for n in 0..<200 {
            let label = n % 10, corner = (label % 5, label / 5 * 4)
            for y in 0..<8 {
                for x in 0..<8 {
                    let inside = (corner.0..<corner.0 + 3).contains(x) && (corner.1..<corner.1 + 4).contains(y)
                    images.append(inside ? rng.nextUniform(0.7, 1) : rng.nextUniform(0, 0.2))
                }
            }
            labels.append(Int32(label))
        }
        return Dataset(name: "squares", itemShape: [1, 8, 8], images: images, labels: labels, classNames: classNames)
    }()

    static let trained: Autoencoder = {
        let autoencoder = try! Autoencoder(itemShape: [1, 8, 8], seed: 5)
        autoencoder.train(on: dataset, epochs: 40, batchSize: 20, learningRate: 3e-3, seed: 6)
        return autoencoder
    }()

    func testTrainingReducesTheReconstructionError() throws {
        let fresh = try Autoencoder(itemShape: [1, 8, 8], seed: 5)
        let firstEpoch = fresh.train(on: Self.dataset, epochs: 1, batchSize: 20, learningRate: 3e-3, seed: 6)
        let later = fresh.train(on: Self.dataset, epochs: 30, batchSize: 20, learningRate: 3e-3, seed: 7)
        XCTAssertLessThan(later, firstEpoch * 0.5, "reconstruction error \(firstEpoch) → \(later)")
    }

    func testBlendIsDeterministicStaysInRangeAndDependsOnTheRatio() throws {
        let images = Self.dataset.images
        func blend(_ ratio: Double, shape: [Int] = [1, 8, 8]) throws -> [Float] {
            let combiner = Combiner.autoencoderBlend(try AutoencoderBlend(ratio: ratio, autoencoder: Self.trained))
            var out = [Float](repeating: -1, count: 64), rng = SeededGenerator(seed: 1)
            try combiner.combine(Array(images[0..<64]), Array(images[64..<128]), into: &out, shape: shape, rng: &rng)
            return out
        }
        XCTAssertEqual(try blend(0.5), try blend(0.5))
        XCTAssertTrue(try blend(0.5).allSatisfy { (0...1).contains($0) })
        XCTAssertNotEqual(try blend(0.3), try blend(0.7))
        // Mostly a: closer to a than to b.
        func distance(_ x: [Float], _ y: ArraySlice<Float>) -> Float { zip(x, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
        XCTAssertLessThan(distance(try blend(0.9), images[0..<64]), distance(try blend(0.9), images[64..<128]))
        // The autoencoder reads and writes items of its own shape only.
        XCTAssertThrowsError(try blend(0.5, shape: [1, 4, 16])) { XCTAssertTrue("\($0)".contains("autoencoder takes"), "\($0)") }
    }

    func testWeightsTravelBesideTheSpecUnderTheCommittedDigest() throws {
        let blend = Combiner.autoencoderBlend(try AutoencoderBlend(ratio: 0.5, autoencoder: Self.trained))
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: Self.classNames,
                                                     choices: SecretChoices(sourceLabels: [1, 2], targetLabel: 3, watermark: blend),
                                                     seed: 9, triggerSetSize: 10)
        XCTAssertTrue(spec.evasion.contains { $0.kind == "autoencoder-blend" }, "other ratios of the blend must be evasion ways")
        let json = String(decoding: spec.canonicalJSON(), as: UTF8.self)
        XCTAssertTrue(json.contains("\"autoencoder_digest\":\"\(Self.trained.digest)\""))
        XCTAssertLessThan(json.utf8.count, 4_000, "the weights must not be inlined into the spec")

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ae-spec-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("spec.json").path
        try spec.write(to: path)
        let loaded = try WatermarkSpec.load(path)
        XCTAssertEqual(loaded, spec)
        XCTAssertTrue(loaded.missingAutoencoders.isEmpty)
        let before = try TriggerFactory(spec: spec, dataset: Self.dataset).watermarkSamples(count: 5, seed: 1)
        let after = try TriggerFactory(spec: loaded, dataset: Self.dataset).watermarkSamples(count: 5, seed: 1)
        XCTAssertEqual(before.images, after.images)
        let reshaped = Dataset(name: "squares", itemShape: [1, 4, 16], images: Self.dataset.images, labels: Self.dataset.labels,
                               classNames: Self.classNames)
        XCTAssertThrowsError(try TriggerFactory(spec: spec, dataset: reshaped)) { XCTAssertTrue("\($0)".contains("autoencoder takes"), "\($0)") }

        // Decoded from JSON alone the weights are missing, and trigger samples refuse to be made.
        let bare = try WatermarkSpec.decode(spec.canonicalJSON(), path: "spec.json")
        XCTAssertEqual(bare.missingAutoencoders, [Self.trained.digest])
        XCTAssertThrowsError(try TriggerFactory(spec: bare, dataset: Self.dataset))

        let weights = folder.appendingPathComponent(WatermarkSpec.autoencoderFileName(digest: Self.trained.digest))
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: weights)
        XCTAssertThrowsError(try WatermarkSpec.load(path)) { XCTAssertTrue("\($0)".contains("SHA-256"), "\($0)") }
        try FileManager.default.removeItem(at: weights)
        XCTAssertThrowsError(try WatermarkSpec.load(path)) { XCTAssertTrue("\($0)".contains("beside the spec"), "\($0)") }
    }

    /// The weights come from whoever registers the spec: the item shape they name is bounded
    /// like a checkpoint's before any layer is built for it.
    func testAnAutoencoderFileNamingAHugeItemShapeIsRefused() throws {
        for shape in ["4611686018427387904,8,8", "1,8,1099511627776", "1,8", "1,6,6"] {
            var file = try Safetensors(decoding: Self.trained.encoded(), path: "ae")
            file.metadata["item_shape"] = shape
            XCTAssertThrowsError(try Autoencoder.decode(file.encoded(), path: "ae.safetensors"), shape) {
                XCTAssertTrue("\($0)".contains("autoencoder"), "\($0)")
            }
        }
    }
}
