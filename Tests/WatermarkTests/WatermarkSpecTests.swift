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
        let seeds = (1...20).map { try! WatermarkSpec.drawMEADefender(dataset: "f", classNames: classNames, choices: SecretChoices(), seed: $0) }
        XCTAssertGreaterThan(Set(seeds.map { $0.sourceLabels }).count, 5, "secrets must vary with the seed")
        let fixed = try WatermarkSpec.drawMEADefender(dataset: "f", classNames: classNames,
                                                      choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 3)
        XCTAssertEqual(fixed.sourceLabels, [0, 1])
        XCTAssertEqual(fixed.targetLabel, 2)
        XCTAssertThrowsError(try WatermarkSpec.drawMEADefender(dataset: "f", classNames: classNames,
                                                               choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 1), seed: 3))
    }

    func testEvasionCombinersNeverContainTheWatermarkOrItsSwappedTwin() {
        let mark = Combiner.cropPaste(CropPaste(region: .bottom, fraction: 0.5, jitter: 3, swapsSources: true))
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
        var spec = try! WatermarkSpec.drawMEADefender(dataset: "f", classNames: classNames, choices: SecretChoices(), seed: 4)
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
        return (dataset, try WatermarkSpec.drawMEADefender(dataset: "tiny", classNames: classNames,
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
