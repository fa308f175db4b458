import Data
import Engine
import Foundation
import TestSupport
import XCTest

/// The extraction thieves as the detection bench runs them: against `tracemark serve` over HTTP,
/// never reading the victim's checkpoint.
final class ThievesOverHTTPTests: XCTestCase {
    func testExtractionAndJBDAQueryAServedVictim() throws {
        let dataFolder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: dataFolder + "/train-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let folder = temporaryFolder(self)
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
        try Checkpoint.save(try Classifier.untrained("mlp", for: testSet, seed: 4), to: path("victim.safetensors"))
        let victim = "http://127.0.0.1:\(try serveModel(path("victim.safetensors"), for: self))"
        func run(_ arguments: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
            let result = try runProgram(tracemarkBinary, arguments)
            XCTAssertEqual(result.status, status, "tracemark \(arguments.joined(separator: " ")):\n\(result.output)", file: file, line: line)
            return result.output
        }
        let extracted = try run(["attack", "extract", "--victim", victim, "--victim-model", "victim", "--arch", "mlp", "--budget", "64",
                                 "--epochs", "1", "--out", path("copy.safetensors"), "--json"])
        XCTAssertTrue(extracted.contains("\"attack\" : \"extract\""), extracted)
        let jbda = try run(["attack", "jbda", "--victim", victim, "--victim-model", "victim", "--arch", "mlp", "--seed-size", "16",
                            "--rounds", "2", "--epochs", "1", "--out", path("jbda.safetensors"), "--json"])
        XCTAssertTrue(jbda.contains("\"queries\" : \"64\""), jbda)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("jbda.safetensors")))
        let unnamed = try run(["attack", "jbda", "--victim", victim, "--out", path("other.safetensors")], expect: 64)
        XCTAssertTrue(unnamed.contains("needs --arch"), unnamed)
    }
}
