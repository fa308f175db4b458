import Data
import Engine
@testable import Forensics
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Probe
import TestSupport
import Vault
import Watermark
import XCTest

/// `tracemark service` as teams use it, over HTTP: two tenants never see each other's
/// anything; an investigation of a served model ends in a report that verifies offline; a
/// service killed mid-investigation resumes it on restart, each query once in the transcript.
final class ServiceTests: XCTestCase {
    static let passphrase = ["TRACEMARK_PASSPHRASE": "service test"]

    func testTwoTenantsSeeOnlyTheirOwnOnEveryRoute() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let alice = try addTenant("alice", in: directory), bob = try addTenant("bob", in: directory)
        let service = try RunningService(directory: directory, test: self)
        let port = try serveModel(fixture.modelPath, for: self)

        let watermark = try service.registerWatermark(fixture, token: alice)
        let investigation = try service.investigate(watermark: watermark, port: port, token: alice, counts: (40, 10, 10))
        XCTAssertEqual(try service.waitUntilFinished(investigation, token: alice)["status"] as? String, "done")

        let owned = ["/v1/watermarks/\(watermark)", "/v1/investigations/\(investigation)", "/v1/investigations/\(investigation)/report",
                     "/v1/investigations/\(investigation)/report.html", "/v1/investigations/\(investigation)/transcript"]
        for path in owned {
            XCTAssertEqual(try service.call("GET", path, token: alice).status, 200, path)
            let stranger = try service.call("GET", path, token: bob)
            XCTAssertEqual(stranger.status, 404, "bob must not see \(path)")
            XCTAssertEqual(try errorCode(stranger.body), "not_found", path)
            XCTAssertEqual(try service.call("GET", path.replacingOccurrences(of: "_", with: "_x"), token: alice).status, 404,
                           "a made-up id answers the same 404")
        }
        let calibration = try Data(contentsOf: URL(fileURLWithPath: fixture.calibrationPath))
        XCTAssertEqual(try service.call("PUT", "/v1/watermarks/\(watermark)/calibration", token: bob, body: calibration).status, 404)
        let probeWithTheirs = try service.call("POST", "/v1/investigations", token: bob,
                                               body: investigationBody(watermark: watermark, port: port, counts: (5, 0, 0)))
        XCTAssertEqual(probeWithTheirs.status, 404, "bob must not probe with alice's watermark")
        for list in ["/v1/watermarks", "/v1/investigations"] {
            XCTAssertEqual(try items(try service.call("GET", list, token: alice)).count, 1, list)
            XCTAssertEqual(try items(try service.call("GET", list, token: bob)).count, 0, "bob's \(list) must be empty")
        }

