import Foundation
import TestSupport
import XCTest
@testable import Probe

/// Each adapter against the request and response fixtures in `fixtures/probe/`.
final class AdapterFixtureTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/probe")
    let image: [Float] = [0, 0.25, 0.5, 1]
    let context = ProbeContext(itemShape: [1, 2, 2], classNames: ["cat", "dog", "bird"], headers: ["X-API-Key: secret"])

    func fixture(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], name)
    }

    func adapter(_ target: Target) throws -> ProbeAdapter { try makeAdapter(for: target, context: context) }

    func adapter(_ apiProtocol: Target.APIProtocol) throws -> ProbeAdapter {
        try adapter(try Target(url: "http://suspect.example:8080", protocol: apiProtocol, model: "m"))
    }

    func checkRequest(_ adapter: ProbeAdapter, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try fixture(name)
        let request = try adapter.request(for: image, queryID: 7)
        XCTAssertEqual(request.method, expected["method"] as? String, file: file, line: line)
        XCTAssertEqual(request.url.text, "http://suspect.example:8080" + (expected["path"] as! String), file: file, line: line)
        XCTAssertTrue(request.headers.contains("Content-Type: \(expected["content_type"] as! String)"), "\(request.headers)", file: file, line: line)
        XCTAssertTrue(request.headers.contains("X-API-Key: secret"), "the auth header must be sent", file: file, line: line)
        if let bodyFile = expected["body_file"] as? String {
            XCTAssertEqual(request.body, try Data(contentsOf: Self.folder.appendingPathComponent(bodyFile)), file: file, line: line)
        } else {
            let sent = try JSONSerialization.jsonObject(with: request.body) as? NSDictionary
            XCTAssertEqual(sent, expected["body"] as? NSDictionary, "\(name): sent \(String(decoding: request.body, as: UTF8.self))",
                           file: file, line: line)
        }
    }

    func checkResponses(_ adapter: ProbeAdapter, _ prefix: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasPrefix(prefix + ".response") }
        XCTAssertFalse(names.isEmpty, file: file, line: line)
        for name in names.sorted() {
            let recorded = try fixture(name)
            let body = try JSONSerialization.data(withJSONObject: recorded["body"]!)
            let expected = recorded["expected"] as! [String: Any]
            let answer = try adapter.answer(from: body)
            XCTAssertEqual(answer.label, expected["label"] as? Int, name, file: file, line: line)
            XCTAssertEqual(answer.probabilities, (expected["probabilities"] as? [NSNumber])?.map(\.doubleValue), name, file: file, line: line)
        }
        XCTAssertThrowsError(try adapter.answer(from: Data("{\"trunc".utf8)), file: file, line: line)
    }

    func testOpenInferenceV2() throws {
        let adapter = try adapter(.openInferenceV2)
        try checkRequest(adapter, "open-inference-v2.request.json")
        try checkResponses(adapter, "open-inference-v2")
    }

    func testTensorFlowServing() throws {
        let adapter = try adapter(.tfServing)
        try checkRequest(adapter, "tf-serving.request.json")
        try checkResponses(adapter, "tf-serving")
    }

    func testTorchServe() throws {
        let adapter = try adapter(try Target(url: "http://suspect.example:8080", protocol: .torchServe, model: "m", labelMap: ["kitty": 0, "puppy": 1]))
        try checkRequest(adapter, "torchserve.request.json")
        try checkResponses(adapter, "torchserve")
        XCTAssertThrowsError(try adapter.answer(from: Data(#"{"zebra": 1.0}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("label_map"), "\($0)")
        }
    }

    func testGenericTemplate() throws {
        let adapter = try adapter(try Target(
            url: "http://suspect.example:8080", protocol: .template, input: try .init(layout: .flat, scale: 255),
            template: try .init(path: "/predict", body: #"{"image": {{input}}, "request_id": "{{id}}"}"#, probabilitiesPath: "result.scores")))
        try checkRequest(adapter, "template.request.json")
        try checkResponses(adapter, "template")
    }

    func testTargetFilesAreCheckedWithClearErrors() throws {
        let folder = temporaryFolder(self)
        func load(_ text: String) -> String {
            let path = folder.appendingPathComponent("t.json").path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
            do { _ = try Target.load(path); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(load(#"{"url": "http://h:1", "protocol": "open-inference-v2", "model": "m", "rate_limit": 5}"#), "")
        XCTAssertTrue(load(#"{"url": "ftp://h", "protocol": "open-inference-v2", "model": "m"}"#).contains("http://"))
        XCTAssertTrue(load(#"{"url": "http://h", "protocol": "grpc"}"#).contains("not a valid target"))
        XCTAssertTrue(load(#"{"url": "http://h", "protocol": "tf-serving"}"#).contains("needs a model name"))
        XCTAssertTrue(load(#"{"url": "http://h", "protocol": "template"}"#).contains("needs a template"))
        let target = try Target(url: "http://h", protocol: .openInferenceV2, model: "m",
                                auth: try .init(header: "Authorization", env: "TM_TEST_TOKEN", prefix: "Bearer "))
        XCTAssertEqual(try target.authHeader(environment: ["TM_TEST_TOKEN": "abc"]), "Authorization: Bearer abc")
        XCTAssertThrowsError(try target.authHeader(environment: [:]))
    }
}
