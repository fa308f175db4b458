import Data
import Engine
import TestSupport
import XCTest
@testable import Forensics

final class FingerprintTests: XCTestCase {
    /// Three classes of 8×8 images, each class a brighter patch in its own place, with noise.
    func tinyData(count: Int, seed: UInt64) -> Dataset {
        var rng = SeededGenerator(seed: seed)
        var images: [Float] = [], labels: [Int32] = []
        for n in 0..<count {
            let label = n % 3
            for pixel in 0..<64 {
                let inPatch = (pixel / 8) / 3 == label
                images.append(min(1, (inPatch ? 0.6 : 0.1) + Float(rng.next() % 1000) / 4000))
            }
            labels.append(Int32(label))
        }
        return Dataset(name: "tiny", itemShape: [1, 8, 8], images: images, labels: labels, classNames: ["a", "b", "c"])
    }

    func provenance(classes: Int = 3) throws -> Fingerprint.Provenance {
        try Fingerprint.Provenance(dataset: "tiny", split: "test", classNames: (0..<classes).map { "class \($0)" },
                                   protectedModelSha256: String(repeating: "ab", count: 32), twinModelSha256: String(repeating: "ac", count: 32),
                                   candidates: try .init(kind: "inverted", count: 10, seed: 5, epsilon: nil, steps: nil),
                                   filterReferences: [try .init(architecture: "mlp", augmentation: "none", seed: 9, trainImages: 30, epochs: 1)])
    }

    func fingerprint() throws -> Fingerprint {
        try Fingerprint(provenance: try provenance(), itemShape: [1, 2, 2],
                        inputs: .init(images: [0, 0.5, 1, 0.25, 1, 1, 0, 0], labels: [2, 0]),
                        decoys: .init(images: [0.1, 0.2, 0.3, 0.4], labels: [0]))
    }

    func testAFingerprintFileDecodesToWhatWasWritten() throws {
        let written = try fingerprint()
        XCTAssertEqual(try Fingerprint(decoding: try written.encoded()), written)
    }

    func testDecodingRefusesWhatAFingerprintCannotBe() throws {
        let good = try fingerprint()
        func refused(_ tensors: Safetensors, mentioning word: String, line: UInt = #line) {
            XCTAssertThrowsError(try Fingerprint(decoding: tensors.encoded()), line: line) { XCTAssertTrue("\($0)".contains(word), "\($0)", line: line) }
        }
        let original = try Safetensors(decoding: try good.encoded(), path: "f")
        func changed(_ change: (inout Safetensors) -> Void) -> Safetensors {
            var copy = original
            change(&copy)
            return copy
        }
        func replace(_ name: String, shape: [Int]? = nil, values: [Float]) -> (inout Safetensors) -> Void {
            { tensors in
                let index = tensors.entries.firstIndex { $0.name == name }!
                tensors.entries[index] = .init(name: name, shape: shape ?? tensors.entries[index].shape, values: values)
            }
        }
        refused(changed { $0.metadata["format"] = "tracemark.trigger-set/v1" }, mentioning: "not a fingerprint")
        refused(changed { $0.metadata["provenance"] = "{}" }, mentioning: "provenance")
        refused(changed { $0.metadata["provenance"] = $0.metadata["provenance"]!.replacingOccurrences(of: String(repeating: "ab", count: 32), with: "xyz") },
                mentioning: "protected_model_sha256")
        refused(changed { $0.metadata["provenance"] = $0.metadata["provenance"]!.replacingOccurrences(of: "\"inverted\"", with: "\"adversarial\"") },
                mentioning: "only they, have an epsilon")
        refused(changed { $0.metadata["provenance"] = $0.metadata["provenance"]!.replacingOccurrences(of: "\"inverted\"", with: "\"rotated\"") },
                mentioning: "candidate kind")
        refused(changed(replace("input_labels", values: [2, 3])), mentioning: "labels must be classes")
        refused(changed(replace("input_labels", values: [2, 0.5])), mentioning: "whole class numbers")
        refused(changed(replace("inputs", values: [0, 0.5, 1, .nan, 1, 1, 0, 0])), mentioning: "pixels")
        refused(changed(replace("inputs", values: [0, 0.5, 1, 2, 1, 1, 0, 0])), mentioning: "pixels")
        refused(changed(replace("input_labels", shape: [3], values: [2, 0, 1])), mentioning: "needs tensors")
        refused(changed(replace("decoys", shape: [1, 4], values: [0.1, 0.2, 0.3, 0.4])), mentioning: "decoys are")
        refused(changed { $0.entries.removeAll { $0.name == "decoy_labels" } }, mentioning: "needs tensors")
        refused(changed(replace("inputs", shape: [0, 1, 2, 2], values: [])), mentioning: "needs tensors")
        let bytes = try good.encoded()
        XCTAssertThrowsError(try Fingerprint(decoding: bytes.prefix(bytes.count - 3)))
    }

