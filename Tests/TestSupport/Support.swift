import Foundation
import XCTest

/// The `tracemark` binary `swift test` built beside the test bundle.
public let tracemarkBinary: String = {
    var folder = Bundle.main.bundleURL
    for _ in 0..<3 {
        let candidate = folder.appendingPathComponent("tracemark").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        folder.deleteLastPathComponent()
    }
    return Bundle.main.bundleURL.appendingPathComponent("tracemark").path
}()

public struct ProcessResult {
    public var status: Int32
    public var output: String
}

/// Runs a program to completion with the given environment additions, capturing stdout+stderr.
@discardableResult
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self))
}

/// A fresh temporary folder, removed when the test ends.
public func temporaryFolder(_ test: XCTestCase) -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracemark-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    return folder
}

/// The `openssl` command, or nil where it is not installed.
public let opensslPath: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Starts `tracemark serve` for `model` on a free port until `test` ends; returns the port.
public func serveModel(_ model: String, for test: XCTestCase) throws -> Int {
    let server = Process()
    server.executableURL = URL(fileURLWithPath: tracemarkBinary)
    server.arguments = ["serve", "--model", model, "--port", "0", "--threads", "1"]
    let output = Pipe()
    server.standardOutput = output
    server.standardError = FileHandle.nullDevice
    try server.run()
    test.addTeardownBlock { server.terminate(); server.waitUntilExit() }
    let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
    return try XCTUnwrap(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }, "no port in '\(line)'")
}
