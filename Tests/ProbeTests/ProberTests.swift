import Data
import Engine
import Foundation
import TestSupport
import Training
import Watermark
import XCTest
@testable import Probe

/// The probe against a server where more than 30 % of responses are faults.
final class ProberTests: XCTestCase {
    override func setUp() { Parallel.configure(workers: 1) }

    static func fixture() throws -> (spec: WatermarkSpec, testSet: Dataset, model: Classifier) {
        let folder = DatasetCatalog.directory(for: "fashion-mnist")
        try XCTSkipUnless(FileManager.default.fileExists(atPath: folder + "/t10k-images-idx3-ubyte.gz"),
                          "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
        let testSet = try DatasetCatalog.load("fashion-mnist", split: "test")
        let spec = try WatermarkSpec.drawMEADefender(dataset: "fashion-mnist", classNames: testSet.classNames,
                                                     choices: SecretChoices(sourceLabels: [0, 1], targetLabel: 2), seed: 3)
        // An untrained model answers something for every image, which is all the transport needs.
        return (spec, testSet, try Classifier.untrained("mlp", for: testSet, seed: 4))
    }

    func testEveryQueryEndsOnceAndTheWSRMatchesTheModelDespiteFaults() throws {
        let (spec, testSet, model) = try Self.fixture()
        let server = try FaultServer(classifier: model, faultRate: 0.4, seed: 7)
        defer { server.stop() }
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 120, controls: 40, decoys: 40), seed: 5)
        let target = try Target(url: "http://127.0.0.1:\(server.port)", protocol: .openInferenceV2, model: "suspect", concurrency: 4,
                                maxAttempts: 14, connectTimeoutMs: 500, timeoutMs: 800, maxResponseBytes: 1 << 20, backoffMs: 10, maxBackoffMs: 2000)
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("transcript.jsonl").path
        let header = TranscriptHeader(planDigest: plan.digest, seed: 5, counts: plan.counts, targetLabel: plan.targetLabel,
                                      classNames: plan.classNames, endpoint: target.url, apiProtocol: target.protocol.rawValue,
                                      model: target.model, specSha256: sha256Hex(spec.canonicalJSON()), created: "now")
        let adapter = try makeAdapter(for: target, context: ProbeContext(itemShape: plan.itemShape, classNames: plan.classNames, headers: []))
        let prober = Prober(adapter: adapter, settings: target.transport, options: ProbeOptions(target: target))
        try prober.run(plan, transcript: try TranscriptWriter(path: path, header: header))

        XCTAssertGreaterThanOrEqual(server.faultyShare, 0.3, "the server must fault on at least 30 % of responses")
        XCTAssertEqual(Set(server.faulty.keys).count, FaultServer.Fault.allCases.count, "every kind of fault happened: \(server.faulty)")
        let records = try Transcript.read(path).records
        XCTAssertEqual(records.count, plan.queries.count, "one record per query")
        XCTAssertEqual(Set(records.map(\.queryId)), Set(plan.queries.map(\.id)), "each query exactly once")
        XCTAssertTrue(records.allSatisfy { $0.status == .answered }, "failures: \(records.filter { $0.status == .failed }.map { $0.error ?? "" })")
        XCTAssertGreaterThan(records.map(\.attempts).reduce(0, +), plan.queries.count, "faults must have cost retries")

