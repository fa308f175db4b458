import Foundation
import TestSupport
import XCTest
@testable import Probe

/// TLS verification against a local HTTPS server with a self-signed certificate (made by the
/// `openssl` command, served by Python's ssl module): refused by default, accepted with the
/// certificate as `ca_bundle`, and accepted with `insecure`.
final class TLSTests: XCTestCase {
    func testVerificationIsOnByDefaultAndACustomCABundleOrInsecureGetThrough() throws {
        let tools = ["/usr/bin/openssl", "/usr/bin/python3"]
        for tool in tools where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("\(tool) is not installed")
        }
        let folder = temporaryFolder(self)
        let (key, certificate) = (folder.appendingPathComponent("key.pem").path, folder.appendingPathComponent("cert.pem").path)
        let made = Process()
        made.executableURL = URL(fileURLWithPath: tools[0])
        made.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                          "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        made.standardError = FileHandle.nullDevice
        try made.run()
        made.waitUntilExit()
        XCTAssertEqual(made.terminationStatus, 0)

        let script = """
            import http.server, ssl, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    self.rfile.read(int(self.headers['Content-Length']))
                    body = b'{"outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,3],"data":[0.1,0.2,0.7]}]}'
                    self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *args): pass
            server = http.server.HTTPServer(('127.0.0.1', 0), H)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain('\(certificate)', '\(key)')
            server.socket = context.wrap_socket(server.socket, server_side=True)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """
        let server = Process()
        server.executableURL = URL(fileURLWithPath: tools[1])
        server.arguments = ["-c", script]
        let output = Pipe()
        server.standardOutput = output
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let port = try XCTUnwrap(Int(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))

        func answer(caBundle: String? = nil, insecure: Bool? = nil) throws -> Exchange {
            let target = try Target(url: "https://127.0.0.1:\(port)", protocol: .openInferenceV2, model: "m", caBundle: caBundle, insecure: insecure)
            let adapter = try makeAdapter(for: target, context: ProbeContext(itemShape: [1, 2, 2], classNames: ["a", "b", "c"], headers: []))
            return try CurlSession(settings: target.transport).perform(try adapter.request(for: [0, 0, 0, 0], queryID: 1))
        }
        let refused = try answer()
        guard case .transport? = refused.failure else { return XCTFail("a self-signed certificate must be refused by default") }
        let trusted = try answer(caBundle: certificate)
        XCTAssertNil(trusted.failure, "\(String(describing: trusted.failure))")
        XCTAssertEqual(trusted.status, 200)
        let insecure = try answer(insecure: true)
        XCTAssertEqual(insecure.status, 200)
    }
}
