import Data
import Engine
@testable import Forensics
import Foundation
@testable import Probe
@testable import Server
import TestSupport
import Vault
@testable import Watermark
import XCTest

/// Everything a tenant, a suspect's API or a file on disk hands Tracemark, mutated: each input
/// must be refused with an error that says why, or accepted as a value the code then uses
/// without a trap (trigger samples drawn, a network run, a report verified). Seeded and bounded
/// in time (`FuzzRun`).
final class FormatFuzzTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("fixtures")
    static let classNames = (0..<10).map { "class \($0)" }

    func fixture(_ path: String) throws -> Data { try Data(contentsOf: Self.fixtures.appendingPathComponent(path)) }

    // MARK: Watermark specs (tenants register them; the probe draws triggers from them)

    func testMutatedWatermarkSpecs() throws {
        var seeds = try (1...6).map { seed in
            try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: Self.classNames, choices: SecretChoices(), seed: UInt64(seed))
                .canonicalJSON()
        }
        for (combiner, seed) in [(Combiner.pixelMerge(try PixelMerge(ratio: 0.6)), 7), (.stripes(try Stripes(orientation: .vertical, pattern: [false, true, true, false])), 8)] {
            seeds.append(try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: Self.classNames,
                                                           choices: SecretChoices(watermark: combiner), seed: UInt64(seed)).canonicalJSON())
        }
        seeds.append(try WatermarkSpec.drawContentTrigger(dataset: "fashion-mnist", classNames: Self.classNames, itemShape: [1, 28, 28],
                                                          targetLabel: 3, seed: 9).canonicalJSON())
        // A small data set of the spec's item shape: a few images of every class, so every pair has sources.
        let labels = (0..<40).map { Int32($0 % 10) }
        let dataset = Dataset(name: "fashion-mnist", itemShape: [1, 28, 28], images: labels.flatMap { [Float](repeating: Float($0) / 10, count: 784) },
                              labels: labels, classNames: Self.classNames)
        FuzzRun.run("spec", seeds: seeds) { input in
            let spec = try WatermarkSpec.decode(input, path: "spec.json")
            guard spec.classNames.count == dataset.classNames.count else { return }
            let factory = try TriggerFactory(spec: spec, dataset: dataset)
            for samples in [factory.watermarkSamples(count: 3, seed: 1), factory.evasionSamples(count: 3, seed: 2),
                            factory.otherPairEvasionSamples(count: 3, seed: 3)] {
                XCTAssertEqual(samples.images.count, samples.count * 784)
                XCTAssertTrue(samples.images.allSatisfy { $0.isFinite }, "trigger pixels from \(String(decoding: input, as: UTF8.self))")
            }
        }
    }

    // MARK: Targets (tenants describe suspects' APIs) and what those APIs answer

    static let targetSeeds = [
        #"{"url":"http://suspect.example:8080","protocol":"open-inference-v2","model":"m","concurrency":2,"rate_limit":20,"timeout_ms":5000}"#,
        #"{"url":"https://suspect.example","protocol":"tf-serving","model":"m","input":{"layout":"nhwc","scale":255,"mean":[0.5],"std":[0.25]}}"#,
        #"{"url":"http://suspect.example/api/","protocol":"torchserve","model":"m","label_map":{"kitty":0,"puppy":1},"max_attempts":3}"#,
        #"{"url":"http://suspect.example","protocol":"template","template":{"path":"/predict","body":"{\"image\":{{input}},\"request_id\":\"{{id}}\"}","probabilities_path":"result.scores"},"backoff_ms":100,"max_backoff_ms":1000}"#,
        #"{"url":"http://suspect.example","protocol":"template","template":{"path":"/p","body":"{\"png\":\"{{input_png_base64}}\"}","label_path":"label"},"input":{"encoding":"png-base64"}}"#,
    ].map { Data($0.utf8) }

    func testMutatedTargets() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("target.json")
        let context = ProbeContext(itemShape: [1, 2, 2], classNames: ["cat", "dog", "bird"], headers: [])
        FuzzRun.run("target", seeds: Self.targetSeeds) { input in
            try input.write(to: path)
            let target = try Target.load(path.path)
            let request = try makeAdapter(for: target, context: context).request(for: [0, 0.25, 0.5, 1], queryID: 7)
            // Whatever the tenant wrote, the request goes to the target's own host over HTTP(S).
            XCTAssertEqual(request.url, target.requestURL, "\(request.url.text) is not the URL checked for \(target.url)")
            let url = try XCTUnwrap(URLComponents(string: request.url.text), request.url.text)
            XCTAssertTrue(["http", "https"].contains(url.scheme), request.url.text)
            XCTAssertNil(url.user, request.url.text)
            XCTAssertFalse(request.headers.contains { $0.contains("\r") || $0.contains("\n") || $0.contains("\0") }, "\(request.headers)")
        }
    }

    func testMutatedSuspectAnswers() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.appendingPathComponent("probe").path)
            .filter { $0.contains(".response") }.sorted()
        var adapters: [String: ProbeAdapter] = [:]
        var seeds: [Data] = []
        for name in names {
            let recorded = try XCTUnwrap(try JSONSerialization.jsonObject(with: try fixture("probe/" + name)) as? [String: Any])
            let protocolName = String(name.prefix { $0 != "." })
            let apiProtocol = try XCTUnwrap(Target.APIProtocol(rawValue: protocolName))
            let template = apiProtocol == .template ? try Target.Template(path: "/predict", body: "{{input}}", probabilitiesPath: "result.scores") : nil
            let target = try Target(url: "http://suspect.example", protocol: apiProtocol, model: apiProtocol == .template ? nil : "m",
                                    template: template, labelMap: ["kitty": 0, "puppy": 1])
            adapters[protocolName] = try makeAdapter(for: target, context: ProbeContext(itemShape: [1, 2, 2], classNames: ["cat", "dog", "bird"], headers: []))
            // The body, tagged with its protocol so the case knows which adapter reads it.
            seeds.append(Data(protocolName.utf8) + Data([0]) + (try JSONSerialization.data(withJSONObject: recorded["body"]!)))
        }
        FuzzRun.run("answers", seeds: seeds) { input in
            let split = input.firstIndex(of: 0) ?? input.startIndex
            guard let adapter = adapters[String(decoding: input[..<split], as: UTF8.self)] else { throw ProbeError.malformed("(protocol tag mutated)") }
            let answer = try adapter.answer(from: Data(input[input.index(after: min(split, input.endIndex - 1))...]))
            XCTAssertTrue((0..<3).contains(answer.label), "label \(answer.label)")
            if let probabilities = answer.probabilities { XCTAssertEqual(probabilities.count, 3) }
        }
    }

    // MARK: Calibrations (tenants upload them)

    func testMutatedCalibrations() throws {
        let references = try (0..<4).map { index in
            try Calibration.Reference(architecture: index % 2 == 0 ? "fmnist-cnn" : "mlp", seed: UInt64(index), trainImages: 10_000, epochs: 1,
                                  testAccuracy: 0.8, triggerHits: index, triggers: 500,
                                  upperBound: ClopperPearson(successes: index, trials: 500).upper, seconds: 2)
        }
        let calibration = try Calibration(
            specSha256: String(repeating: "cd", count: 32), created: "2026-11-28T19:00:00Z", confidence: 0.95, references: references,
            falseWatermarks: [try .init(name: "sources 3+5, the spec's way", samples: 200, referenceRates: [0, 0.01, 0, 0.02], watermarkedRate: 0.05)],
            watermarkedWsr: 0.97, otherPairs: [try .init(sources: [3, 5], samples: 200, watermarkedRate: 0.05),
                                              try .init(sources: [4, 6], samples: 200, watermarkedRate: 0.5)])
        FuzzRun.run("calibration", seeds: [try calibration.encoded()]) { input in
            let decoded = try Calibration.decode(input)
            XCTAssertTrue((0...1).contains(decoded.p0), "p0 \(decoded.p0) from \(String(decoding: input, as: UTF8.self))")
            XCTAssertEqual(decoded.p0, Calibration.nullRate(hits: decoded.references.map(\.triggerHits), triggers: decoded.references.map(\.triggers),
                                                            confidence: decoded.confidence), "p0 comes from the counts")
            _ = decoded.decoys(sha256: String(repeating: "0", count: 64))
        }
    }

    // MARK: Fingerprints (files on disk; to be sealed in the vault)

    func testMutatedFingerprints() throws {
        let provenance = try Fingerprint.Provenance(
            dataset: "fashion-mnist", split: "test", classNames: Self.classNames, protectedModelSha256: String(repeating: "ab", count: 32), twinModelSha256: String(repeating: "ac", count: 32),
            candidates: try .init(kind: "adversarial", count: 100, seed: 3, epsilon: 0.1, steps: 10),
            filterReferences: [try .init(architecture: "mlp", augmentation: "none", seed: 9, trainImages: 300, epochs: 1)])
        let fingerprint = try Fingerprint(provenance: provenance, itemShape: [1, 2, 2],
                                          inputs: .init(images: [0, 0.5, 1, 0.25, 1, 1, 0, 0], labels: [2, 9]),
                                          decoys: .init(images: [0.1, 0.2, 0.3, 0.4], labels: [9]))
        let provenanceJSON = try CanonicalJSON.encode(provenance)
        // The provenance alone, mutated as JSON, in the seed file's metadata.
        FuzzRun.run("fingerprint-provenance", seeds: [provenanceJSON]) { mutated in
            var file = try Safetensors(decoding: try fingerprint.encoded(), path: "fuzz")
            file.metadata["provenance"] = String(decoding: mutated, as: UTF8.self)
            let decoded = try Fingerprint(decoding: file.encoded())
            XCTAssertTrue(decoded.inputs.labels.allSatisfy { (0..<Int32(decoded.provenance.classNames.count)).contains($0) })
        }
        FuzzRun.run("fingerprint", seeds: [try fingerprint.encoded()], expectsAcceptance: false) { input in
            let decoded = try Fingerprint(decoding: input)
            XCTAssertEqual(decoded.inputs.images.count, decoded.inputs.count * decoded.itemShape.reduce(1, *))
        }
    }

    // MARK: Open Inference v2 requests (anyone who reaches `tracemark serve`)

    func testMutatedInferenceRequests() throws {
        let network = try ModelZoo.make("mlp", inputShape: [1, 8, 8], classes: 3, seed: 1)
        let classifier = Classifier(network: network, card: try ModelCard(architecture: "mlp", inputShape: [1, 8, 8], classNames: ["a", "b", "c"],
                                                                      mean: [0], std: [1]))
        let servers = [ServedOutput.probabilities, .topK(2), .label].map { ModelServer(classifier: classifier, name: "m", output: $0) }
        let image = (0..<64).map { Double($0) / 64 }
        let seeds = try [
            try InferenceProtocol.InferRequest(id: "1", inputs: [.init(name: "images", shape: [1, 1, 8, 8], datatype: "FP32", data: image)]),
            try InferenceProtocol.InferRequest(id: nil, inputs: [.init(name: "images", shape: [2, 64], datatype: "FP32", data: image + image)]),
            try InferenceProtocol.InferRequest(id: "x", inputs: [.init(name: "images", shape: [1, 8, 8], datatype: "FP32", data: image)]),
        ].map { try JSONEncoder().encode($0) }
        var round = 0
        FuzzRun.run("infer", seeds: seeds) { input in
            let request = try JSONDecoder().decode(InferenceProtocol.InferRequest.self, from: input)
            round += 1
            let server = servers[round % servers.count]
            let images = try server.images(from: request)
            let batch = images.count / 64
            let probabilities = images.withUnsafeBufferPointer { classifier.probabilities($0).values }
            let outputs = server.outputs(probabilities, batch: batch)
            // The answer must encode: a non-finite number here is a 500 with an empty body.
            _ = try JSONEncoder().encode(InferenceProtocol.InferResponse(modelName: "m", id: request.id, outputs: outputs))
        }
    }

    // MARK: Checkpoints and trigger sets (safetensors files handed to the CLI and the service)

    func testMutatedSafetensors() throws {
        let network = try ModelZoo.make("mlp", inputShape: [1, 8, 8], classes: 3, seed: 2)
        let checkpoint = Checkpoint.encode(Classifier(network: network, card: try ModelCard(architecture: "mlp", inputShape: [1, 8, 8],
                                                                                         classNames: ["a", "b", "c"], mean: [0.5], std: [0.25])))
        let triggers = TriggerSamples(itemShape: [1, 2, 2], images: [0, 0.25, 0.5, 1, 1, 0.5, 0.25, 0], labels: [2, 2],
                                      firstSources: [], secondSources: []).encoded()
        FuzzRun.run("safetensors", seeds: [triggers, checkpoint]) { input in
            let file = try Safetensors(decoding: input, path: "fuzz.safetensors")
            for entry in file.entries {
                var count = 1
                for dimension in entry.shape { count = count.multipliedReportingOverflow(by: dimension).partialValue }
                XCTAssertEqual(entry.values.count, count, entry.name)
            }
            guard file.metadata["format"] == nil else { return }
            try run(try Checkpoint.decode(input, path: "fuzz.safetensors"))
        }
        // The header alone, mutated as JSON, in front of the seed checkpoint's own tensor bytes.
        let headerLength = Int(checkpoint.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = checkpoint[8..<(8 + headerLength)], tensors = checkpoint[(8 + headerLength)...]
        // (Nearly every change to a shape or an offset must be refused, so few are accepted.)
        FuzzRun.run("checkpoint-header", seeds: [Data(header)], expectsAcceptance: false) { mutated in
            var file = Data()
            withUnsafeBytes(of: UInt64(mutated.count).littleEndian) { file.append(contentsOf: $0) }
            try run(try Checkpoint.decode(file + mutated + tensors, path: "fuzz.safetensors"))
        }
    }

    /// One forward pass of a decoded checkpoint, on a blank item of its own input shape.
    private func run(_ classifier: Classifier) throws {
        let item = classifier.itemSize
        guard item <= 1 << 16 else { throw EngineError.badInputShape(classifier.card.inputShape) }
        let probabilities = [Float](repeating: 0.5, count: item).withUnsafeBufferPointer { classifier.probabilities($0).values }
        XCTAssertEqual(probabilities.count, classifier.classCount)
    }

    // MARK: IDX data sets (files on disk, gzip'd or not)

    func testMutatedIDXFiles() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("images-idx3-ubyte").path
        func idx(magic: UInt32, sizes: [UInt32], body: [UInt8]) -> Data {
            var bytes: [UInt8] = []
            for word in [magic] + sizes { bytes += withUnsafeBytes(of: word.bigEndian, Array.init) }
            return Data(bytes + body)
        }
        let images = idx(magic: 0x0803, sizes: [3, 4, 5], body: (0..<60).map { UInt8($0 * 4) })
        let labels = idx(magic: 0x0801, sizes: [6], body: [0, 1, 2, 3, 4, 9])
        FuzzRun.run("idx", seeds: [images, labels]) { input in
            try input.write(to: URL(fileURLWithPath: path))
            if input.count > 3 && input[input.startIndex + 3] == 1 {
                let read = try IDX.readLabels(path)
                XCTAssertEqual(read.count, input.count - 8)
            } else {
                let read = try IDX.readImages(path)
                XCTAssertEqual(read.pixels.count, read.count * read.height * read.width)
                XCTAssertTrue(read.pixels.allSatisfy { (0...1).contains($0) })
            }
        }
    }

    // MARK: Transcripts and signed reports (anyone may hand them to `report verify`)

    func testMutatedTranscripts() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("transcript.jsonl").path
        let transcript = try fixture("report/transcript.jsonl")
        let envelope = try fixture("report/report.json")
        let owner = try PublicKey(pem: try fixture("report/owner.pub.pem"))
        // A whole transcript is large: mutate its first hundred lines, which hold every kind of record.
        let lines = transcript.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let head = Data(lines.prefix(100).joined(separator: [UInt8(ascii: "\n")])) + Data("\n".utf8)
        FuzzRun.run("transcript", seeds: [head]) { input in
            try input.write(to: URL(fileURLWithPath: path))
            let read = try Transcript.read(path)
            _ = try TranscriptFigures.measure(input)
            let verification = EvidenceReport.verify(envelope, publicKey: owner, transcript: input)
            XCTAssertTrue(verification.transcriptChecked || !verification.problems.isEmpty)
            XCTAssertLessThanOrEqual(read.records.count, 100)
        }
    }

    func testMutatedReports() throws {
        let envelope = try fixture("report/report.json")
        let transcript = try fixture("report/transcript.jsonl")
        let owner = try PublicKey(pem: try fixture("report/owner.pub.pem"))
        // The envelope as it is on disk: almost every change must break the signature, none may trap.
        var broken = 0
        let tally = FuzzRun.run("report-envelope", seeds: [envelope], expectsAcceptance: false) { input in
            let verification = EvidenceReport.verify(input, publicKey: owner, transcript: transcript)
            if !verification.isValid { broken += 1; throw ForensicsError.invalid(verification.problems.joined(separator: "; ")) }
            // DSSE's key id is an unauthenticated hint: it may change; what was signed may not.
            let verified = try DSSEEnvelope.decode(input), original = try DSSEEnvelope.decode(envelope)
            XCTAssertEqual(verified.payload, original.payload, "a changed report verified")
            XCTAssertEqual(verified.payloadType, original.payloadType, "a changed report verified")
        }
        XCTAssertEqual(broken, tally.rejected)
        // The statement itself, changed and signed again: what a report's signer could write.
        let key = try SigningKey.generate()
        let statement = try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(envelope).payload))
        FuzzRun.run("report-statement", seeds: [statement]) { input in
            let signed = try DSSEEnvelope.sign(input, type: EvidenceReport.Statement.payloadType, with: key).encoded()
            let verification = EvidenceReport.verify(signed, publicKey: key.publicKey, transcript: transcript)
            guard verification.signatureValid, verification.problems.allSatisfy({ $0.hasPrefix("predicate.owner_key_id") }) else {
                throw ForensicsError.invalid(verification.problems.joined(separator: "; "))
            }
            _ = try HTMLReport.render(try EvidenceReport.Statement.decode(input), verification: verification)
        }
    }
}