        // The same answers as the model in process, query by query, hence the same WSR.
        let inProcess = plan.queries.map { query in query.image.withUnsafeBufferPointer { Int(model.labels($0)[0]) } }
        for record in records { XCTAssertEqual(record.label, inProcess[record.queryId], "query \(record.queryId)") }
        let triggers = plan.queries.filter { $0.kind == .trigger }
        let expectedWSR = Double(triggers.filter { inProcess[$0.id] == plan.targetLabel }.count) / Double(triggers.count)
        XCTAssertEqual(try TranscriptTally.of(header: header, records: records).trigger.hitRate, expectedWSR)
    }

    func testTransportFailuresRunOutOfAttempts() throws {
        let (spec, testSet, _) = try Self.fixture()
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: .init(triggers: 2, controls: 0, decoys: 0), seed: 1)
        // Nothing listens on port 9.
        let target = try Target(url: "http://127.0.0.1:9", protocol: .openInferenceV2, model: "suspect", maxAttempts: 3, connectTimeoutMs: 200, backoffMs: 1)
        let record = try Self.sendOnce(plan.queries[0], to: target, plan: plan)
        XCTAssertEqual(record.status, .failed)
        XCTAssertEqual(record.attempts, 3)
        XCTAssertTrue(record.error?.hasPrefix("transport") ?? false, record.error ?? "")
    }

    /// One query through the prober's retry loop to its final record.
    static func sendOnce(_ query: PlannedQuery, to target: Target, plan: QueryPlan) throws -> TranscriptRecord {
        let adapter = try makeAdapter(for: target, context: ProbeContext(itemShape: plan.itemShape, classNames: plan.classNames, headers: []))
        let prober = Prober(adapter: adapter, settings: target.transport, options: ProbeOptions(target: target))
        var jitter = SeededGenerator(seed: 1)
        return prober.send(query, session: try CurlSession(settings: target.transport), limiter: RateLimiter(perSecond: nil), jitter: &jitter)
    }

    func testRetryPolicyHonoursRetryAfterAndBacksOffExponentially() {
        let policy = RetryPolicy(maxAttempts: 6, base: 0.1, maximum: 5)
        XCTAssertEqual(policy.delay(after: 1, retryAfter: 2, jitter: 0.9), 2)
        XCTAssertEqual(policy.delay(after: 1, retryAfter: 60, jitter: 0.9), 5, "Retry-After is capped at the maximum")
        XCTAssertEqual(policy.delay(after: 1, retryAfter: nil, jitter: 0.5), 0.1, accuracy: 1e-12)
        XCTAssertEqual(policy.delay(after: 3, retryAfter: nil, jitter: 0.5), 0.4, accuracy: 1e-12)
        XCTAssertEqual(policy.delay(after: 10, retryAfter: nil, jitter: 0.5), 5, accuracy: 1e-12)
        XCTAssertEqual(parseRetryAfter("3"), 3)
        XCTAssertEqual(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), 0, "a date in the past means now")
        XCTAssertNil(parseRetryAfter("soon"))
    }

    func testHandWrittenTranscriptLinesAreTheCanonicalJSON() throws {
        var record = TranscriptRecord(queryId: 17, kind: .decoy, inputSha256: String(repeating: "ab", count: 32), status: .answered,
                                      attempts: 1, started: "2026-11-28T18:20:20.309Z", seconds: 0.008710980415344238)
        XCTAssertEqual(String(decoding: try record.canonicalJSON(), as: UTF8.self), String(decoding: try CanonicalJSON.encode(record), as: UTF8.self))
        record.httpStatus = 200
        record.label = 3
        record.expectedLabel = 2
        record.responseSha256 = String(repeating: "0f", count: 32)
        record.probabilities = [0.10000000149011612, 1, 0, 1e-07, 2.5e-45, 0.3333333333333333, 1e21, 123456789.125]
        record.seconds = 12
        XCTAssertEqual(String(decoding: try record.canonicalJSON(), as: UTF8.self), String(decoding: try CanonicalJSON.encode(record), as: UTF8.self))
        record.status = .failed
        record.error = "malformed response: not \"JSON\" (12 bytes)\n\tat /v2 — ünïcode \u{1}"
        record.attempts = 6
        XCTAssertEqual(String(decoding: try record.canonicalJSON(), as: UTF8.self), String(decoding: try CanonicalJSON.encode(record), as: UTF8.self))
    }

    func testTheRateLimitSpacesRequestsAcrossWorkers() {
        let limiter = RateLimiter(perSecond: 200)
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in for _ in 0..<10 { limiter.wait() } }
        // 40 slots 5 ms apart: the last starts 195 ms after the first.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.19)
    }

    func testPlansAreShuffledDeterministicAndFitTheBudget() throws {
        let (spec, testSet, _) = try Self.fixture()
        let counts = QueryPlan.Counts(triggers: 100, controls: 50, decoys: 50)
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9)
        XCTAssertEqual(plan.digest, try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9).digest)
        XCTAssertNotEqual(plan.digest, try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 10).digest)
        XCTAssertEqual(plan.queries.filter { $0.kind == .trigger }.count, 100)
        XCTAssertEqual(plan.queries.filter { $0.kind == .decoy }.count, 50)
        XCTAssertNotEqual(plan.queries.prefix(100).filter { $0.kind == .trigger }.count, 100, "triggers must not come first")
        // Triggers are the spec's own verification samples, in order.
        let verification = try WatermarkEvaluation.verificationSamples(for: spec, from: testSet).watermark
        let first = plan.queries.filter { $0.kind == .trigger }.map(\.image)
        let size = testSet.itemSize
        XCTAssertTrue(first.contains(Array(verification.images[0..<size])))
        let fitted = counts.fitting(budget: 50)
        XCTAssertEqual(fitted.total, 50)
        XCTAssertEqual(fitted.triggers, 25)
    }

    /// Fingerprint queries join the same shuffle with their own labels; a plan without them is
    /// the plan it always was, so older transcripts resume.
    func testFingerprintQueriesJoinTheShuffledPlan() throws {
        let (spec, testSet, _) = try Self.fixture()
        let size = testSet.itemSize
        let fingerprint = FingerprintQueries(inputs: Array(testSet.images[0..<(6 * size)]), inputLabels: [3, 1, 4, 1, 5, 9],
                                             decoys: Array(testSet.images[(6 * size)..<(10 * size)]), decoyLabels: [2, 6, 5, 3],
                                             sha256: String(repeating: "a", count: 64))
        let counts = QueryPlan.Counts(triggers: 40, controls: 20, decoys: 30)
        let plain = try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9)
        XCTAssertEqual(plain.digest, try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9, fingerprint: fingerprint).digest)
        var withFingerprint = counts
        (withFingerprint.fingerprints, withFingerprint.fingerprintDecoys) = (5, 4)
        let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: withFingerprint, seed: 9, fingerprint: fingerprint)
        let inputs = plan.queries.filter { $0.kind == .fingerprint }, decoys = plan.queries.filter { $0.kind == .fingerprintDecoy }
        XCTAssertEqual(inputs.count, 5)
        XCTAssertEqual(Set(decoys.map(\.expectedLabel)), [2, 6, 5, 3])
        for query in inputs {
            let n = try XCTUnwrap((0..<6).first { Array(fingerprint.inputs[($0 * size)..<(($0 + 1) * size)]) == query.image })
            XCTAssertLessThan(n, 5, "the first inputs of the fingerprint")
            XCTAssertEqual(query.expectedLabel, fingerprint.inputLabels[n])
        }
        XCTAssertNotEqual(plan.queries.suffix(9).map(\.kind), Array(repeating: .fingerprint, count: 5) + Array(repeating: .fingerprintDecoy, count: 4))
        (withFingerprint.fingerprints, withFingerprint.fingerprintDecoys) = (7, 0)
        XCTAssertThrowsError(try QueryPlan.make(spec: spec, testSet: testSet, counts: withFingerprint, seed: 9, fingerprint: fingerprint))
        XCTAssertThrowsError(try QueryPlan.make(spec: spec, testSet: testSet, counts: withFingerprint, seed: 9), "no fingerprint")
    }

    func testDecoysComeOnlyFromTheCalibrationsPairsWhenGiven() throws {
        let (spec, testSet, _) = try Self.fixture()
        let counts = QueryPlan.Counts(triggers: 40, controls: 20, decoys: 30)
        func digests(_ plan: QueryPlan, _ kinds: Set<QueryKind>) -> Set<String> { Set(plan.queries.filter { kinds.contains($0.kind) }.map(\.inputDigest)) }
        let everyPair = try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9)
        let chosen = try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9, decoyPairs: [[3, 4]])
        XCTAssertEqual(chosen.digest, try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9, decoyPairs: [[3, 4]]).digest)
        XCTAssertEqual(digests(chosen, [.trigger, .control]), digests(everyPair, [.trigger, .control]), "only the decoys change")
        XCTAssertTrue(digests(chosen, [.decoy]).isDisjoint(with: digests(everyPair, [.decoy])))
        XCTAssertEqual(chosen.queries.filter { $0.kind == .decoy }.count, 30)
        XCTAssertNotEqual(digests(chosen, [.decoy]),
                          digests(try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9, decoyPairs: [[5, 6]]), [.decoy]))
        for notAnotherPair in [[0, 1], [1, 0], [2, 3], [3, 42]] {
            XCTAssertThrowsError(try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: 9, decoyPairs: [notAnotherPair]),
                                 "\(notAnotherPair) is the secret pair or has the target")
        }
    }
}