    /// The maker's promises: the fingerprint's labels are the protected model's answers, no filter
    /// reference gives them, the decoys carry the filter references' most common answer (never the
    /// protected model's), and the same plan chooses the same.
    func testAFingerprintIsWhatTheProtectedModelAloneAnswers() throws {
        let train = tinyData(count: 90, seed: 1), candidates = tinyData(count: 60, seed: 2)
        let protected = try Classifier.untrained("mlp", for: train, seed: 77)
        var plan = FingerprintMaker.Plan()
        plan.inputs = 20
        plan.decoys = 20
        plan.candidates = 400
        (plan.filterReferences.count, plan.filterReferences.architectures) = (2, ["mlp"])
        (plan.filterReferences.epochs, plan.filterReferences.trainImages) = (1, 60)
        let folder = temporaryFolder(self)
        let maker = try FingerprintMaker(plan: plan, datasetName: "tiny", trainSet: train, candidateSet: candidates, candidateSplit: "test",
                                         referenceFolder: folder)
        let twin = try Classifier.untrained("mlp", for: train, seed: 78)
        let make = { try maker.make(protected: protected, checkpointSha256: String(repeating: "0f", count: 32), twin: twin,
                                    twinSha256: String(repeating: "1f", count: 32)) }
        let made = try make()
        XCTAssertEqual(made.inputs.count, 20)
        XCTAssertEqual(made.decoys.count, 20)
        XCTAssertEqual(made.inputs.labels, made.inputs.images.withUnsafeBufferPointer { protected.labels($0) })
        XCTAssertEqual(try made.agreement(of: protected).hits, 20)
        XCTAssertEqual(try made.agreement(of: protected).decoyHits, 0, "a decoy's label is never the protected model's answer")
        XCTAssertEqual(try made.agreement(of: twin).hits, 0, "nor a fingerprint input's the twin's")
        XCTAssertEqual(made.decoys.labels, made.decoys.images.withUnsafeBufferPointer { twin.labels($0) }, "the decoys carry the twin's answers")
        let references = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(references.count, 2)
        for file in references {
            let reference = try Checkpoint.load(folder.appendingPathComponent(file).path)
            XCTAssertEqual(try made.agreement(of: reference).hits, 0, "\(file) answers a fingerprint input as the protected model does")
            XCTAssertEqual(try made.agreement(of: reference).decoyHits, 0, "\(file) answers a decoy as the twin does")
        }
        XCTAssertEqual(made.provenance.filterReferences.map(\.seed), [plan.seed, plan.seed + 1])
        XCTAssertEqual(made.provenance.filterReferences.map(\.augmentation), ["light", "none"], "each architecture meets the presets in turn")
        XCTAssertEqual(try make(), made,
                       "the same plan (references reloaded) chooses the same fingerprint")
        plan.inputs = 400
        XCTAssertThrowsError(try FingerprintMaker(plan: plan, datasetName: "tiny", trainSet: train, candidateSet: candidates, candidateSplit: "test",
                                                  referenceFolder: folder).make(protected: protected, checkpointSha256: String(repeating: "0f", count: 32),
                                                                                twin: twin, twinSha256: String(repeating: "1f", count: 32))) {
            XCTAssertTrue("\($0)".contains("are answered by the model alone"), "\($0)")
        }
    }