        for route in [("GET", "/v1/watermarks"), ("POST", "/v1/watermarks"), ("GET", "/v1/investigations/\(investigation)"),
                      ("POST", "/v1/investigations")] {
            for token in [nil, "tmk_" + String(repeating: "0", count: 64), alice + "x"] {
                let answer = try service.call(route.0, route.1, token: token, body: Data("{}".utf8))
                XCTAssertEqual(answer.status, 401, "\(route) with token \(token ?? "none")")
                XCTAssertEqual(try errorCode(answer.body), "unauthorized")
            }
        }
        let tooLarge = try service.call("POST", "/v1/investigations", token: alice, body: Data(count: 300 << 10))
        XCTAssertEqual(tooLarge.status, 413)
        XCTAssertEqual(try errorCode(tooLarge.body), "payload_too_large")
        XCTAssertEqual(try errorCode(try service.call("POST", "/v1/watermarks", token: alice, body: Data("{\"name\": 3".utf8)).body), "invalid_json")
        XCTAssertEqual(try errorCode(try service.call("GET", "/v1/nothing", token: alice).body), "not_found")

        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: try service.call("GET", "/openapi.json", token: nil).body) as? [String: Any])
        let paths = try XCTUnwrap(document["paths"] as? [String: Any])
        for path in ["/v1/watermarks", "/v1/watermarks/{id}", "/v1/watermarks/{id}/calibration", "/v1/investigations", "/v1/investigations/{id}",
                     "/v1/investigations/{id}/report", "/v1/investigations/{id}/report.html", "/v1/investigations/{id}/transcript",
                     "/v1/signing-key", "/v1/health", "/openapi.json"] {
            XCTAssertNotNil(paths[path], "/openapi.json must describe \(path)")
        }
        let log = try service.stop()
        XCTAssertTrue(log.contains("GET /v1/watermarks"), "the log names requests:\n\(log)")
        for token in [alice, bob] { XCTAssertFalse(log.contains(token), "a token leaked into the log") }
        let store = try Data(contentsOf: directory.appendingPathComponent("service.sqlite"))
        for token in [alice, bob] { XCTAssertNil(store.range(of: Data(token.utf8)), "a token is stored in the clear") }
    }

    func testInvestigationEndsInAReportThatVerifiesOffline() throws {
        let fixture = try Fixture.shared()
        let (folder, directory, token, service, port) = try serviceWithServedModel(fixture)

        let watermark = try service.registerWatermark(fixture, token: token, withCalibration: false)
        let uncalibrated = try service.call("POST", "/v1/investigations", token: token, body: investigationBody(watermark: watermark, port: port, counts: (5, 0, 0)))
        XCTAssertEqual(uncalibrated.status, 409)
        XCTAssertEqual(try errorCode(uncalibrated.body), "watermark_not_calibrated")
        let calibration = try Data(contentsOf: URL(fileURLWithPath: fixture.calibrationPath))
        let calibrated = try json(try service.call("PUT", "/v1/watermarks/\(watermark)/calibration", token: token, body: calibration))
        XCTAssertEqual(calibrated["calibrated"] as? Bool, true)
        XCTAssertNil(calibrated["spec"], "the secret spec never leaves the vault")

        let investigation = try service.investigate(watermark: watermark, port: port, token: token, counts: (60, 20, 20))
        let early = try service.call("GET", "/v1/investigations/\(investigation)/report", token: token)
        let earlyCode = try errorCode(early.body)
        XCTAssertTrue(early.status == 200 || (early.status == 409 && earlyCode == "report_not_ready"), "\(early.status)")
        let finished = try service.waitUntilFinished(investigation, token: token)
        XCTAssertEqual(finished["status"] as? String, "done", "\(finished)")
        XCTAssertEqual((finished["progress"] as? [String: Any])?["done"] as? Int, 100)

        func save(_ path: String, as name: String) throws -> String {
            let answer = try service.call("GET", path, token: token)
            XCTAssertEqual(answer.status, 200, path)
            let file = folder.appendingPathComponent(name)
            try answer.body.write(to: file)
            return file.path
        }
        let report = try save("/v1/investigations/\(investigation)/report", as: "report.json")
        let transcript = try save("/v1/investigations/\(investigation)/transcript", as: "transcript.jsonl")
        let page = try String(contentsOfFile: try save("/v1/investigations/\(investigation)/report.html", as: "report.html"), encoding: .utf8)
        let chosePairs = try XCTUnwrap(try JSONSerialization.jsonObject(with: calibration) as? [String: Any])["decoy_pairs"] != nil
        let header = try Transcript.read(transcript).header
        XCTAssertEqual(header.decoyCalibrationSha256, chosePairs ? sha256Hex(calibration) : nil, "decoys come from the calibration's pairs when it chose some")
        XCTAssertTrue(page.contains("signature and figures verified"), "the page says the report verified")
        let key = try json(try service.call("GET", "/v1/signing-key", token: nil))
        let pubkey = folder.appendingPathComponent("service.pub.pem")
        try Data(try XCTUnwrap(key["pem"] as? String).utf8).write(to: pubkey)
        let verified = try runProgram(tracemarkBinary, ["report", "verify", report, "--pubkey", pubkey.path, "--transcript", transcript, "--json"])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertTrue(verified.output.contains("\"transcript_checked\" : true"), verified.output)
        XCTAssertTrue(verified.output.contains("\"verdict\" : \"\(try XCTUnwrap(finished["verdict"] as? String))\""), verified.output)
        // While the service runs, so SQLite's -wal and -shm files are there too.
        let shared = try runProgram("/usr/bin/find", [directory.path, "-perm", "/077"])
        XCTAssertEqual(shared.status, 0)
        XCTAssertEqual(shared.output, "", "files or folders of the service directory others can read")
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("service.sqlite-wal").path))
        _ = try service.stop()
    }

    func testAKilledServiceResumesTheInvestigationOnRestart() throws {
        let fixture = try Fixture.shared()
        let (_, directory, token, started, port) = try serviceWithServedModel(fixture)
        var service = started
        let watermark = try service.registerWatermark(fixture, token: token)
        // 40 queries a second: the 240 take six seconds, time to kill the service in the middle.
        let investigation = try service.investigate(watermark: watermark, port: port, token: token, counts: (160, 40, 40), rateLimit: 40)
        let deadline = Date().addingTimeInterval(60)
        var done = 0
        while done < 40, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            done = (try json(try service.call("GET", "/v1/investigations/\(investigation)", token: token))["progress"] as? [String: Any])?["done"] as? Int ?? 0
        }
        XCTAssertGreaterThanOrEqual(done, 40, "the probe never got going")
        _ = try service.stop(signal: SIGKILL)
        let partial = try Transcript.read(directory.appendingPathComponent("investigations/\(investigation)/transcript.jsonl").path).records.count
        XCTAssertLessThan(partial, 240, "the probe finished before the service was killed")

        service = try RunningService(directory: directory, test: self)
        let finished = try service.waitUntilFinished(investigation, token: token)
        XCTAssertEqual(finished["status"] as? String, "done", "\(finished)")
        let records = try Transcript.read(directory.appendingPathComponent("investigations/\(investigation)/transcript.jsonl").path).records
        XCTAssertEqual(records.count, 240, "every query once after the restart (\(partial) before it)")
        XCTAssertEqual(Set(records.map(\.queryId)).count, 240)
        let log = try service.stop()
        XCTAssertTrue(log.contains("resuming investigation \(investigation)"), log)
    }

    func testPrivateTargetsAndASecondServiceAreRefusedByDefault() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        let service = try RunningService(directory: directory, test: self, allowPrivateTargets: false)
        XCTAssertThrowsError(try RunningService(directory: directory, test: self), "a second service on the same directory")
        let watermark = try service.registerWatermark(fixture, token: token)
        for host in ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]"] {
            let body = try JSONSerialization.data(withJSONObject: ["watermark": watermark, "triggers": 5,
                                                                   "target": ["url": "http://\(host):9", "protocol": "open-inference-v2", "model": "m"]])
            let answer = try service.call("POST", "/v1/investigations", token: token, body: body)
            XCTAssertEqual(answer.status, 422, host)
            XCTAssertEqual(try errorCode(answer.body), "target_not_allowed", host)
        }
        XCTAssertTrue(try items(try service.call("GET", "/v1/investigations", token: token)).isEmpty)
        _ = try service.stop()
    }

    func testAnInvestigationThatCrashedTheServiceIsFailedOnRestartNotResumed() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        var service = try RunningService(directory: directory, test: self)
        let tarpit = try Tarpit(test: self)
        let watermark = try service.registerWatermark(fixture, token: token)
        let investigation = try service.investigate(watermark: watermark, tarpit: tarpit, token: token)
        try tarpit.waitForConnections(1)
        XCTAssertEqual(try json(try service.call("GET", "/v1/investigations/\(investigation)", token: token))["status"] as? String, "running")
        _ = try service.stop(signal: SIGSEGV)

        service = try RunningService(directory: directory, test: self)
        let state = try json(try service.call("GET", "/v1/investigations/\(investigation)", token: token))
        XCTAssertEqual(state["status"] as? String, "failed", "\(state)")
        XCTAssertTrue((state["error"] as? String ?? "").contains("crashed"), "\(state)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(tarpit.connections, 1, "the investigation that crashed the service was run again")
        let log = try service.stop()
        XCTAssertFalse(log.contains("resuming investigation \(investigation)"), log)
    }

    /// With several investigations running, a crash does not say which one caused it: none is
    /// failed, each runs alone after the restart, and the one running alone at the next crash is.
    func testAfterACrashOfSeveralInvestigationsEachRunsAloneAndTheOneThatCrashesAloneIsFailed() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        var service = try RunningService(directory: directory, test: self)
        let tarpit = try Tarpit(test: self)
        let watermark = try service.registerWatermark(fixture, token: token)
        let investigations = [try service.investigate(watermark: watermark, tarpit: tarpit, token: token),
                              try service.investigate(watermark: watermark, tarpit: tarpit, token: token)]
        try tarpit.waitForConnections(2)
        _ = try service.stop(signal: SIGSEGV)

        service = try RunningService(directory: directory, test: self)
        try tarpit.waitForConnections(3)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(tarpit.connections, 3, "after the crash the two ran at once again")
        func status(_ id: String) throws -> String? {
            try json(try service.call("GET", "/v1/investigations/\(id)", token: token))["status"] as? String
        }
        let statuses = try investigations.map(status)
        XCTAssertEqual(Set(statuses), ["running", "queued"])
        let alone = statuses[0] == "running" ? investigations[0] : investigations[1]
        let other = alone == investigations[0] ? investigations[1] : investigations[0]
        _ = try service.stop(signal: SIGSEGV)

        service = try RunningService(directory: directory, test: self)
        let failed = try json(try service.call("GET", "/v1/investigations/\(alone)", token: token))
        XCTAssertEqual(failed["status"] as? String, "failed", "\(failed)")
        XCTAssertTrue((failed["error"] as? String ?? "").contains("crashed"), "\(failed)")
        try tarpit.waitForConnections(4)
        XCTAssertEqual(try status(other), "running")
        _ = try service.stop()
    }

    func testAnInvestigationStartedThreeTimesWithoutFinishingIsFailed() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        var service = try RunningService(directory: directory, test: self)
        let tarpit = try Tarpit(test: self)
        let watermark = try service.registerWatermark(fixture, token: token)
        let investigation = try service.investigate(watermark: watermark, tarpit: tarpit, token: token)
        // Killed (not crashed) each time: resumed twice, then given up.
        for start in 1...3 {
            try tarpit.waitForConnections(start)
            _ = try service.stop(signal: SIGKILL)
            service = try RunningService(directory: directory, test: self)
        }
        let state = try json(try service.call("GET", "/v1/investigations/\(investigation)", token: token))
        XCTAssertEqual(state["status"] as? String, "failed", "\(state)")
        XCTAssertTrue((state["error"] as? String ?? "").contains("3 times"), "\(state)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(tarpit.connections, 3)
        _ = try service.stop()
    }

    func testATarpitDoesNotHoldUpAnotherTenantAndDeleteCancelsIt() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let alice = try addTenant("alice", in: directory), bob = try addTenant("bob", in: directory)
        let service = try RunningService(directory: directory, test: self)
        let port = try serveModel(fixture.modelPath, for: self)
        let tarpit = try Tarpit(test: self)
        let stuck = try service.investigate(watermark: try service.registerWatermark(fixture, token: alice), tarpit: tarpit, token: alice)
        try tarpit.waitForConnections(1)

        let bobs = try service.investigate(watermark: try service.registerWatermark(fixture, token: bob), port: port, token: bob, counts: (20, 5, 10))
        XCTAssertEqual(try service.waitUntilFinished(bobs, token: bob)["status"] as? String, "done", "bob's investigation waited behind alice's")
        XCTAssertEqual(try json(try service.call("GET", "/v1/investigations/\(stuck)", token: alice))["status"] as? String, "running")

        let stranger = try service.call("DELETE", "/v1/investigations/\(stuck)", token: bob)
        XCTAssertEqual(stranger.status, 404, "bob must not cancel alice's investigation")
        XCTAssertEqual(try errorCode(stranger.body), "not_found")
        let cancelled = try service.call("DELETE", "/v1/investigations/\(stuck)", token: alice)
        XCTAssertEqual(cancelled.status, 200, String(decoding: cancelled.body, as: UTF8.self))
        XCTAssertEqual(try json(cancelled)["status"] as? String, "cancelled")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try json(try service.call("GET", "/v1/investigations/\(stuck)", token: alice))["status"] as? String, "cancelled")
        XCTAssertEqual(try service.call("DELETE", "/v1/investigations/\(stuck)", token: alice).status, 200, "cancelling twice is no error")
        XCTAssertEqual(try errorCode(try service.call("GET", "/v1/investigations/\(stuck)/report", token: alice).body), "report_not_ready")
        let finished = try service.call("DELETE", "/v1/investigations/\(bobs)", token: bob)
        XCTAssertEqual(finished.status, 409)
        XCTAssertEqual(try errorCode(finished.body), "investigation_finished")

        let watermark = try XCTUnwrap((try items(try service.call("GET", "/v1/watermarks", token: alice)).first as? [String: Any])?["id"] as? String)
        for timeout in [0, -1, 120_001] {
            let body = try investigationBody(watermark: watermark, port: tarpit.port, counts: (5, 0, 0), extra: ["timeout_ms": timeout])
            let refused = try service.call("POST", "/v1/investigations", token: alice, body: body)
            XCTAssertEqual(refused.status, 422, "timeout_ms \(timeout)")
            XCTAssertEqual(try errorCode(refused.body), "invalid_investigation", "timeout_ms \(timeout)")
        }
        let document = try json(try service.call("GET", "/openapi.json", token: nil))
        XCTAssertNotNil(((document["paths"] as? [String: Any])?["/v1/investigations/{id}"] as? [String: Any])?["delete"], "/openapi.json must describe DELETE")
        _ = try service.stop()
    }

    func testQueuedInvestigationsCancelAtOnceAndEachQuotaAnswers429() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        var service = try RunningService(directory: directory, test: self,
                                         arguments: ["--running-investigations", "1", "--quota-investigations", "2", "--quota-watermarks", "1"])
        let tarpit = try Tarpit(test: self)
        let watermark = try service.registerWatermark(fixture, token: token)
        let running = try service.investigate(watermark: watermark, tarpit: tarpit, token: token)
        try tarpit.waitForConnections(1)
        let queued = try service.investigate(watermark: watermark, tarpit: tarpit, token: token)
        XCTAssertEqual(try json(try service.call("GET", "/v1/investigations/\(queued)", token: token))["status"] as? String, "queued")
        let overQuota = try service.call("POST", "/v1/investigations", token: token,
                                         body: try investigationBody(watermark: watermark, port: tarpit.port, counts: (5, 0, 0)))
        XCTAssertEqual(overQuota.status, 429)
        XCTAssertEqual(try errorCode(overQuota.body), "quota_exceeded")
        XCTAssertTrue(errorMessage(overQuota.body).contains("investigations"), errorMessage(overQuota.body))
        XCTAssertEqual(try json(try service.call("DELETE", "/v1/investigations/\(queued)", token: token))["status"] as? String, "cancelled")
        _ = try service.investigate(watermark: watermark, tarpit: tarpit, token: token)
        XCTAssertEqual(try json(try service.call("DELETE", "/v1/investigations/\(running)", token: token))["status"] as? String, "cancelled")
        // The cancelled probe abandons its request in flight (timeout 60 s) at once, so the one
        // running slot goes to the next job within seconds.
        let cancelledAt = Date()
        try tarpit.waitForConnections(2)
        XCTAssertLessThan(Date().timeIntervalSince(cancelledAt), 15, "the cancelled request held its slot until its timeout")

        let secondWatermark = try service.call("POST", "/v1/watermarks", token: token, body: try registrationBody(fixture, name: "second"))
        XCTAssertEqual(secondWatermark.status, 429)
        XCTAssertEqual(try errorCode(secondWatermark.body), "quota_exceeded")
        XCTAssertTrue(errorMessage(secondWatermark.body).contains("watermarks"), errorMessage(secondWatermark.body))
        let sealedBytes = try XCTUnwrap(try json(try service.call("GET", "/v1/watermarks/\(watermark)", token: token))["sealed_bytes"] as? Int)
        _ = try service.stop()

        service = try RunningService(directory: directory, test: self,
                                     arguments: ["--quota-watermarks", "5", "--quota-trigger-set-bytes", String(sealedBytes * 3 / 2)])
        let tooManyBytes = try service.call("POST", "/v1/watermarks", token: token, body: try registrationBody(fixture, name: "second"))
        XCTAssertEqual(tooManyBytes.status, 429)
        XCTAssertEqual(try errorCode(tooManyBytes.body), "quota_exceeded")
        XCTAssertTrue(errorMessage(tooManyBytes.body).contains("trigger-set bytes"), errorMessage(tooManyBytes.body))
        XCTAssertEqual(try items(try service.call("GET", "/v1/watermarks", token: token)).count, 1)
        _ = try service.stop()
    }

    /// Issue 21: a fingerprint registered with the watermark is sealed (the spec names it), its
    /// calibration must measure it, investigations query it in the same plan, and the signed
    /// report records it beside the watermark's verdict.
    func testAFingerprintIsSealedQueriedAndRecordedInTheReport() throws {
        let fixture = try Fixture.shared()
        let (_, _, token, service, port) = try serviceWithServedModel(fixture)

        let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
        let size = testSet.itemSize
        let inputs = { (first: Int) in Fingerprint.Inputs(images: Array(testSet.images[(first * size)..<((first + 30) * size)]),
                                                          labels: (0..<30).map { Int32(($0 * 7 + first) % 10) }) }
        func fingerprint(madeFrom model: String) throws -> Data {
            try Fingerprint(provenance: .init(dataset: "fashion-mnist", split: "test", classNames: testSet.classNames, protectedModelSha256: model,
                                              twinModelSha256: String(repeating: "7", count: 64),
                                              candidates: .init(kind: "inverted", count: 60, seed: 1, epsilon: nil, steps: nil),
                                              filterReferences: [.init(architecture: "mlp", augmentation: "light", seed: 9, trainImages: 300, epochs: 1)]),
                            itemShape: testSet.itemShape, inputs: inputs(0), decoys: inputs(30)).encoded()
        }
        func body(fingerprint: Data, calibration: [String: Any]? = nil) throws -> Data {
            var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try registrationBody(fixture, withCalibration: false)) as? [String: Any])
            object["fingerprint"] = fingerprint.base64EncodedString()
            if let calibration { object["calibration"] = calibration }
            return try JSONSerialization.data(withJSONObject: object)
        }
        let ofAnotherModel = try service.call("POST", "/v1/watermarks", token: token, body: try body(fingerprint: try fingerprint(madeFrom: String(repeating: "5", count: 64))))
        XCTAssertEqual(try errorCode(ofAnotherModel.body), "invalid_fingerprint")
        let file = try fingerprint(madeFrom: fixture.modelDigest)
        let calibrationWithout = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.calibrationPath))) as? [String: Any])
        let mismatched = try service.call("POST", "/v1/watermarks", token: token, body: try body(fingerprint: file, calibration: calibrationWithout))
        XCTAssertEqual(try errorCode(mismatched.body), "calibration_mismatch", "a calibration that did not measure the fingerprint")

        // The calibration of the spec as sealed: it names the fingerprint, so its SHA-256 changes.
        var spec = try WatermarkSpec.load(fixture.specPath)
        spec.fingerprintSha256 = sha256Hex(file)
        var calibration = calibrationWithout
        calibration["spec_sha256"] = sha256Hex(spec.canonicalJSON())
        calibration["fingerprint_sha256"] = sha256Hex(file)
        calibration["references"] = try XCTUnwrap(calibration["references"] as? [[String: Any]]).map { reference in
            reference.merging(["fingerprint_hits": 4, "fingerprint_inputs": 30]) { $1 }
        }
        let registered = try service.call("POST", "/v1/watermarks", token: token, body: try body(fingerprint: file, calibration: calibration))
        XCTAssertEqual(registered.status, 201, String(decoding: registered.body, as: UTF8.self))
        let watermark = try XCTUnwrap(try json(registered)["id"] as? String)

        let investigation = try service.investigate(watermark: watermark, port: port, token: token, counts: (60, 20, 20))
        let finished = try service.waitUntilFinished(investigation, token: token)
        XCTAssertEqual(finished["status"] as? String, "done", "\(finished)")
        let transcript = try service.call("GET", "/v1/investigations/\(investigation)/transcript", token: token).body
        let parsed = try Transcript.parse(transcript)
        XCTAssertEqual(parsed.header.counts.fingerprints, 30, "every fingerprint input by default")
        XCTAssertEqual(parsed.header.fingerprintSha256, sha256Hex(file))
        XCTAssertEqual(parsed.records.filter { $0.kind == .fingerprintDecoy }.count, 30)
        let report = try service.call("GET", "/v1/investigations/\(investigation)/report", token: token).body
        let key = try PublicKey(pem: Data(try XCTUnwrap(try json(try service.call("GET", "/v1/signing-key", token: nil))["pem"] as? String).utf8))
        let verification = EvidenceReport.verify(report, publicKey: key, transcript: transcript)
        XCTAssertTrue(verification.isValid, verification.problems.joined(separator: "\n"))
        let predicate = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(report).payload))).predicate
        XCTAssertEqual(predicate.fingerprint?.decides, false)
        XCTAssertEqual(predicate.fingerprint?.decision?.triggers, 30)
        XCTAssertEqual(predicate.verdict, predicate.decision.verdict, "the service's verdict is the watermark's")
        let tooMany = try service.call("POST", "/v1/investigations", token: token,
                                       body: try JSONSerialization.data(withJSONObject: ["watermark": watermark, "fingerprints": 31,
                                                                                         "target": ["url": "http://127.0.0.1:\(port)", "protocol": "open-inference-v2"]]))
        XCTAssertEqual(try errorCode(tooMany.body), "invalid_investigation")
        _ = try service.stop()
    }

    /// A service in a fresh folder with one tenant, "owner", and the fixture's suspect model served.
    private func serviceWithServedModel(_ fixture: Fixture) throws -> (folder: URL, directory: URL, token: String, service: RunningService, port: Int) {
        let folder = temporaryFolder(self)
        let directory = folder.appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        return (folder, directory, token, try RunningService(directory: directory, test: self), try serveModel(fixture.modelPath, for: self))
    }

    func testRegistrationsAreValidatedCompletely() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let token = try addTenant("owner", in: directory)
        let service = try RunningService(directory: directory, test: self)
        for (name, code) in [("fmnist\u{0}shirts", "invalid_name"), ("two\nlines", "invalid_name"), ("", "invalid_name"),
                             (String(repeating: "n", count: 201), "invalid_name")] {
            let answer = try service.call("POST", "/v1/watermarks", token: token, body: try registrationBody(fixture, name: name))
            XCTAssertEqual(answer.status, 422, name.debugDescription)
            XCTAssertEqual(try errorCode(answer.body), code, name.debugDescription)
        }
        let badDigest = try service.call("POST", "/v1/watermarks", token: token, body: try registrationBody(fixture, name: "x", modelDigest: "00"))
        XCTAssertEqual(try errorCode(badDigest.body), "invalid_model_digest")
        XCTAssertTrue(try items(try service.call("GET", "/v1/watermarks", token: token)).isEmpty)
        _ = try service.stop()
    }

    func testARetriedRegistrationWithTheSameIdempotencyKeyReturnsTheOriginal() throws {
        let fixture = try Fixture.shared()
        let directory = temporaryFolder(self).appendingPathComponent("service")
        let alice = try addTenant("alice", in: directory), bob = try addTenant("bob", in: directory)
        let service = try RunningService(directory: directory, test: self)
        let body = try registrationBody(fixture, name: "fmnist-shirts")
        let first = try service.call("POST", "/v1/watermarks", token: alice, body: body, headers: ["Idempotency-Key": "upload-7"])
        XCTAssertEqual(first.status, 201, String(decoding: first.body, as: UTF8.self))
        let retry = try service.call("POST", "/v1/watermarks", token: alice, body: body, headers: ["Idempotency-Key": "upload-7"])
        XCTAssertEqual(retry.status, 201, String(decoding: retry.body, as: UTF8.self))
        XCTAssertEqual(try json(retry)["id"] as? String, try json(first)["id"] as? String, "the retry returns the original watermark")
        XCTAssertEqual(try json(retry)["record_id"] as? String, try json(first)["record_id"] as? String)
        XCTAssertEqual(try items(try service.call("GET", "/v1/watermarks", token: alice)).count, 1)

        let other = try service.call("POST", "/v1/watermarks", token: alice, body: try registrationBody(fixture, name: "other name"),
                                     headers: ["Idempotency-Key": "upload-7"])
        XCTAssertEqual(other.status, 422)
        XCTAssertEqual(try errorCode(other.body), "idempotency_key_reused")
        let bobs = try service.call("POST", "/v1/watermarks", token: bob, body: body, headers: ["Idempotency-Key": "upload-7"])
        XCTAssertEqual(bobs.status, 201, "keys are per tenant")
        XCTAssertNotEqual(try json(bobs)["id"] as? String, try json(first)["id"] as? String)
        let invalidKey = try service.call("POST", "/v1/watermarks", token: alice, body: body, headers: ["Idempotency-Key": String(repeating: "k", count: 300)])
        XCTAssertEqual(try errorCode(invalidKey.body), "invalid_idempotency_key")
        let document = String(decoding: try service.call("GET", "/openapi.json", token: nil).body, as: UTF8.self)
        XCTAssertTrue(document.contains("Idempotency-Key"), "/openapi.json must describe the Idempotency-Key header")
        _ = try service.stop()

        let vault = try runProgram(tracemarkBinary, ["vault", "list", "--vault", directory.path, "--json"])
        XCTAssertEqual(vault.status, 0, vault.output)
        XCTAssertEqual(try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(vault.output.utf8)) as? [Any]).count, 2,
                       "one vault record for alice's registration and its retry, one for bob's")
    }

    // MARK: Helpers

    func addTenant(_ name: String, in directory: URL) throws -> String {
        let added = try runProgram(tracemarkBinary, ["service", "tenant", "add", "--vault", directory.path, "--name", name, "--json"])
        XCTAssertEqual(added.status, 0, added.output)
        let object = try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: String]
        return try XCTUnwrap(object?["token"], added.output)
    }
}

