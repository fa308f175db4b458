import Engine
import Foundation
import XCTest
@testable import Probe

/// The table of IANA's special-purpose ranges, and the check at the moment libcurl connects.
final class InternalAddressesTests: XCTestCase {
    func range(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> InternalAddresses.Range? {
        guard let address = parseAddress(text) else {
            XCTFail("\(text) does not parse", file: file, line: line)
            return nil
        }
        return InternalAddresses.range(containing: address)
    }

    func testEveryRegistryRangeAndEveryFormTheIssueFoundIsInternal() {
        let special = [
            "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255", "127.0.0.1", "127.255.255.254",
            "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.1", "192.0.0.170", "192.0.2.1", "192.31.196.1", "192.52.193.1",
            "192.88.99.1", "192.168.1.1", "192.175.48.1", "198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.7", "224.0.0.1",
            "239.255.255.255", "240.0.0.1", "254.255.255.255", "255.255.255.255",
            "::", "::1", "::127.0.0.1", "::10.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:7f00:1",
            "64:ff9b::7f00:1", "64:ff9b::1.1.1.1", "64:ff9b:1::a00:1", "100::1", "100:0:0:1::1", "2001::1", "2001:1::1", "2001:2::1",
            "2001:3::1", "2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1", "2001:1ff:ffff::1", "2001:db8::1", "2001:db8:ffff::1",
            "2002:7f00:1::1", "2002::1", "2620:4f:8000::1", "3fff::1", "3fff:fff:ffff::1", "5f00::1", "fc00::1", "fd12:3456::1",
            "fe80::1", "febf::1", "fec0::1", "feff::1", "ff02::1", "ff0e::1",
        ]
        for address in special { XCTAssertNotNil(range(address), "\(address) must be internal") }
        XCTAssertEqual(range("::127.0.0.1")?.description, "::/96 unspecified, loopback and deprecated IPv4-compatible (RFC 4291)")
        XCTAssertEqual(range("::ffff:127.0.0.1")?.description, "127.0.0.0/8 loopback (RFC 1122)", "a mapped address is judged by its IPv4 address")
    }

    func testPublicAddressesPass() {
        let global = [
            "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
            "169.253.255.255", "172.15.255.255", "172.32.0.0", "192.0.1.1", "192.0.3.1", "192.167.255.255", "192.169.0.0",
            "198.17.255.255", "198.20.0.0", "223.255.255.255",
            "::ffff:1.1.1.1", "2606:4700:4700::1111", "2001:200::1", "2001:4860:4860::8888", "2001:db9::1", "2003::1", "2a00:1450::1",
            "3fff:1000::1", "2620:4f:8001::1",
        ]
        for address in global { XCTAssertNil(range(address), "\(address) is a global address: \(range(address)?.description ?? "")") }
    }

    func testATableEntryCoversExactlyItsPrefix() {
        let entry = InternalAddresses.Range("198.18.0.0", 15, "benchmarking")
        XCTAssertTrue(entry.contains(parseAddress("198.19.1.2")!))
        XCTAssertFalse(entry.contains(parseAddress("198.20.0.0")!))
        XCTAssertFalse(entry.contains(parseAddress("::ffff:198.18.0.1")!), "lengths differ")
        XCTAssertNotNil(InternalAddresses.range(containing: [1, 2, 3]), "what is not an address is refused")
    }

    /// The service's probe must not reach an internal address however the host resolves when
    /// libcurl connects (DNS rebinding): the address is checked in the open-socket callback.
    func testAnInternalAddressIsRefusedAtConnectTimeAndTheServerSeesNothing() throws {
        let server = try CannedServer(answering: #"{"outputs": [{"name": "probabilities", "data": [0.1, 0.2, 0.7]}]}"#)
        defer { server.stop() }
        let request = OutgoingRequest(url: try RequestURL(base: "http://localhost:\(server.port)", path: "/v2/models/m/infer"), headers: [], body: Data("{}".utf8))
        var forbidding = TransportSettings()
        forbidding.allowsInternalAddresses = false
        let refused = try CurlSession(settings: forbidding).perform(request)
        guard case .transport(let reason)? = refused.failure else { return XCTFail("\(String(describing: refused.failure))") }
        // libcurl resolves localhost to ::1 as well, and tries both.
        XCTAssertTrue(reason.contains("address 127.0.0.1 is internal; refused (127.0.0.0/8 loopback (RFC 1122))"), reason)
        XCTAssertNil(refused.status)
        XCTAssertEqual(server.requests, 0, "the server must see no request")

        let allowed = try CurlSession(settings: TransportSettings()).perform(request)
        XCTAssertEqual(allowed.status, 200, "\(String(describing: allowed.failure))")
        XCTAssertEqual(server.requests, 1)
    }

    func testTheRefusalIsTheTranscriptRecordsError() throws {
        let (spec, testSet, _) = try ProberTests.fixture()
        let server = try CannedServer(answering: "{}")
        defer { server.stop() }
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 1, controls: 0, decoys: 0), seed: 1)
        let target = try Target(url: "http://localhost:\(server.port)", protocol: .openInferenceV2, model: "m", maxAttempts: 2, backoffMs: 1)
        var settings = target.transport
        settings.allowsInternalAddresses = false
        let adapter = try makeAdapter(for: target, context: ProbeContext(itemShape: plan.itemShape, classNames: plan.classNames, headers: []))
        var jitter = SeededGenerator(seed: 1)
        let record = Prober(adapter: adapter, settings: settings, options: ProbeOptions(target: target))
            .send(plan.queries[0], session: try CurlSession(settings: settings), limiter: RateLimiter(perSecond: nil), jitter: &jitter)
        XCTAssertEqual(record.status, .failed)
        XCTAssertTrue(record.error?.contains("address 127.0.0.1 is internal; refused") ?? false, record.error ?? "")
        XCTAssertEqual(record.attempts, 2)
        XCTAssertEqual(server.requests, 0)
    }
}
