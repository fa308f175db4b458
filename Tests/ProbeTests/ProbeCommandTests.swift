import Data
import Engine
import Foundation
import TestSupport
import Training
import Watermark
import XCTest
@testable import Probe

/// `tracemark serve` and `tracemark probe` as a user runs them: a probe killed with SIGKILL and
/// run again ends with the same transcript as one that was never interrupted.
final class ProbeCommandTests: XCTestCase {
    /// A temporary folder holding an untrained suspect model and a spec for it.
    func suspectOnDisk() throws -> (folder: URL, spec: WatermarkSpec, testSet: Dataset, modelPath: String, specPath: String) {
        let (spec, testSet, model) = try ProberTests.fixture()
        let folder = temporaryFolder(self)
        let modelPath = folder.appendingPathComponent("suspect.safetensors").path
        try Checkpoint.save(model, to: modelPath)
        let specPath = folder.appendingPathComponent("spec.json").path
        try spec.write(to: specPath)
        return (folder, spec, testSet, modelPath, specPath)
    }

    func testProbingWithASpecSealedInTheVault() throws {
        let (folder, spec, testSet, modelPath, specPath) = try suspectOnDisk()
        let environment = ["TRACEMARK_PASSPHRASE": "probe vault test"]
        let keys = folder.appendingPathComponent("keys").path, vault = folder.appendingPathComponent("vault").path
        XCTAssertEqual(try runProgram(tracemarkBinary, ["keys", "generate", "--out", keys], environment: environment).status, 0)
        let registered = try runProgram(tracemarkBinary, ["register", "--vault", vault, "--spec", specPath, "--model", modelPath,
                                                          "--key", keys + "/owner.key.pem", "--remove-plaintext"], environment: environment)
        XCTAssertEqual(registered.status, 0, registered.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: specPath), "--remove-plaintext must remove the spec")

