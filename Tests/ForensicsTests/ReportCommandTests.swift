import Data
import Engine
import Foundation
import TestSupport
import Training
import Watermark
import XCTest
@testable import Forensics

/// The whole path as a user runs it: register, calibrate into the vault, probe a served model,
/// create the signed report, verify it (alone, with the transcript, with the disclosure),
/// render it; a changed transcript byte fails.
final class ReportCommandTests: XCTestCase {
    func testCalibrateProbeReportVerifyRenderDisclose() throws {
        let folder = temporaryFolder(self)
        let dataFolder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataFolder + "/t10k-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
        var spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: testSet.classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 3)
        spec.triggerSetSize = 60
        let modelPath = folder.appendingPathComponent("suspect.safetensors").path
        try Checkpoint.save(try Classifier.untrained("mlp", for: testSet, seed: 4), to: modelPath)
        let specPath = folder.appendingPathComponent("spec.json").path
        try spec.write(to: specPath)
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let environment = ["TRACEMARK_PASSPHRASE": "report test"]
        func run(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
            let result = try runProgram(tracemarkBinary, arguments, environment: environment)
            XCTAssertEqual(result.status, status, "tracemark \(arguments.joined(separator: " ")):\n\(result.output)", file: file, line: line)
            return result.output
        }

        _ = try run(["keys", "generate", "--out", path("keys")])
        _ = try run(["register", "--vault", path("vault"), "--spec", specPath, "--model", modelPath, "--key", path("keys/owner.key.pem")])
        let missing = try run(["report", "create", "--transcript", specPath, "--vault", path("vault"), "--watermark", "0",
                               "--key", path("keys/owner.key.pem"), "--out", path("report.json")], expect: 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("report.json")), missing)
        let calibrated = try run(["calibrate", "--vault", path("vault"), "--watermark", "0", "--key", path("keys/owner.key.pem"),
                                  "--references", "2", "--architectures", "mlp", "--train-images", "300", "--false-watermark-samples", "20",
                                  "--model", modelPath, "--json"])
        XCTAssertTrue(calibrated.contains("\"p0\""), calibrated)

        let port = try serveModel(modelPath, for: self)
        try Data(#"{"url": "http://127.0.0.1:\#(port)", "protocol": "open-inference-v2", "model": "suspect"}"#.utf8).write(to: URL(fileURLWithPath: path("target.json")))
        _ = try run(["probe", "--target", path("target.json"), "--vault", path("vault"), "--watermark", "0", "--out", path("t.jsonl"),
                     "--triggers", "60", "--controls", "20", "--decoys", "20"])

        let created = try run(["report", "create", "--transcript", path("t.jsonl"), "--vault", path("vault"), "--watermark", "0",
                               "--key", path("keys/owner.key.pem"), "--model", modelPath, "--out", path("report.json"), "--json"])
        XCTAssertTrue(created.contains("\"fidelity\" : 1"), "the suspect is our model: \(created)")
        let pub = path("keys/owner.pub.pem")
        XCTAssertTrue(try run(["report", "verify", path("report.json"), "--pubkey", pub]).contains("report verified"))
        let checked = try run(["report", "verify", path("report.json"), "--pubkey", pub, "--transcript", path("t.jsonl"), "--json"])
        XCTAssertTrue(checked.contains("\"transcript_checked\" : true"), checked)
        _ = try run(["report", "disclose", "--vault", path("vault"), "--watermark", "0", "--out", path("disclosure.json")])
        let opened = try run(["report", "verify", path("report.json"), "--pubkey", pub, "--disclosure", path("disclosure.json"), "--json"])
        XCTAssertTrue(opened.contains("\"disclosure_checked\" : true"), opened)
        _ = try run(["report", "render", path("report.json"), "--pubkey", pub, "--transcript", path("t.jsonl"), "--out", path("report.html")])
        let html = try String(contentsOfFile: path("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("signature and figures verified"))
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("<link"), "no scripts or external assets")

        var transcript = try Data(contentsOf: URL(fileURLWithPath: path("t.jsonl")))
        transcript[transcript.count / 2] ^= 0x01
        try transcript.write(to: URL(fileURLWithPath: path("t.jsonl")))
        let failed = try run(["report", "verify", path("report.json"), "--pubkey", pub, "--transcript", path("t.jsonl")], expect: 1)
        XCTAssertTrue(failed.contains("does NOT verify"), failed)
    }
}
