import Foundation
import TestSupport
import XCTest
@testable import Probe

/// Every URL the probe fetches is one URL, joined, parsed by libcurl and checked before any
/// connection: a path cannot name another host, and userinfo, `@` and `\` are refused.
final class RequestURLTests: XCTestCase {
    func loadTarget(_ json: String) throws -> Target {
        let path = temporaryFolder(self).appendingPathComponent("target.json").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(json.utf8)))
        return try Target.load(path)
    }

    /// Issue 18, finding 1: `url` is public, `template.path` starts with `@` and turns the
    /// public host into userinfo, so libcurl went to the host after the `@`.
    func testATemplatePathCannotNameAnotherHost() throws {
        let server = try CannedServer(answering: #"{"outputs": [{"name": "probabilities", "data": [1, 0, 0]}]}"#)
        defer { server.stop() }
        let json = """
            {"url": "http://203.0.113.7", "protocol": "template", "connect_timeout_ms": 500, "max_attempts": 1,
             "template": {"path": "@127.0.0.1:\(server.port)/v2/models/m/infer", "body": "{{input}}", "probabilities_path": "outputs.0.data"}}
            """
        do {
            let target = try loadTarget(json)
            let adapter = try makeAdapter(for: target, context: ProbeContext(itemShape: [1, 2, 2], classNames: ["a", "b", "c"], headers: []))
            let exchange = try CurlSession(settings: target.transport).perform(try adapter.request(for: [0, 0, 0, 0], queryID: 1))
            XCTFail("the target was accepted and fetched (HTTP \(exchange.status ?? 0))")
        } catch {
            XCTAssertTrue("\(error)".contains("template.path"), "\(error)")
        }
        XCTAssertEqual(server.requests, 0, "the host after the @ must never be contacted")
    }

    func testUserinfoAtSignsAndBackslashesAreRefusedAnywhere() throws {
        for url in ["http://user@127.0.0.1:9", "http://user:secret@127.0.0.1:9", "http://203.0.113.7@127.0.0.1:9", "http://127.0.0.1:9/a@b",
                    "http://127.0.0.1\\@203.0.113.7:9", "http://127.0.0.1:9/a\\b", "http://127.0.0.1:9?q=@x", "http://127.0.0.1:9\r\nX-A: b"] {
            let json = #"{"url": \#(String(data: try JSONSerialization.data(withJSONObject: url, options: .fragmentsAllowed), encoding: .utf8)!), "protocol": "open-inference-v2", "model": "m"}"#
            XCTAssertThrowsError(try loadTarget(json), url)
        }
    }

    func testTheJoinedURLIsWhatLibcurlReads() throws {
        let plain = try RequestURL(base: "http://suspect.example:8080/", path: "/v2/models/m/infer")
        XCTAssertEqual(plain.text, "http://suspect.example:8080/v2/models/m/infer")
        XCTAssertEqual(plain.host, "suspect.example")
        XCTAssertEqual(try RequestURL(base: "https://h/api", path: "/v1/models/m:predict?x=1").text, "https://h/api/v1/models/m:predict?x=1")
        XCTAssertEqual(try RequestURL(base: "http://[::1]:9", path: "/").host, "::1")
        XCTAssertEqual(try RequestURL(base: "http://0x7f.1:9", path: "/").host, "127.0.0.1", "libcurl's reading of the host is the one checked")
    }

    func testEveryRuleRefusesItsURL() {
        let refused: [(base: String, path: String, reason: String)] = [
            ("ftp://h", "/", "http:// or https://"), ("file:///etc/passwd", "/", "http:// or https://"), ("gopher://h:70", "/", "http:// or https://"),
            ("h:80", "/", "does not parse"), ("http://", "/", "does not parse"), ("http://h", "predict", "does not start with /"),
            ("http://h", "", "does not start with /"), ("http://h?a=1", "/p", "query or fragment"), ("http://h#f", "/p", "query or fragment"),
            ("http://u@h", "/", "holds @"), ("http://h", "/@x", "holds @"), ("http://h", "/a\\b", "holds \\"),
            ("http://suspect.examp|e", "/", "a host is a DNS name"), ("http://h%7Cx", "/", "a host is a DNS name"),
            ("http://h", "/a b", "holds a space"), ("http://h", "/a\u{0}b", "holds control character U+0"), ("http://h", "/a\r\nHost: x", "holds control character U+D"),
        ]
        for (base, path, reason) in refused {
            XCTAssertThrowsError(try RequestURL(base: base, path: path), "\(base) + \(path)") {
                XCTAssertTrue("\($0)".contains(reason), "\(base) + \(path): \($0)")
            }
        }
    }
}
