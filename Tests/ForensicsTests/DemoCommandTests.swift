import Foundation
import TestSupport
import XCTest

/// `tracemark demo` end to end at a small size (a few thousand images): every stage runs, both
/// reports verify, the stolen copy is convicted and the independent model is not.
final class DemoCommandTests: XCTestCase {
    func testTheDemoConvictsTheStolenCopyAndNotTheIndependentModel() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
                              || ProcessInfo.processInfo.environment["TRACEMARK_FASHION_MNIST_DIR"] != nil,
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let folder = temporaryFolder(self).appendingPathComponent("demo")
        let result = try runProgram(tracemarkBinary, ["demo", "--out", folder.path, "--embed-epochs", "1", "--train-limit", "3000",
                                                      "--references", "2", "--thief-queries", "3000", "--thief-epochs", "1",
                                                      "--triggers", "80", "--controls", "20", "--decoys", "40", "--json"])
        XCTAssertEqual(result.status, 0, result.output)
        // Progress (standard error) comes first; the summary is the last unindented JSON object.
        let json = try XCTUnwrap(result.output.range(of: "\n{\n", options: .backwards).map { String(result.output[$0.lowerBound...]) })
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let suspects = try XCTUnwrap(summary["suspects"] as? [[String: Any]])
        XCTAssertEqual(suspects.map { $0["name"] as? String }, ["stolen", "independent"])
        XCTAssertEqual(suspects.map { $0["verdict"] as? String }, ["infringement", "no evidence"])
        for suspect in suspects {
            XCTAssertEqual(suspect["verified"] as? Bool, true)
            XCTAssertEqual(suspect["triggers"] as? Int, 80)
        }
        for name in ["stolen.report.html", "independent.report.json", "stolen.jsonl", "vault/vault.sqlite", "keys/owner.pub.pem"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("victim.spec.json").path), "the plaintext spec is removed")
        let again = try runProgram(tracemarkBinary, ["demo", "--out", folder.path])
        XCTAssertNotEqual(again.status, 0, "a used folder is refused")
    }
}
