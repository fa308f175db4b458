import Data
import Engine
import XCTest
@testable import Watermark

final class WatermarkSpecTests: XCTestCase {
    let classNames = (0..<10).map { "class \($0)" }

    func testDrawnSecretsAreDeterministicDistinctAndRespectOwnerChoices() throws {
        let a = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(), seed: 9)
        let b = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(), seed: 9)
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set(a.sourceLabels + [a.targetLabel]).count, 3)
        XCTAssertTrue(a.problems.isEmpty)
        let seeds = (1...20).map { try! WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(), seed: $0) }
        XCTAssertGreaterThan(Set(seeds.map { $0.sourceLabels }).count, 5, "secrets must vary with the seed")
        let fixed = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames,
                                                      choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 3)
        XCTAssertEqual(fixed.sourceLabels, [0, 1])
        XCTAssertEqual(fixed.targetLabel, 2)
        XCTAssertThrowsError(try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames,
                                                               choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 1), seed: 3))
    }

    func testEvasionCombinersNeverContainTheWatermarkOrItsSwappedTwin() throws {
        let mark = Combiner.cropPaste(try CropPaste(region: .bottom, fraction: 0.5, jitter: 3, swapsSources: true))
        let evasion = WatermarkSpec.evasionCombiners(against: mark)
        XCTAssertFalse(evasion.contains(mark))
        for combiner in evasion {
            if case .cropPaste(let c) = combiner { XCTAssertFalse([.top, .bottom].contains(c.region)) }
        }
        XCTAssertTrue(evasion.contains { $0.kind == "stripes" } && evasion.contains { $0.kind == "pixel-merge" })
    }

    func testCanonicalJSONRoundTripsAndIsStable() throws {
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(), seed: 4)
        let json = spec.canonicalJSON()
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{\"class_names\":"), "keys must be sorted: \(text.prefix(40))")
        XCTAssertFalse(text.contains("\n"))
        XCTAssertTrue(text.contains("\"format\":\"tracemark.watermark/v1\""))
        let decoded = try WatermarkSpec.decode(json, path: "spec.json")
        XCTAssertEqual(decoded, spec)
        XCTAssertEqual(decoded.canonicalJSON(), json)
    }

    func testBrokenSpecsGetErrorsNamingTheProblem() {
        func message(_ text: String) -> String {
            do { _ = try WatermarkSpec.decode(Data(text.utf8), path: "s.json"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("{").contains("s.json"))
        var spec = try! WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames, choices: SecretChoices(), seed: 4)
        spec.targetLabel = spec.sourceLabels[0]
        XCTAssertTrue(message(String(decoding: spec.canonicalJSON(), as: UTF8.self)).contains("three distinct classes"))
        spec.targetLabel = 42
        XCTAssertTrue(message(String(decoding: spec.canonicalJSON(), as: UTF8.self)).contains("outside"))
        XCTAssertTrue(message(#"{"format":"tracemark.watermark/v1"}"#).contains("missing key"))
    }

    /// A tiny data set (class k images are filled with the value k/10) and a spec on it: sources 3 and 7, target 5.
    func tinySecret() throws -> (Dataset, WatermarkSpec) {
        let labels: [Int32] = (0..<60).map { Int32($0 % 10) }
        let images = labels.flatMap { [Float](repeating: Float($0) / 10, count: 16) }
        let dataset = Dataset(name: "tiny", itemShape: [1, 4, 4], images: images, labels: labels, classNames: classNames)
        return (dataset, try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames,
                                                           choices: SecretChoices(sourceLabels: [3, 7], targetLabel: 5), seed: 2))
    }

    func testTriggerSamplesComeFromTheSourceClassesAndCarryTheirLabels() throws {
        let (dataset, spec) = try tinySecret()
        let factory = try TriggerFactory(spec: spec, dataset: dataset)
        let marks = factory.watermarkSamples(count: 20, seed: 1)
        XCTAssertEqual(marks.labels, [Int32](repeating: 5, count: 20))
        XCTAssertTrue(marks.images.allSatisfy { abs($0 - 0.3) < 1e-6 || abs($0 - 0.7) < 1e-6 })
        XCTAssertTrue(marks.firstSources.allSatisfy { abs($0 - 0.3) < 1e-6 })
        XCTAssertTrue(marks.secondSources.allSatisfy { abs($0 - 0.7) < 1e-6 })
        let evasion = factory.evasionSamples(count: 40, seed: 1)
        XCTAssertEqual(Set(evasion.labels), [3, 7])
        XCTAssertEqual(factory.watermarkSamples(count: 20, seed: 1).images, marks.images)
        XCTAssertNotEqual(factory.watermarkSamples(count: 20, seed: 2).images, marks.images)
    }

    func testOtherPairEvasionMixesOtherClassesTheSecretWayAndKeepsOneOfTheirLabels() throws {
        let (dataset, spec) = try tinySecret()
        let samples = try TriggerFactory(spec: spec, dataset: dataset).otherPairEvasionSamples(count: 200, seed: 4)
        XCTAssertEqual(samples.count, 200)
        for n in 0..<samples.count {
            let first = Int32((samples.firstSources[n * 16] * 10).rounded()), second = Int32((samples.secondSources[n * 16] * 10).rounded())
            XCTAssertNotEqual(Set([first, second]), [3, 7], "never the secret pair")
            XCTAssertFalse([first, second].contains(5), "never the target")
            XCTAssertTrue([first, second].contains(samples.labels[n]), "labelled with one of its own sources")
            // Pixels only from the two sources (a crop-paste or stripes way; never invented).
            let pixels = Set(samples.images[(n * 16)..<((n + 1) * 16)].map { Int32(($0 * 10).rounded()) })
            XCTAssertTrue(pixels.isSubset(of: [first, second]) || spec.watermark?.kind == "pixel-merge")
        }
        XCTAssertGreaterThan(Set(samples.labels).count, 4, "many other classes take part")
    }
}

/// Specs as a tenant could post them: every value a validating initialiser refuses must be
/// refused on decode too, before any image is combined or stamped.
final class WatermarkSpecDecodingTests: XCTestCase {
    let classNames = (0..<10).map { "class \($0)" }

    /// Ten classes of 28×28 images, two each.
    let dataset: Dataset = {
        let labels: [Int32] = (0..<20).map { Int32($0 % 10) }
        return Dataset(name: "fashion-mnist/test", itemShape: [1, 28, 28], images: labels.flatMap { [Float](repeating: Float($0) / 10, count: 784) },
                       labels: labels, classNames: (0..<10).map { "class \($0)" })
    }()

    func json(_ spec: WatermarkSpec, _ change: (inout [String: Any]) -> Void) -> Data {
        var object = try! JSONSerialization.jsonObject(with: spec.canonicalJSON()) as! [String: Any]
        change(&object)
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Decodes `data` and makes its trigger samples; the error, in words, or "" when both worked.
    func refusal(_ data: Data) -> String {
        do {
            let spec = try WatermarkSpec.decode(data, path: "spec.json")
            _ = try WatermarkEvaluation.triggerSamples(for: spec, from: dataset, count: 4)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func contentTriggerSpec() throws -> WatermarkSpec {
        try WatermarkSpec.drawContentTrigger(dataset: "fashion-mnist", classNames: classNames, itemShape: [1, 28, 28], targetLabel: 3, seed: 1)
    }

    func meaDefenderSpec() throws -> WatermarkSpec {
        try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames,
                                          choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5)
    }

    /// Issue 18: `x: -100000000` wrote far outside the output image (SIGSEGV).
    func testAContentTriggerOutsideTheImageIsRefused() throws {
        let spec = try contentTriggerSpec()
        for (x, y) in [(-100_000_000, 2), (2, -1), (25, 2), (2, 25), (Int.max, 0)] {
            let message = refusal(json(spec) { $0["content_trigger"] = ["x": x, "y": y, "size": 4, "pattern": [Bool](repeating: true, count: 16)] })
            XCTAssertTrue(message.contains("content_trigger"), "(\(x), \(y)): '\(message)'")
        }
        XCTAssertEqual(refusal(json(spec) { $0["content_trigger"] = ["x": 24, "y": 24, "size": 4, "pattern": [Bool](repeating: true, count: 16)] }), "",
                       "a patch flush with the corner fits")
    }

    /// Issue 18: `pattern: [true]` with `size: 28` read heap memory into the trigger pixels.
    func testAPatternThatIsNotSizeSquaredIsRefused() throws {
        let spec = try contentTriggerSpec()
        let message = refusal(json(spec) { $0["content_trigger"] = ["x": 0, "y": 0, "size": 28, "pattern": [true]] })
        XCTAssertTrue(message.contains("pattern"), message)
        XCTAssertFalse(refusal(json(spec) { $0["content_trigger"] = ["x": 0, "y": 0, "size": 0, "pattern": [Bool]()] }).isEmpty)
        XCTAssertFalse(refusal(json(spec) { $0["content_trigger"] = ["x": 0, "y": 0, "size": 65, "pattern": [Bool](repeating: true, count: 65 * 65)] }).isEmpty)
    }

    /// Issue 18: a fuzzer got these accepted.
    func testCombinerParametersOutOfRangeAreRefused() throws {
        let spec = try meaDefenderSpec()
        let refused: [(String, [String: Any])] = [
            ("rotation", ["kind": "crop-paste", "region": "bottom", "fraction": 0.5, "jitter": 3, "rotation": 1 << 62, "swaps_sources": true]),
            ("rotation", ["kind": "crop-paste", "region": "bottom", "fraction": 0.5, "jitter": 3, "rotation": 45, "swaps_sources": true]),
            ("fraction", ["kind": "crop-paste", "region": "bottom", "fraction": -1, "jitter": 3, "rotation": 0, "swaps_sources": true]),
            ("fraction", ["kind": "crop-paste", "region": "bottom", "fraction": 1, "jitter": 3, "rotation": 0, "swaps_sources": true]),
            ("jitter", ["kind": "crop-paste", "region": "bottom", "fraction": 0.5, "jitter": 1 << 32, "rotation": 0, "swaps_sources": true]),
            ("jitter", ["kind": "crop-paste", "region": "bottom", "fraction": 0.5, "jitter": -1, "rotation": 0, "swaps_sources": true]),
            ("ratio", ["kind": "pixel-merge", "ratio": 500]),
            ("ratio", ["kind": "pixel-merge", "ratio": 0]),
            ("stripes", ["kind": "stripes", "orientation": "vertical", "pattern": [true]]),
            ("stripes", ["kind": "stripes", "orientation": "vertical", "pattern": [true, true, true]]),
            ("stripes", ["kind": "stripes", "orientation": "vertical", "pattern": (0..<257).map { $0 % 2 == 0 }]),
            ("ratio", ["kind": "autoencoder-blend", "ratio": 2, "autoencoder_digest": String(repeating: "ab", count: 32)]),
            ("autoencoder_digest", ["kind": "autoencoder-blend", "ratio": 0.5, "autoencoder_digest": "../../etc/passwd"]),
        ]
        for (word, combiner) in refused {
            let asWatermark = refusal(json(spec) { $0["watermark"] = combiner })
            XCTAssertTrue(asWatermark.contains(word), "\(combiner): '\(asWatermark)'")
            let asEvasion = refusal(json(spec) { $0["evasion"] = [combiner] })
            XCTAssertTrue(asEvasion.contains(word), "\(combiner) as evasion: '\(asEvasion)'")
        }
    }

    func testSpecFieldsOutOfRangeAreRefused() throws {
        let spec = try meaDefenderSpec()
        XCTAssertEqual(refusal(spec.canonicalJSON()), "")
        let refused: [(String, (inout [String: Any]) -> Void)] = [
            ("dataset", { $0["dataset"] = "imagenet" }),
            ("verification_split", { $0["verification_split"] = "validation" }),
            ("class_names", { $0["class_names"] = ["only one"] }),
            ("class_names", { $0["class_names"] = (0..<1001).map { "c\($0)" } }),
            ("class_names", { $0["class_names"] = ["a", "", "c"] }),
            ("class_names", { $0["class_names"] = ["a", "b\u{0}c", "d"] }),
            ("trigger_set_size", { $0["trigger_set_size"] = 0 }),
            ("trigger_set_size", { $0["trigger_set_size"] = 100_001 }),
            ("model_digest", { $0["model_digest"] = "not hex" }),
            ("model_digest", { $0["model_digest"] = String(repeating: "AB", count: 32) }),
            ("evasion", { $0["evasion"] = [[String: Any]](repeating: ["kind": "pixel-merge", "ratio": 0.3], count: 33) }),
            ("outside", { $0["target_label"] = -1 }),
            ("outside", { $0["source_labels"] = [0, 10] }),
            ("content", { $0["content_trigger"] = ["x": 0, "y": 0, "size": 1, "pattern": [true]] }),
        ]
        for (word, change) in refused {
            let message = refusal(json(spec, change))
            XCTAssertTrue(message.contains(word), "\(word): '\(message)'")
        }
        let content = try contentTriggerSpec()
        XCTAssertTrue(refusal(json(content) { $0["source_labels"] = [0, 1] }).contains("content-trigger"))
    }

    /// Commitments of existing specs must not change: the canonical bytes of a spec drawn from a
    /// fixed seed, as every earlier version wrote them.
    func testCanonicalJSONOfExistingSpecsIsUnchanged() throws {
        XCTAssertEqual(sha256Hex(try meaDefenderSpec().canonicalJSON()), "39b512b5a4c146a088b288f552b8f338c1c5074196f5570ec542c0df0f81f781")
        XCTAssertEqual(sha256Hex(try contentTriggerSpec().canonicalJSON()), "dbfa5f481234beb06e6c3d8a2352151c190f2758a00bc6af7b00034b9e7a96f9")
    }
}
