import Foundation
#if canImport(Glibc)
import Glibc
#endif
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

/// A listening TCP socket on 127.0.0.1 at a free port, for the tests' hand-made servers.
public func loopbackListener(backlog: Int32 = 64) throws -> (socket: Int32, port: Int) {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var yes: Int32 = 1
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
    guard bound == 0, listen(socket, backlog) == 0 else {
        close(socket)
        throw NSError(domain: "loopbackListener", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "bind or listen on 127.0.0.1 failed"])
    }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
    return (socket, Int(UInt16(bigEndian: address.sin_port)))
}