/// A spec, an untrained suspect model made for it and a tiny calibration, made once.
struct Fixture {
    var specPath: String
    var modelPath: String
    var calibrationPath: String
    var modelDigest: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Fixture?

    static func shared() throws -> Fixture {
        try lock.withLock {
            if let made { return made }
            let dataFolder = DatasetCatalog.directory(for: "fashion-mnist")
            try XCTSkipUnless(FileManager.default.fileExists(atPath: dataFolder + "/t10k-images-idx3-ubyte.gz"),
                              "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracemark-service-fixture-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
            var spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: testSet.classNames,
                                                         choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 3)
            spec.triggerSetSize = 60
            let fixture = Fixture(specPath: folder.appendingPathComponent("spec.json").path,
                                  modelPath: folder.appendingPathComponent("suspect.safetensors").path,
                                  calibrationPath: folder.appendingPathComponent("calibration.json").path, modelDigest: "")
            try spec.write(to: fixture.specPath)
            try Checkpoint.save(try Classifier.untrained("mlp", for: testSet, seed: 4), to: fixture.modelPath)
            let calibrated = try runProgram(tracemarkBinary, ["calibrate", "--spec", fixture.specPath, "--out", fixture.calibrationPath,
                                                              "--references", "2", "--architectures", "mlp", "--train-images", "300",
                                                              "--false-watermark-samples", "20", "--threads", "1", "--model", fixture.modelPath])
            guard calibrated.status == 0 else { throw FixtureFailure(message: calibrated.output) }
            var result = fixture
            result.modelDigest = sha256Hex(try Data(contentsOf: URL(fileURLWithPath: fixture.modelPath)))
            made = result
            return result
        }
    }
}