        let port = try serveModel(modelPath, for: self)
        let target = folder.appendingPathComponent("target.json")
        try Data(#"{"url": "http://127.0.0.1:\#(port)", "protocol": "open-inference-v2", "model": "suspect"}"#.utf8).write(to: target)
        let out = folder.appendingPathComponent("t.jsonl").path
        let probed = try runProgram(tracemarkBinary, ["probe", "--target", target.path, "--vault", vault, "--watermark", "0", "--out", out,
                                                      "--triggers", "30", "--controls", "10", "--decoys", "10"], environment: environment)
        XCTAssertEqual(probed.status, 0, probed.output)
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 30, controls: 10, decoys: 10), seed: 1)
        let transcript = try Transcript.read(out)
        XCTAssertEqual(transcript.header.planDigest, plan.digest, "the sealed spec must give the same plan as the plaintext one")
        XCTAssertEqual(transcript.records.count, 50)
        let wrong = try runProgram(tracemarkBinary, ["probe", "--target", target.path, "--vault", vault, "--watermark", "0", "--out", out],
                                   environment: ["TRACEMARK_PASSPHRASE": "not it"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.output.contains("wrong passphrase"), wrong.output)
    }

    func testKillMidProbeThenResumeGivesTheSameTranscript() throws {
        let (folder, spec, testSet, modelPath, specPath) = try suspectOnDisk()

        let port = try serveModel(modelPath, for: self)

        let target = folder.appendingPathComponent("target.json").path
        try Data("""
            {"url": "http://127.0.0.1:\(port)", "protocol": "open-inference-v2", "model": "suspect", "concurrency": 3, "rate_limit": 150,
             "auth": {"header": "Authorization", "env": "TM_PROBE_TOKEN", "prefix": "Bearer "}}
            """.utf8).write(to: URL(fileURLWithPath: target))
        let secret = "tok-\(UUID().uuidString)"
        let log = folder.appendingPathComponent("probe.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        func probe(_ out: String) -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tracemarkBinary)
            process.environment = ProcessInfo.processInfo.environment.merging(["TM_PROBE_TOKEN": secret]) { $1 }
            process.arguments = ["probe", "--target", target, "--spec", specPath, "--out", out,
                                 "--triggers", "200", "--controls", "60", "--decoys", "60", "--seed", "4"]
            process.standardOutput = logHandle
            process.standardError = logHandle
            return process
        }
        let interrupted = folder.appendingPathComponent("interrupted.jsonl").path
        let killed = probe(interrupted)
        try killed.run()
        Thread.sleep(forTimeInterval: 1.0)
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let partial = try Transcript.read(interrupted).records.count
        XCTAssertGreaterThan(partial, 0, "the probe was killed before it wrote anything")
        XCTAssertLessThan(partial, 320, "the probe finished before it was killed")

        let resumed = probe(interrupted)
        try resumed.run()
        resumed.waitUntilExit()
        XCTAssertEqual(resumed.terminationStatus, 0)
        let reference = folder.appendingPathComponent("reference.jsonl").path
        let whole = probe(reference)
        try whole.run()
        whole.waitUntilExit()

        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 200, controls: 60, decoys: 60), seed: 4)
        let (header, records) = (try Transcript.read(interrupted).header, try Transcript.read(interrupted).records)
        XCTAssertEqual(header.planDigest, plan.digest)
        XCTAssertEqual(records.count, plan.queries.count, "each query once after the resume (\(partial) before it)")
        XCTAssertEqual(Set(records.map(\.queryId)).count, plan.queries.count)
        let referenceRecords = try Transcript.read(reference).records
        XCTAssertEqual(try TranscriptTally.of(header: header, records: records), try TranscriptTally.of(header: header, records: referenceRecords))
        for file in [interrupted, reference, log.path] {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self)
            XCTAssertFalse(text.contains(secret), "the auth secret leaked into \(file)")
        }
        let labels = Dictionary(uniqueKeysWithValues: records.map { ($0.queryId, $0.label) })
        for record in referenceRecords { XCTAssertEqual(labels[record.queryId], record.label) }
    }

    /// Issue 19: a probe whose queries mostly fail exits 1 and says what the server said; run
    /// again, it sends the failed queries once more and their answers replace the failures.
    func testAFailingProbeIsLoudAndItsResumeRetriesTheFailedQueries() throws {
        let (folder, _, _, modelPath, specPath) = try suspectOnDisk()
        let refusing = try CannedServer(answering: #"{"error": "expected FP32 input of shape [1, 1, 28, 28]"}"#, status: "400 Bad Request")
        defer { refusing.stop() }
        let target = folder.appendingPathComponent("target.json")
        func pointTarget(at port: Int) throws {
            try Data(#"{"url": "http://127.0.0.1:\#(port)", "protocol": "open-inference-v2", "model": "suspect"}"#.utf8).write(to: target)
        }
        let out = folder.appendingPathComponent("t.jsonl").path
        let arguments = ["probe", "--target", target.path, "--spec", specPath, "--out", out, "--triggers", "6", "--controls", "2", "--decoys", "2"]
        try pointTarget(at: refusing.port)
        let failed = try runProgram(tracemarkBinary, arguments)
        XCTAssertEqual(failed.status, 1, failed.output)
        XCTAssertTrue(failed.output.contains("10 of 10 queries failed"), failed.output)
        XCTAssertTrue(failed.output.contains(#"HTTP 400: {"error": "expected FP32 input of shape [1, 1, 28, 28]"}"#), failed.output)

        try pointTarget(at: try serveModel(modelPath, for: self))
        let resumed = try runProgram(tracemarkBinary, arguments)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let transcript = try Transcript.read(out)
        XCTAssertEqual(transcript.records.count, 20, "ten failures, then ten answers")
        let tally = try TranscriptTally.of(header: transcript.header, records: transcript.records)
        XCTAssertEqual([tally.trigger.answered, tally.control.answered, tally.decoy.answered], [6, 2, 2])
        XCTAssertEqual(tally.trigger.failed + tally.control.failed + tally.decoy.failed, 0)
        XCTAssertNil(tally.failureProblem)
    }

    /// Issue 18, finding 3: a label map pointing past the classes trapped at the first answer
    /// that named the label, and the service resumed the job into the same trap on every start.
    func testALabelMapOutsideTheClassesIsAClearErrorNotACrash() throws {
        let (folder, _, _, _, specPath) = try suspectOnDisk()
        let server = try CannedServer(answering: #"{"evil": 0.9}"#)
        defer { server.stop() }
        let target = folder.appendingPathComponent("target.json")
        try Data(#"{"url": "http://127.0.0.1:\#(server.port)", "protocol": "torchserve", "model": "m", "label_map": {"evil": 99}}"#.utf8).write(to: target)
        let probed = try runProgram(tracemarkBinary, ["probe", "--target", target.path, "--spec", specPath, "--out", folder.appendingPathComponent("t.jsonl").path,
                                                      "--triggers", "3", "--controls", "0", "--decoys", "0"])
        XCTAssertEqual(probed.status, 1, probed.output)
        XCTAssertTrue(probed.output.contains(#"label_map maps "evil" to 99"#), probed.output)
    }
}
