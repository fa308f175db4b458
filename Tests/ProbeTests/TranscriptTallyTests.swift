import XCTest
@testable import Probe

/// The one scorer of transcripts: a failure is replaced by a later answer of the same query
/// (a resume retries it), and what no probe writes is refused without a trap.
final class TranscriptTallyTests: XCTestCase {
    let header = TranscriptHeader(planDigest: "", seed: 1, counts: .init(triggers: 2, controls: 1, decoys: 1), targetLabel: 2,
                                  classNames: (0..<10).map { "class \($0)" }, endpoint: "http://suspect", apiProtocol: "open-inference-v2",
                                  model: nil, specSha256: "", created: "")

    func record(_ id: Int, _ kind: QueryKind, label: Int?, expected: Int = 2, attempts: Int = 1) -> TranscriptRecord {
        TranscriptRecord(queryId: id, kind: kind, inputSha256: "", expectedLabel: expected, status: label == nil ? .failed : .answered,
                         label: label, attempts: attempts, error: label == nil ? "HTTP 503: busy" : nil, started: "", seconds: 0)
    }

    func testAFailureIsReplacedByALaterAnswer() throws {
        var tally = try TranscriptTally(header: header)
        XCTAssertFalse(try tally.count(record(0, .trigger, label: nil)))
        XCTAssertFalse(try tally.count(record(1, .trigger, label: nil)))
        XCTAssertEqual(tally.trigger.failed, 2)
        XCTAssertEqual(tally.failureProblem, "2 of 2 queries failed; most often: 2× HTTP 503: busy")
        XCTAssertTrue(try tally.count(record(0, .trigger, label: 2)))
        XCTAssertTrue(try tally.count(record(2, .control, label: 4, expected: 4)))
        XCTAssertTrue(try tally.count(record(3, .decoy, label: 7)))
        XCTAssertEqual([tally.trigger.answered, tally.trigger.failed, tally.trigger.hits], [1, 1, 1])
        XCTAssertEqual([tally.control.hits, tally.decoy.hits], [1, 0])
        XCTAssertEqual(tally.attempts, 5)
        XCTAssertNil(tally.failureProblem, "3 answered against 1 failed")
    }

    func testWhatNoProbeWritesIsRefused() throws {
        var tally = try TranscriptTally(header: header)
        _ = try tally.count(record(0, .trigger, label: 2))
        XCTAssertThrowsError(try tally.count(record(0, .trigger, label: 5))) { XCTAssertTrue("\($0)".contains("answered twice"), "\($0)") }
        XCTAssertFalse(try tally.count(record(1, .decoy, label: nil)))
        XCTAssertThrowsError(try tally.count(record(1, .trigger, label: 2))) { XCTAssertTrue("\($0)".contains("a decoy in one record"), "\($0)") }
        XCTAssertThrowsError(try tally.count(record(2, .decoy, label: 2, expected: 5))) { XCTAssertTrue("\($0)".contains("the target is 2"), "\($0)") }
        XCTAssertThrowsError(try tally.count(record(4, .trigger, label: 2))) { XCTAssertTrue("\($0)".contains("not in the plan"), "\($0)") }
        XCTAssertThrowsError(try tally.count(record(-1, .trigger, label: 2)))
        XCTAssertThrowsError(try tally.count(record(3, .decoy, label: 2, attempts: .max)))
    }

    /// Fingerprint queries hit when answered with their own expected label, whatever the target;
    /// one without an expected class is refused.
    func testFingerprintQueriesAreScoredByTheirOwnLabels() throws {
        var fingerprinted = header
        fingerprinted.counts = .init(triggers: 2, controls: 1, decoys: 1, fingerprints: 2, fingerprintDecoys: 1)
        var tally = try TranscriptTally(header: fingerprinted)
        XCTAssertTrue(try tally.count(record(4, .fingerprint, label: 7, expected: 7)))
        XCTAssertTrue(try tally.count(record(5, .fingerprint, label: 2, expected: 8)))
        XCTAssertTrue(try tally.count(record(6, .fingerprintDecoy, label: 1, expected: 1)))
        XCTAssertEqual([tally.fingerprint.planned, tally.fingerprint.answered, tally.fingerprint.hits], [2, 2, 1])
        XCTAssertEqual([tally.fingerprintDecoy.answered, tally.fingerprintDecoy.hits, tally.trigger.hits], [1, 1, 0])
        XCTAssertEqual(tally.answered, 3)
        var unlabelled = record(0, .fingerprint, label: 3)
        unlabelled.expectedLabel = nil
        XCTAssertThrowsError(try tally.count(unlabelled)) { XCTAssertTrue("\($0)".contains("expects no class"), "\($0)") }
        XCTAssertThrowsError(try tally.count(record(1, .fingerprintDecoy, label: 3, expected: 10)))
    }

    func testAForgedHeaderIsRefusedNotTrapped() {
        for counts in [QueryPlan.Counts(triggers: .max, controls: 1, decoys: 1), .init(triggers: -5, controls: 0, decoys: 0),
                       .init(triggers: 1, controls: .max, decoys: .max), .init(triggers: 1, controls: 0, decoys: 0, fingerprints: -1),
                       .init(triggers: 1, controls: 0, decoys: 0, fingerprints: 1, fingerprintDecoys: .max)] {
            var forged = header
            forged.counts = counts
            XCTAssertThrowsError(try TranscriptTally(header: forged), "\(counts)")
        }
    }
}