    func testAdversarialCandidatesStayWithinEpsilonOfHeldOutImagesAndMoveTheModel() throws {
        let data = tinyData(count: 30, seed: 6)
        let model = try Classifier.untrained("mlp", for: data, seed: 3)
        let moved = FingerprintCandidates(adversarialFrom: data, against: model, count: 20, epsilon: 0.2, steps: 5, seed: 8)
        let unmoved = FingerprintCandidates(adversarialFrom: data, against: model, count: 20, epsilon: 1e-6, steps: 1, seed: 8)
        XCTAssertEqual(moved.count, 20)
        XCTAssertTrue(zip(moved.images, unmoved.images).allSatisfy { abs($0 - $1) <= 0.2 + 1e-5 }, "inside the L∞ ball around the same images")
        XCTAssertTrue(moved.images.allSatisfy { (0...1).contains($0) })
        let changed = zip(moved.images.withUnsafeBufferPointer { model.labels($0) }, unmoved.images.withUnsafeBufferPointer { model.labels($0) })
            .filter { $0 != $1 }.count
        XCTAssertGreaterThan(changed, 0, "targeted steps change some of the model's answers")
    }

    func testCandidatesAreInvertedImagesAndInvertedMixes() {
        let data = tinyData(count: 9, seed: 3)
        let candidates = FingerprintCandidates(from: data, count: 10, seed: 4)
        XCTAssertEqual(candidates.count, 10)
        XCTAssertEqual(candidates.images, FingerprintCandidates(from: data, count: 10, seed: 4).images)
        XCTAssertTrue(candidates.images.allSatisfy { (0...1).contains($0) })
        let firstInverted = Array(candidates.images[0..<64]).map { 1 - $0 }
        XCTAssertTrue((0..<9).contains { n in zip(firstInverted, data.images[n * 64..<(n + 1) * 64]).allSatisfy { abs($0 - $1) < 1e-6 } },
                      "the first half are images of the data set, inverted")
    }
}

/// `tracemark fingerprint make` and `eval` on Fashion-MNIST at tiny sizes, and their refusals.
final class FingerprintCommandTests: XCTestCase {
    func testMakeThenEvalAndClearRefusals() throws {
        let folder = temporaryFolder(self)
        let path = { (name: String) in folder.appendingPathComponent(name).path }
        for (name, seed) in [("m", 1), ("twin", 2)] {
            let trained = try runProgram(tracemarkBinary, ["train", "--arch", "mlp", "--epochs", "1", "--train-limit", "1000", "--seed", "\(seed)",
                                                           "--out", path("\(name).safetensors")])
            XCTAssertEqual(trained.status, 0, trained.output)
        }
        let made = try runProgram(tracemarkBinary, ["fingerprint", "make", "--model", path("m.safetensors"), "--twin", path("twin.safetensors"),
                                                    "--out", path("f.safetensors"),
                                                    "--inputs", "30", "--decoys", "30", "--candidates", "2000", "--references", "1",
                                                    "--architectures", "mlp", "--reference-epochs", "1", "--reference-train-images", "1000", "--json"])
        XCTAssertEqual(made.status, 0, made.output)
        XCTAssertTrue(made.output.contains("\"inputs\" : 30"), made.output)
        let evaluated = try runProgram(tracemarkBinary, ["fingerprint", "eval", "--fingerprint", path("f.safetensors"), path("m.safetensors"), "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.output)
        let json = evaluated.output[evaluated.output.firstIndex(of: "{")!...]
        let models = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["models"] as? [[String: Any]])
        XCTAssertEqual(models.first?["hits"] as? Int, 30, "the protected model answers its own fingerprint")

        let tooFew = try runProgram(tracemarkBinary, ["fingerprint", "make", "--model", path("m.safetensors"), "--twin", path("twin.safetensors"),
                                                      "--out", path("g.safetensors"), "--inputs", "0"])
        XCTAssertNotEqual(tooFew.status, 0)
        XCTAssertTrue(tooFew.output.contains("inputs must be"), tooFew.output)
        let notAFingerprint = try runProgram(tracemarkBinary, ["fingerprint", "eval", "--fingerprint", path("m.safetensors"), path("m.safetensors")])
        XCTAssertNotEqual(notAFingerprint.status, 0)
        XCTAssertTrue(notAFingerprint.output.contains("is not a fingerprint"), notAFingerprint.output)
    }
}
