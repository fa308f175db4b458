import Foundation
import TestSupport
import XCTest

/// The service's check when an investigation is opened (`TargetPolicy`): every internal address
/// form issue 18 found, and a template path naming another host, are refused before any job
/// exists, and nothing is sent anywhere.
final class TargetPolicyTests: XCTestCase {
    func testInternalAddressFormsAndAHostileTemplatePathAreRefusedUpFront() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let added = try runProgram(tracemarkBinary, ["service", "tenant", "add", "--vault", directory.path, "--name", "owner", "--json"])
        let token = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: String])?["token"], added.output)
        // Should the check miss an address, the service's probe would connect to it: the service
        // is started with this listener as its proxy so that a miss lands here, not on a network.
        let listener = try ConnectionCounter()
        defer { listener.stop() }
        setenv("http_proxy", "http://127.0.0.1:\(listener.port)", 1)
        unsetenv("no_proxy")
        unsetenv("NO_PROXY")
        guard ProcessInfo.processInfo.environment["http_proxy"] == "http://127.0.0.1:\(listener.port)" else {
            unsetenv("http_proxy")
            return XCTFail("the proxy did not reach the environment; not starting a service that could send anywhere")
        }
        let service: RunningService
        do {
            defer { unsetenv("http_proxy") }
            service = try RunningService(directory: directory, test: self, allowPrivateTargets: false)
        }
        let watermark = try service.registerWatermark(fixture, token: token)

        let hosts = ["[::127.0.0.1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "[64:ff9b:1::a00:1]", "[2002:7f00:1::1]",
                     "[2001::1]", "[2001:db8::1]", "[fec0::1]", "[100::1]", "[3fff::1]", "[5f00::1]", "198.18.0.1", "192.0.0.1", "100.64.0.1",
                     "203.0.113.7", "192.0.2.1", "0.0.0.0", "240.0.0.1", "255.255.255.255", "2130706433", "0x7f.1"]
        for host in hosts {
            let body = try JSONSerialization.data(withJSONObject: ["watermark": watermark, "triggers": 5,
                                                                   "target": ["url": "http://\(host):9", "protocol": "open-inference-v2", "model": "m"]])
            let answer = try service.call("POST", "/v1/investigations", token: token, body: body)
            XCTAssertEqual(answer.status, 422, "\(host): \(String(decoding: answer.body, as: UTF8.self))")
            XCTAssertEqual(try errorCode(answer.body), "target_not_allowed", host)
        }

        let ssrf: [String: Any] = ["url": "http://1.1.1.1", "protocol": "template",
                                   "template": ["path": "@127.0.0.1:\(listener.port)/v2/models/m/infer", "body": "{{input}}",
                                                "probabilities_path": "outputs.0.data"]]
        let answer = try service.call("POST", "/v1/investigations", token: token,
                                      body: try JSONSerialization.data(withJSONObject: ["watermark": watermark, "triggers": 5, "target": ssrf]))
        XCTAssertTrue([400, 422].contains(answer.status), "\(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        XCTAssertTrue(String(decoding: answer.body, as: UTF8.self).contains("template.path"), String(decoding: answer.body, as: UTF8.self))

        XCTAssertTrue(try items(try service.call("GET", "/v1/investigations", token: token)).isEmpty)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(listener.connections, 0, "a refused target was connected to")
        _ = try service.stop()
    }
}

/// Accepts connections on 127.0.0.1 and counts them; answers nothing.
final class ConnectionCounter: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var count = 0

    var connections: Int { lock.withLock { count } }

    init() throws {
        (listener, port) = try loopbackListener()
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                lock.withLock { count += 1 }
                close(connection)
            }
        }
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
}
