import Foundation
import TestSupport
import XCTest

/// `tracemark engine` says which kernels run; without libdnnl the program still starts and trains
/// on its own kernels (TRACEMARK_DNNL_LIBRARY points the loader at a file that is not there).
final class EngineCommandTests: XCTestCase {
    private func engineReport(_ environment: [String: String]) throws -> [String: Any] {
        let run = try runProgram(tracemarkBinary, ["engine", "--json", "--repeats", "1", "--size", "64"], environment: environment)
        XCTAssertEqual(run.status, 0, run.output)
        let json = run.output[run.output.firstIndex(of: "{")!...]
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func testTheEngineRunsOnOneDNNAndFallsBackWhenTheLibraryIsMissing() throws {
        let present = try engineReport([:])
        XCTAssertEqual(present["kernel_library"] as? String, "onednn")
        XCTAssertNotNil(present["onednn_version"])
        XCTAssertEqual((present["onednn_convolution_kernels"] as? [String])?.count, 3)

        let missing = ["TRACEMARK_DNNL_LIBRARY": "/nonexistent/libdnnl.so.2"]
        let absent = try engineReport(missing)
        XCTAssertEqual(absent["kernel_library"] as? String, "openblas")
        XCTAssertNil(absent["onednn_version"])

        let folder = temporaryFolder(self)
        let model = folder.appendingPathComponent("m.safetensors").path
        let trained = try runProgram(tracemarkBinary, ["train", "--arch", "fmnist-cnn", "--epochs", "1", "--train-limit", "500",
                                                      "--out", model, "--json"], environment: missing)
        XCTAssertEqual(trained.status, 0, trained.output)
        let refused = try runProgram(tracemarkBinary, ["train", "--kernels", "onednn", "--epochs", "1", "--out", model], environment: missing)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("oneDNN did not start"), refused.output)
    }
}
