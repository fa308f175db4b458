import Data
import Engine
import Training
import Watermark
import XCTest
@testable import Forensics

final class CalibrationTests: XCTestCase {
    func calibration(otherPairs: [Calibration.OtherPair]?) throws -> Calibration {
        let reference = try Calibration.Reference(architecture: "mlp", seed: 1, trainImages: 1000, epochs: 1, testAccuracy: 0.8, triggerHits: 3,
                                                  triggers: 500, upperBound: ClopperPearson(successes: 3, trials: 500).upper, seconds: 1)
        return try Calibration(specSha256: String(repeating: "cd", count: 32), created: "2026-11-28T19:00:00Z", confidence: 0.95,
                               references: [reference], falseWatermarks: [], watermarkedWsr: 0.97, otherPairs: otherPairs)
    }

    func testDecoyPairsAreThoseTheWatermarkedModelRarelyAnswersTheTargetOn() throws {
        let rates: [([Int], Double)] = [([0, 3], 0.53), ([0, 5], 0.03), ([3, 7], 0.10), ([1, 4], 0.94), ([7, 9], 0), ([4, 8], 0.105)]
        let measured = try calibration(otherPairs: rates.map { try Calibration.OtherPair(sources: $0.0, samples: 200, watermarkedRate: $0.1) })
        XCTAssertEqual(measured.decoyPairs, [[0, 5], [3, 7], [7, 9]])
        XCTAssertEqual(try Calibration.decode(try measured.encoded()), measured, "the choice travels in the signed calibration")
        XCTAssertNil(try calibration(otherPairs: [.init(sources: [0, 3], samples: 200, watermarkedRate: 0.5)]).decoyPairs,
                     "no quiet pair: the probe falls back to every other pair and the other ways")
        XCTAssertNil(try calibration(otherPairs: nil).decoyPairs, "no watermarked model measured")
    }

