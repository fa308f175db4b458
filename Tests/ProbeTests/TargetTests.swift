import Engine
import Foundation
import TestSupport
import XCTest
@testable import Probe

/// A target is checked whole when it is decoded, with errors that name the key and what it allows.
final class TargetTests: XCTestCase {
    func load(_ json: String) -> String {
        let path = temporaryFolder(self).appendingPathComponent("target.json").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(json.utf8)))
        do { _ = try Target.load(path); return "" } catch { return "\(error)" }
    }

    func target(_ extra: String) -> String {
        #"{"url": "http://127.0.0.1:9", "protocol": "open-inference-v2", "model": "m", \#(extra)}"#
    }

    /// Issue 18, finding 5: libcurl reads a timeout of 0 as none, so one tarpit held the queue.
    func testTimeoutsOfZeroOrLessAreRefusedOnDecode() {
        for value in [0, -1] {
            XCTAssertTrue(load(target(#""timeout_ms": \#(value)"#)).contains("timeout_ms must be 1–120000"), "timeout_ms \(value)")
            XCTAssertTrue(load(target(#""connect_timeout_ms": \#(value)"#)).contains("connect_timeout_ms must be 1–30000"), "connect_timeout_ms \(value)")
        }
        XCTAssertTrue(load(target(#""timeout_ms": 120001"#)).contains("timeout_ms"))
        XCTAssertEqual(load(target(#""timeout_ms": 120000, "connect_timeout_ms": 1"#)), "")
    }

    func testEveryBoundAndEveryHeaderFieldIsCheckedWithAClearMessage() {
        let refused: [(extra: String, reason: String)] = [
            (#""connect_timeout_ms": 30001"#, "connect_timeout_ms must be 1–30000"), (#""timeout_ms": 120001"#, "timeout_ms must be 1–120000"),
            (#""concurrency": 0"#, "concurrency must be 1–64"), (#""concurrency": 65"#, "concurrency must be 1–64"),
            (#""rate_limit": 0"#, "rate_limit must be a finite positive number"), (#""rate_limit": -2"#, "rate_limit"),
            (#""max_attempts": 0"#, "max_attempts must be 1–20"), (#""max_attempts": 21"#, "max_attempts must be 1–20"),
            (#""backoff_ms": -1"#, "backoff_ms must be 0–60000"), (#""max_backoff_ms": 60001"#, "max_backoff_ms must be 0–60000"),
            (#""max_response_bytes": 0"#, "max_response_bytes must be 1–67108864"), (#""max_response_bytes": 67108865"#, "max_response_bytes"),
            (#""label_map": {"cat": -1}"#, #"label_map maps "cat" to -1"#),
            (#""input": {"std": [0]}"#, "input.std must hold non-zero numbers"), (#""input": {"std": []}"#, "input.std"),
            (#""input": {"std": [1e-7]}"#, "input.std"), (#""input": {"mean": [1e7]}"#, "input.mean"), (#""input": {"mean": []}"#, "input.mean"),
            (#""input": {"scale": 0}"#, "input.scale must be a number of magnitude"), (#""input": {"scale": -1e9}"#, "input.scale"),
            (#""auth": {"header": "X Key", "env": "T"}"#, "auth.header must be an HTTP header name"),
            (#""auth": {"header": "X-Key:", "env": "T"}"#, "auth.header"), (#""auth": {"header": "", "env": "T"}"#, "auth.header"),
            (#""auth": {"header": "X-Key", "env": "1T"}"#, "auth.env must be an environment variable name"),
            (#""auth": {"header": "X-Key", "env": "T=1"}"#, "auth.env"),
            (#""auth": {"header": "X-Key", "env": "T", "prefix": "Bearer\r\nHost: x "}"#, "auth.prefix must not contain control characters"),
            (#""ca_bundle": "/etc/ssl/a\u0000b""#, "ca_bundle must be a file path"), (#""ca_bundle": """#, "ca_bundle"),
        ]
        for (extra, reason) in refused {
            let error = load(target(extra))
            XCTAssertTrue(error.contains(reason), "\(extra): \(error)")
        }
        let everything = #"""
            "connect_timeout_ms": 30000, "timeout_ms": 120000, "concurrency": 64, "rate_limit": 0.01, "max_attempts": 20, "backoff_ms": 0,
            "max_backoff_ms": 60000, "max_response_bytes": 67108864, "label_map": {"cat": 0}, "insecure": false, "ca_bundle": "/tmp/ca.pem",
            "input": {"encoding": "png-base64", "layout": "nhwc", "scale": 255, "mean": [127.5], "std": [-0.5]},
            "auth": {"header": "X-API-Key", "env": "SUSPECT_TOKEN_2", "prefix": "Key\t"}
            """#
        XCTAssertEqual(load(target(everything)), "")
    }

    func testModelNamesAndTemplateFieldsCannotReachTheURLOrAHeader() {
        for model in ["", ".", "..", "m/../x", "m?x", "m#x", "m%2f", "m x", "m\r\nHost: x", "mödel"] {
            let json = try! JSONSerialization.data(withJSONObject: ["url": "http://h", "protocol": "tf-serving", "model": model])
            XCTAssertTrue(load(String(decoding: json, as: UTF8.self)).contains("model must be a name of letters, digits and -._~"), model.debugDescription)
        }
        XCTAssertEqual(load(#"{"url": "http://h", "protocol": "torchserve", "model": "resnet-50_v1.2~x"}"#), "")
        func template(_ fields: [String: String]) -> String {
            let json = try! JSONSerialization.data(withJSONObject: ["url": "http://h", "protocol": "template",
                                                                    "template": ["body": "{{input}}", "probabilities_path": "p"].merging(fields) { $1 }])
            return load(String(decoding: json, as: UTF8.self))
        }
        XCTAssertEqual(template(["path": "/predict?version=2"]), "")
        XCTAssertTrue(template(["path": "predict"]).contains("template.path must start with /"))
        XCTAssertTrue(template(["path": "@127.0.0.1:8080/v2/models/m/infer"]).contains("template.path must start with /"))
        XCTAssertTrue(template(["path": "/v2@127.0.0.1:8080/x"]).contains("holds @"))
        XCTAssertTrue(template(["path": "/p\r\nX-A: b"]).contains("template.path must not contain control characters"))
        XCTAssertTrue(template(["path": "/p", "content_type": "text/plain\r\nX-A: b"]).contains("template.content_type"))
        XCTAssertTrue(template(["path": "/p", "label_path": "a\u{0}b"]).contains("template.label_path"))
        XCTAssertTrue(template(["path": "/p", "body": "{\u{0}}"]).contains("template.body must not contain NUL"))
        XCTAssertEqual(template(["path": "/p", "body": "{\n  \"image\": {{input}}\r\n}"]), "", "line breaks in a JSON body are whitespace")
    }

    func testTheAuthSecretCannotStartAHeaderOfItsOwn() throws {
        let target = try Target(url: "http://h", protocol: .openInferenceV2, model: "m", auth: try .init(header: "Authorization", env: "TM_T", prefix: "Bearer "))
        XCTAssertEqual(try target.authHeader(environment: ["TM_T": "abc"]), "Authorization: Bearer abc")
        XCTAssertThrowsError(try target.authHeader(environment: ["TM_T": "abc\r\nHost: internal"])) {
            XCTAssertTrue("\($0)".contains("TM_T must not contain control characters"), "\($0)")
        }
    }

    func testChannelCountsAndTheLabelMapAreCheckedAgainstTheImagesWhenTheAdapterIsMade() throws {
        let context = ProbeContext(itemShape: [1, 2, 2], classNames: ["cat", "dog", "bird"], headers: [])
        let twoMeans = try Target(url: "http://h", protocol: .openInferenceV2, model: "m", input: try .init(mean: [0.5, 0.5]))
        XCTAssertThrowsError(try makeAdapter(for: twoMeans, context: context)) {
            XCTAssertTrue("\($0)".contains("input.mean has 2 values; the images have 1 channels"), "\($0)")
        }
        let past = try Target(url: "http://h", protocol: .torchServe, model: "m", labelMap: ["cat": 0, "evil": 3])
        XCTAssertThrowsError(try makeAdapter(for: past, context: context)) {
            XCTAssertTrue("\($0)".contains(#"label_map maps "evil" to 3, which is not a class index 0–2"#), "\($0)")
        }
    }

    func testATargetSurvivesTheServiceStoreUnchanged() throws {
        let json = #"{"url": "http://h:1/api", "protocol": "template", "template": {"path": "/p", "body": "{{input}}", "label_path": "l"}, "timeout_ms": 5}"#
        let target = try CanonicalJSON.decode(Target.self, from: Data(json.utf8))
        let again = try CanonicalJSON.decode(Target.self, from: try CanonicalJSON.encode(target))
        XCTAssertEqual(again.requestURL, target.requestURL)
        XCTAssertEqual(again.timeoutMs, 5)
        XCTAssertEqual(again.template?.labelPath, "l")
        XCTAssertEqual(target.requestURL.text, "http://h:1/api/p")
    }
}