struct FixtureFailure: Error { var message: String }

/// One `tracemark service` process on a free port, its output in a log file.
final class RunningService {
    let process = Process()
    let port: Int
    let logFile: URL

    init(directory: URL, test: XCTestCase, allowPrivateTargets: Bool = true, arguments: [String] = []) throws {
        logFile = directory.deletingLastPathComponent().appendingPathComponent("service-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: tracemarkBinary)
        process.arguments = ["service", "--vault", directory.path, "--port", "0"] + (allowPrivateTargets ? ["--allow-private-targets"] : []) + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(ServiceTests.passphrase) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: logFile)
        try process.run()
        let process = self.process
        test.addTeardownBlock { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("listening on"), let port = line.split(separator: ":").dropFirst(2).first.flatMap({ Int($0.prefix { $0.isNumber }) }) else {
            throw FixtureFailure(message: "no port in '\(line)'; log: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
        }
        self.port = port
    }

    /// Stops the service and returns everything it logged. A process the signal does not end
    /// within 30 seconds (Swift's backtracer survives a SIGSEGV sent by kill) is killed.
    func stop(signal: Int32 = SIGTERM) throws -> String {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return try String(contentsOf: logFile, encoding: .utf8)
    }

    func call(_ method: String, _ path: String, token: String?, body: Data? = nil, headers: [String: String] = [:]) throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        // Foundation refuses a GET with a body.
        if method != "GET" { request.httpBody = body }
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        final class Answer: @unchecked Sendable { var result: Result<(Int, Data), Error> = .failure(URLError(.unknown)) }
        let answer = Answer(), finished = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { answer.result = .failure(error) } else {
                answer.result = .success(((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
            }
            finished.signal()
        }.resume()
        finished.wait()
        let (status, data) = try answer.result.get()
        return (status, data)
    }

    func registerWatermark(_ fixture: Fixture, token: String, withCalibration: Bool = true) throws -> String {
        let answer = try call("POST", "/v1/watermarks", token: token, body: try registrationBody(fixture, withCalibration: withCalibration))
        XCTAssertEqual(answer.status, 201, String(decoding: answer.body, as: UTF8.self))
        return try XCTUnwrap(try json(answer)["id"] as? String)
    }

    func investigate(watermark: String, port: Int, token: String, counts: (Int, Int, Int), rateLimit: Double? = nil) throws -> String {
        let body = try investigationBody(watermark: watermark, port: port, counts: counts, rateLimit: rateLimit)
        let answer = try call("POST", "/v1/investigations", token: token, body: body)
        XCTAssertEqual(answer.status, 202, String(decoding: answer.body, as: UTF8.self))
        return try XCTUnwrap(try json(answer)["id"] as? String)
    }

    /// An investigation of the tarpit: one query at a time, each waiting up to a minute.
    func investigate(watermark: String, tarpit: Tarpit, token: String) throws -> String {
        let body = try investigationBody(watermark: watermark, port: tarpit.port, counts: (5, 0, 0),
                                         extra: ["concurrency": 1, "timeout_ms": 60_000, "max_attempts": 1])
        let answer = try call("POST", "/v1/investigations", token: token, body: body)
        XCTAssertEqual(answer.status, 202, String(decoding: answer.body, as: UTF8.self))
        return try XCTUnwrap(try json(answer)["id"] as? String)
    }

    /// Polls until the investigation is done or failed (at most two minutes).
    func waitUntilFinished(_ id: String, token: String) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(120)
        while true {
            let state = try json(try call("GET", "/v1/investigations/\(id)", token: token))
            if ["done", "failed"].contains(state["status"] as? String ?? "") || Date() > deadline { return state }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }
}

func registrationBody(_ fixture: Fixture, name: String = "fmnist-shirts", modelDigest: String? = nil, withCalibration: Bool = true) throws -> Data {
    var body: [String: Any] = ["name": name,
                               "spec": try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.specPath))),
                               "model_digest": modelDigest ?? fixture.modelDigest]
    if withCalibration {
        body["calibration"] = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.calibrationPath)))
    }
    return try JSONSerialization.data(withJSONObject: body)
}

