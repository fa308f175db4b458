import Data
import Engine
import Foundation
import TestSupport
import Watermark
import XCTest
@testable import Vault

/// The `register` command as a user runs it: a wrong passphrase writes nothing, and kill -9 at
/// any moment leaves a vault that verifies with the new entry whole or absent.
final class RegisterCommandTests: XCTestCase {
    let environment = ["TRACEMARK_PASSPHRASE": "register test passphrase"]

    func prepare() throws -> (folder: URL, arguments: [String]) {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: DatasetCatalog.directory(for: "fashion-mnist") + "/t10k-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let folder = temporaryFolder(self)
        let keys = folder.appendingPathComponent("keys").path
        let made = try runProgram(tracemarkBinary, ["keys", "generate", "--out", keys], environment: environment)
        XCTAssertEqual(made.status, 0, made.output)
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: (0..<10).map { "c\($0)" },
                                                     choices: SecretChoices(), seed: 5, triggerSetSize: 300)
        let specPath = folder.appendingPathComponent("spec.json").path
        try spec.write(to: specPath)
        let model = folder.appendingPathComponent("model.safetensors")
        try Data("stand-in model bytes".utf8).write(to: model)
        return (folder, ["register", "--vault", folder.appendingPathComponent("vault").path, "--spec", specPath,
                         "--model", model.path, "--key", keys + "/owner.key.pem"])
    }

    func testAWrongPassphraseWritesNothing() throws {
        let (folder, arguments) = try prepare()
        let refused = try runProgram(tracemarkBinary, arguments, environment: ["TRACEMARK_PASSPHRASE": "not it"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.output.contains("wrong passphrase"), refused.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("vault").path), "a vault was created")
        let accepted = try runProgram(tracemarkBinary, arguments, environment: environment)
        XCTAssertEqual(accepted.status, 0, accepted.output)
        XCTAssertTrue(accepted.output.contains("plaintext spec is still at \(folder.appendingPathComponent("spec.json").path)"),
                      "the command must say where the plaintext spec is: \(accepted.output)")
    }

    func testKeysGoIntoKeysByDefaultAndNothingIsReadableByOthers() throws {
        let (folder, arguments) = try prepare()
        let generate = Process()
        generate.executableURL = URL(fileURLWithPath: tracemarkBinary)
        generate.arguments = ["keys", "generate", "--name", "second", "--json"]
        generate.currentDirectoryURL = folder
        generate.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        generate.standardOutput = FileHandle.nullDevice
        try generate.run()
        generate.waitUntilExit()
        XCTAssertEqual(generate.terminationStatus, 0)
        for name in ["second.key.pem", "second.pub.pem"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("keys/\(name)").path), "keys/\(name)")
        }
        let registered = try runProgram(tracemarkBinary, arguments, environment: environment)
        XCTAssertEqual(registered.status, 0, registered.output)
        for made in ["keys", "vault"] {
            let shared = try runProgram("/usr/bin/find", [folder.appendingPathComponent(made).path, "-perm", "/077"])
            XCTAssertEqual(shared.status, 0)
            XCTAssertEqual(shared.output, "", "\(made): files or folders others can read")
        }
    }

    func testKillDuringRegisterLeavesAVaultThatVerifies() throws {
        let (folder, arguments) = try prepare()
        let vaultFolder = folder.appendingPathComponent("vault")
        XCTAssertEqual(try runProgram(tracemarkBinary, arguments, environment: environment).status, 0)
        var count = 1
        // Kill at delays spread over a whole run (about half a second here), landing in loading,
        // sealing and the database transaction alike.
        for delay in stride(from: 0.05, through: 0.9, by: 0.05) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tracemarkBinary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let vault = try Vault.open(directory: vaultFolder)
            let result = try vault.verify()
            XCTAssertTrue(result.isSound, "killed after \(delay) s: \(result.problems)")
            XCTAssertTrue([count, count + 1].contains(result.entries), "killed after \(delay) s: \(result.entries) entries, had \(count)")
            XCTAssertEqual(result.records, result.entries)
            count = result.entries
        }
    }
}