    /// The models that chose the trigger set answer none of it with the target: a null measured on them is biased low.
    func testACalibrationRefusesTheTriggerFiltersReferences() throws {
        let classNames = (0..<10).map { "class \($0)" }, labels: [Int32] = (0..<40).map { Int32($0 % 10) }
        let data = Dataset(name: "fashion-mnist/test", itemShape: [1, 28, 28], images: labels.flatMap { [Float](repeating: Float($0) / 10, count: 784) },
                           labels: labels, classNames: classNames)
        var spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 5)
        var plan = CalibrationPlan()
        (plan.references, plan.triggers, plan.falseWatermarkSamples) = (3, 20, 20)
        spec.triggerSelection = try TriggerSelection(poolSize: 100, kept: Array(0..<50), simulatedCopies: [], filterReferences: [
            try ReferenceRecipe(architecture: "mlp", augmentation: "light", seed: plan.seed + 2, trainImages: 30, epochs: 1)])
        spec.triggerSetSize = 50
        XCTAssertThrowsError(try Calibrator(spec: spec, trainSet: data, verificationSet: data, plan: plan, referenceFolder: nil).run(watermarked: nil)) {
            XCTAssertTrue("\($0)".contains("seed \(plan.seed + 2) is a seed of the trigger set's filter references"), "\($0)")
        }
    }

    /// A calibration as `tracemark calibrate` writes it: 20 references of 1,000 triggers.
    func measured() -> [String: Any] {
        let references: [[String: Any]] = (0..<20).map { index in
            let hits = index % 3
            return ["architecture": index % 2 == 0 ? "fmnist-cnn" : "mlp", "seed": index, "train_images": 10_000, "epochs": 1,
                    "test_accuracy": 0.85, "trigger_hits": hits, "triggers": 1000,
                    "upper_bound": ClopperPearson(successes: hits, trials: 1000, confidence: 0.95).upper, "seconds": 12.5]
        }
        return ["format": Calibration.format, "spec_sha256": String(repeating: "cd", count: 32), "created": "2026-11-28T19:00:00Z",
                "confidence": 0.95, "references": references, "p0": 0.5, "theta": 0.5,
                "false_watermarks": [["name": "sources 3+5, the spec's way", "samples": 200, "reference_rates": [Double](repeating: 0.01, count: 20),
                                      "watermarked_rate": 0.02]],
                "watermarked_wsr": 0.97, "other_pairs": [["sources": [3, 5], "samples": 200, "watermarked_rate": 0.02]]]
    }

    func decode(_ change: (inout [String: Any]) -> Void) throws -> Calibration {
        var object = measured()
        change(&object)
        return try Calibration.decode(try JSONSerialization.data(withJSONObject: object))
    }

    func reference(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        { object in
            var references = object["references"] as! [[String: Any]]
            change(&references[4])
            object["references"] = references
        }
    }

    /// Issue 18: a calibration with `upper_bound: -5` showed p0 −5.
    func testAReferenceUpperBoundIsTheClopperPearsonBoundOfItsCounts() throws {
        let sound = try decode { _ in }
        XCTAssertEqual(sound.p0, ClopperPearson(successes: 2, trials: 1000, confidence: 0.95).upper)
        XCTAssertThrowsError(try decode(reference { $0["upper_bound"] = -5 })) { XCTAssertTrue("\($0)".contains("upper_bound"), "\($0)") }
        XCTAssertThrowsError(try decode(reference { $0["upper_bound"] = 0.5 })) { XCTAssertTrue("\($0)".contains("upper_bound"), "\($0)") }
        // Issue 19: a bound nudged within the platform tolerance still leaves p0 to the counts, the
        // one p0 the report, its verification and the early stop all read.
        let nudged = try decode { object in
            var references = object["references"] as! [[String: Any]]
            references[5]["upper_bound"] = ClopperPearson(successes: 2, trials: 1000, confidence: 0.95).upper + 5e-10
            object["references"] = references
        }
        XCTAssertEqual(nudged.p0, sound.p0)
        XCTAssertEqual(nudged.p0, Calibration.nullRate(hits: nudged.references.map(\.triggerHits), triggers: nudged.references.map(\.triggers), confidence: 0.95))
    }

    /// The fingerprint channel's null is recomputed from every reference's fingerprint counts,
    /// as p0 is; the counts travel in the signed calibration.
    func testTheFingerprintNullComesFromEveryReferencesCounts() throws {
        let measured = try decode { object in
            object["fingerprint_sha256"] = String(repeating: "a", count: 64)
            object["fingerprint_p0"] = 0.001
            var references = object["references"] as! [[String: Any]]
            for n in references.indices { (references[n]["fingerprint_hits"], references[n]["fingerprint_inputs"]) = (20 + n, 500) }
            object["references"] = references
        }
        XCTAssertEqual(measured.fingerprintP0, ClopperPearson(successes: 39, trials: 500, confidence: 0.95).upper, "not the stored 0.001")
        XCTAssertEqual(try Calibration.decode(try measured.encoded()), measured)
        XCTAssertNil(try decode { _ in }.fingerprintP0)
    }

    func testMeasurementsOutOfRangeAreRefused() {
        let refused: [(String, (inout [String: Any]) -> Void)] = [
            ("format", { $0["format"] = "tracemark.calibration/v0" }),
            ("spec_sha256", { $0["spec_sha256"] = "cd" }),
            ("spec_sha256", { $0["spec_sha256"] = String(repeating: "CD", count: 32) }),
            ("confidence", { $0["confidence"] = 1 }),
            ("confidence", { $0["confidence"] = -0.5 }),
            ("references", { $0["references"] = [Any]() }),
            ("references", { $0["references"] = [[String: Any]](repeating: (self.measured()["references"] as! [[String: Any]])[0], count: 1001) }),
            ("trigger_hits", reference { $0["trigger_hits"] = 1001 }),
            ("trigger_hits", reference { $0["trigger_hits"] = -1 }),
            ("triggers", reference { $0["triggers"] = 0 }),
            ("test_accuracy", reference { $0["test_accuracy"] = 1.5 }),
            ("seconds", reference { $0["seconds"] = -1 }),
            ("architecture", reference { $0["architecture"] = "" }),
            ("reference_rates", { $0["false_watermarks"] = [["name": "x", "samples": 200, "reference_rates": [0.1]]] }),
            ("reference_rates", { $0["false_watermarks"] = [["name": "x", "samples": 200, "reference_rates": [Double](repeating: 2, count: 20)]] }),
            ("watermarked_rate", { $0["false_watermarks"] = [["name": "x", "samples": 200, "reference_rates": [Double](repeating: 0, count: 20), "watermarked_rate": -0.1]] }),
            ("samples", { $0["false_watermarks"] = [["name": "x", "samples": -3, "reference_rates": [Double](repeating: 0, count: 20)]] }),
            ("watermarked_wsr", { $0["watermarked_wsr"] = 7 }),
            ("sources", { $0["other_pairs"] = [["sources": [3], "samples": 200, "watermarked_rate": 0.02]] }),
            ("sources", { $0["other_pairs"] = [["sources": [3, 3], "samples": 200, "watermarked_rate": 0.02]] }),
            ("sources", { $0["other_pairs"] = [["sources": [-1, 3], "samples": 200, "watermarked_rate": 0.02]] }),
            ("watermarked_rate", { $0["other_pairs"] = [["sources": [1, 3], "samples": 200, "watermarked_rate": 1.01]] }),
            ("fingerprint_hits", reference { $0["fingerprint_hits"] = 3 }),
            ("fingerprint_hits", reference { ($0["fingerprint_hits"], $0["fingerprint_inputs"]) = (501, 500) }),
            ("fingerprint_sha256", { $0["fingerprint_sha256"] = String(repeating: "a", count: 64) }),
        ]
        for (word, change) in refused {
            XCTAssertThrowsError(try decode(change), word) { XCTAssertTrue("\($0)".contains(word), "\(word): \($0)") }
        }
    }
}