func investigationBody(watermark: String, port: Int, counts: (Int, Int, Int), rateLimit: Double? = nil, extra: [String: Any] = [:]) throws -> Data {
    var target: [String: Any] = ["url": "http://127.0.0.1:\(port)", "protocol": "open-inference-v2", "model": "suspect", "concurrency": 2]
    if let rateLimit { target["rate_limit"] = rateLimit }
    target.merge(extra) { $1 }
    return try JSONSerialization.data(withJSONObject: ["watermark": watermark, "target": target, "triggers": counts.0,
                                                       "controls": counts.1, "decoys": counts.2, "seed": 3])
}

func json(_ answer: (status: Int, body: Data)) throws -> [String: Any] {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any], String(decoding: answer.body, as: UTF8.self))
}

func items(_ answer: (status: Int, body: Data)) throws -> [Any] {
    try XCTUnwrap(try json(answer)["items"] as? [Any])
}

func errorCode(_ body: Data) throws -> String? {
    ((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
}

func errorMessage(_ body: Data) -> String {
    ((try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["error"] as? [String: Any])?["message"] as? String ?? ""
}

/// A server that accepts connections and never answers: a probe of it waits out its timeout.
/// It counts connections, so a test sees whether an investigation was sent again.
final class Tarpit: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var accepted: [Int32] = []

    init(test: XCTestCase) throws {
        (listener, port) = try loopbackListener()
        Thread.detachNewThread { [self] in
            while case let connection = accept(listener, nil, nil), connection >= 0 { lock.withLock { accepted.append(connection) } }
        }
        test.addTeardownBlock { [self] in
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            lock.withLock { accepted.forEach { close($0) } }
        }
    }

    var connections: Int { lock.withLock { accepted.count } }

    /// Waits (at most a minute) until `count` connections have come in.
    func waitForConnections(_ count: Int) throws {
        let deadline = Date().addingTimeInterval(60)
        while connections < count {
            guard Date() < deadline else { throw FixtureFailure(message: "the tarpit got \(connections) connections, not \(count)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
