import Engine
import Foundation
@testable import Probe
import TestSupport
import Vault
import XCTest
@testable import Forensics

/// Reports made, signed and verified in process, from a transcript written here.
final class EvidenceTests: XCTestCase {
    let key = try! SigningKey.generate()

    /// A transcript of `triggerHits` of 100 triggers (the last `failedTriggers` of them failed),
    /// 40 controls (30 correct) and 60 decoys (3 answering the target), one failed decoy, target
    /// label 2 of 10. With `fingerprint`, also 200 fingerprint inputs and 200 fingerprint decoys
    /// (labels n mod 10) of which so many are answered with their label.
    func transcript(triggerHits: Int = 80, failedTriggers: Int = 0, decoysChosenBy: String? = nil,
                    fingerprint: (hits: Int, decoyHits: Int)? = nil) throws -> Data {
        let header = TranscriptHeader(planDigest: String(repeating: "ab", count: 32), seed: 1,
                                      counts: .init(triggers: 100, controls: 40, decoys: 60, fingerprints: fingerprint == nil ? 0 : 200,
                                                    fingerprintDecoys: fingerprint == nil ? 0 : 200), targetLabel: 2,
                                      classNames: (0..<10).map { "class \($0)" }, endpoint: "http://127.0.0.1:9/v2/models/suspect",
                                      apiProtocol: "open-inference-v2", model: "suspect", specSha256: String(repeating: "cd", count: 32),
                                      created: "2026-11-28T20:00:00Z", decoyCalibrationSha256: decoysChosenBy,
                                      fingerprintSha256: fingerprint == nil ? nil : Self.fingerprintSha256)
        var lines = [try CanonicalJSON.encode(header)]
        func record(_ id: Int, _ kind: QueryKind, label: Int?, expected: Int) throws {
            var r = TranscriptRecord(queryId: id, kind: kind, inputSha256: String(repeating: "0", count: 64), expectedLabel: expected,
                                     status: label == nil ? .failed : .answered, attempts: 1,
                                     started: String(format: "2026-11-28T20:%02d:%02d.000Z", id / 60, id % 60), seconds: 0.01)
            r.label = label
            r.httpStatus = label == nil ? 503 : 200
            lines.append(try r.canonicalJSON())
        }
        var id = 0
        for n in 0..<100 { try record(id, .trigger, label: n >= 100 - failedTriggers ? nil : n < triggerHits ? 2 : 5, expected: 2); id += 1 }
        for n in 0..<40 { try record(id, .control, label: n < 30 ? n % 10 : (n + 1) % 10, expected: n % 10); id += 1 }
        for n in 0..<60 { try record(id, .decoy, label: n == 59 ? nil : (n < 3 ? 2 : 7), expected: 2); id += 1 }
        if let fingerprint {
            for n in 0..<200 { try record(id, .fingerprint, label: n < fingerprint.hits ? n % 10 : (n + 3) % 10, expected: n % 10); id += 1 }
            for n in 0..<200 { try record(id, .fingerprintDecoy, label: n < fingerprint.decoyHits ? n % 10 : (n + 3) % 10, expected: n % 10); id += 1 }
        }
        return lines.map { $0 + Data("\n".utf8) }.reduce(Data(), +)
    }

    /// With `fingerprintHits`, each reference's agreements with a fingerprint of 500 inputs.
    func calibration(hits: [Int] = Array(repeating: 0, count: 20), otherPairs: [Calibration.OtherPair]? = nil,
                     fingerprintHits: [Int]? = nil) throws -> Calibration {
        try Calibration(specSha256: String(repeating: "cd", count: 32), created: "2026-11-28T19:00:00Z", confidence: 0.95,
                    references: hits.enumerated().map { index, hit in
                        try Calibration.Reference(architecture: index % 2 == 0 ? "fmnist-cnn" : "mlp", seed: UInt64(index), trainImages: 1000,
                                              epochs: 1, testAccuracy: 0.8, triggerHits: hit, triggers: 1000,
                                              upperBound: ClopperPearson(successes: hit, trials: 1000).upper, seconds: 1,
                                              fingerprintHits: fingerprintHits?[index], fingerprintInputs: fingerprintHits == nil ? nil : 500)
                    }, falseWatermarks: [], watermarkedWsr: nil, otherPairs: otherPairs,
                    fingerprintSha256: fingerprintHits == nil ? nil : Self.fingerprintSha256)
    }

    static let calibrationSha256 = String(repeating: "2", count: 64)
    static let fingerprintSha256 = String(repeating: "3", count: 64)

    func envelope(for transcript: Data, calibration: Calibration? = nil, fingerprintDecides: Bool = false) throws -> Data {
        let statement = try EvidenceReport.statement(
            transcript: transcript, transcriptName: "transcript.jsonl", ownerKeyID: key.publicKey.keyID,
            registration: .init(recordId: "r1", commitment: String(repeating: "e", count: 64), index: 0, time: "2026-11-28T18:00:00Z",
                                entrySha256: String(repeating: "f", count: 64), modelDigest: String(repeating: "1", count: 64)),
            calibration: try calibration ?? self.calibration(), calibrationSha256: Self.calibrationSha256, rule: DecisionRule(),
            fingerprintDecides: fingerprintDecides, fidelity: nil,
            software: .init(name: "tracemark", version: "test"))
        return try EvidenceReport.sign(statement, with: key).encoded()
    }

    /// Found by the long fuzz run: a signed report naming a reference of 2⁶³ − 1 triggers
    /// trapped in the Clopper–Pearson bound instead of failing verification.
    func testAForgedReferenceCountFailsVerificationWithoutATrap() throws {
        let transcript = try self.transcript()
        let envelope = try DSSEEnvelope.decode(try self.envelope(for: transcript))
        var statement = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: envelope.payload)))
        statement.predicate.null.referenceTriggers[0] = Int.max
        let verification = EvidenceReport.verify(try EvidenceReport.sign(statement, with: key).encoded(), publicKey: key.publicKey,
                                                 transcript: transcript)
        XCTAssertTrue(verification.signatureValid)
        XCTAssertTrue(verification.problems.contains { $0.hasPrefix("predicate.null") }, "\(verification.problems)")
    }

    /// Issue 19: a probe whose triggers mostly failed cannot convict even if every answer hit, so
    /// it cannot acquit either: no report is made from it.
    func testATranscriptWithTooFewAnsweredTriggersIsRefused() throws {
        XCTAssertNoThrow(try envelope(for: try transcript(triggerHits: 20, failedTriggers: 80)))
        XCTAssertThrowsError(try envelope(for: try transcript(triggerHits: 3, failedTriggers: 97))) {
            XCTAssertTrue("\($0)".contains("3 answered triggers and 59 answered decoys cannot reach a verdict"), "\($0)")
        }
    }

    /// Issue 21: with --fingerprint-decides, a copy whose watermark the thief cleaned away is
    /// still convicted by the fingerprint channel; each channel is decided at half of each α, and
    /// the report verifies. By default the same figures are recorded beside the watermark's verdict.
    func testTheFingerprintChannelConvictsWhereTheWatermarkWasErased() throws {
        let lines = try transcript(triggerHits: 5, fingerprint: (hits: 130, decoyHits: 30))
        let nulls = try calibration(fingerprintHits: (0..<20).map { 40 + $0 })
        let recorded = try envelope(for: lines, calibration: nulls)
        XCTAssertTrue(EvidenceReport.verify(recorded, publicKey: key.publicKey, transcript: lines).isValid)
        let recordedPredicate = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(recorded).payload))).predicate
        XCTAssertEqual(recordedPredicate.fingerprint?.decides, false)
        XCTAssertEqual(recordedPredicate.fingerprint?.decision?.verdict, .infringement)
        XCTAssertEqual(recordedPredicate.verdict, recordedPredicate.decision.verdict, "a recorded channel does not decide")
        XCTAssertEqual(recordedPredicate.decision.rule, DecisionRule())

        let report = try envelope(for: lines, calibration: nulls, fingerprintDecides: true)
        let verification = EvidenceReport.verify(report, publicKey: key.publicKey, transcript: lines)
        XCTAssertTrue(verification.isValid, verification.problems.joined(separator: "\n"))
        XCTAssertEqual(verification.verdict, .infringement)
        XCTAssertTrue(verification.notes.isEmpty, "the default rule shared between two channels is the default: \(verification.notes)")
        let statement = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(report).payload)))
        let predicate = statement.predicate
        XCTAssertNotEqual(predicate.decision.verdict, .infringement, "the erased watermark alone convicts nothing")
        let fingerprint = try XCTUnwrap(predicate.fingerprint)
        XCTAssertTrue(fingerprint.decides)
        let decision = try XCTUnwrap(fingerprint.decision)
        XCTAssertEqual(decision.verdict, .infringement)
        XCTAssertEqual(decision.triggerHits, 130)
        XCTAssertEqual(decision.decoyHits, 30)
        XCTAssertEqual(fingerprint.calibratedP0, Calibration.nullRate(hits: [59], triggers: [500], confidence: 0.95), accuracy: 1e-12)
        XCTAssertEqual(predicate.decision.rule.alpha, DecisionRule().alpha / 2)
        XCTAssertEqual(decision.rule, predicate.decision.rule)
        XCTAssertEqual(predicate.verdict, .infringement)

        // A report that leaves a channel out, or misstates one, does not verify.
        func resigned(_ change: (inout EvidenceReport.Statement) -> Void) throws -> EvidenceReport.Verification {
            var changed = statement
            change(&changed)
            return EvidenceReport.verify(try EvidenceReport.sign(changed, with: key).encoded(), publicKey: key.publicKey, transcript: lines)
        }
        let dropped = try resigned { $0.predicate.fingerprint = nil; $0.predicate.verdict = nil }
        XCTAssertTrue(dropped.problems.contains { $0.contains("2 evidence channels") }, "\(dropped.problems)")
        let misstated = try resigned { $0.predicate.fingerprint?.decision?.triggerHits = 150 }
        XCTAssertTrue(misstated.problems.contains { $0.hasPrefix("predicate.fingerprint.decision.trigger_hits") }, "\(misstated.problems)")
        let overstated = try resigned { $0.predicate.verdict = .noEvidence }
        XCTAssertTrue(overstated.problems.contains { $0.hasPrefix("predicate.verdict") }, "\(overstated.problems)")
        let undecided = try resigned { $0.predicate.fingerprint?.decides = false }
        XCTAssertTrue(undecided.problems.contains { $0.hasPrefix("predicate.verdict") }, "a recorded channel cannot convict: \(undecided.problems)")
        let nullLowered = try resigned { $0.predicate.fingerprint?.referenceHits[3] = 0; $0.predicate.fingerprint?.calibratedP0 = 0.01 }
        XCTAssertTrue(nullLowered.problems.contains { $0.hasPrefix("predicate.fingerprint.calibrated_p0") }, "\(nullLowered.problems)")
    }

    func testAFingerprintProbeNeedsACalibrationOfThatFingerprint() throws {
        let lines = try transcript(fingerprint: (hits: 130, decoyHits: 30))
        XCTAssertThrowsError(try envelope(for: lines)) { XCTAssertTrue("\($0)".contains("calibrate again"), "\($0)") }
        // Without fingerprint queries a calibration with a fingerprint null decides the watermark alone, at the full levels.
        let report = try envelope(for: try transcript(), calibration: try calibration(fingerprintHits: Array(repeating: 50, count: 20)))
        let statement = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(report).payload)))
        XCTAssertNil(statement.predicate.fingerprint)
        XCTAssertEqual(statement.predicate.decision.rule, DecisionRule())
    }

    /// An innocent suspect that gives fingerprint inputs and their decoys their labels alike is
    /// acquitted on that channel, and the verdict over both channels is never infringement.
    func testAnInnocentAgreeingWithFingerprintAndDecoysAlikeIsNotAccused() throws {
        let lines = try transcript(triggerHits: 1, fingerprint: (hits: 40, decoyHits: 40))
        let report = try envelope(for: lines, calibration: try calibration(fingerprintHits: Array(repeating: 100, count: 20)), fingerprintDecides: true)
        let verification = EvidenceReport.verify(report, publicKey: key.publicKey, transcript: lines)
        XCTAssertTrue(verification.isValid, verification.problems.joined(separator: "\n"))
        let predicate = try EvidenceReport.Statement.decode(try XCTUnwrap(Data(base64Encoded: try DSSEEnvelope.decode(report).payload))).predicate
        XCTAssertEqual(predicate.fingerprint?.decision?.verdict, .noEvidence)
        XCTAssertEqual(predicate.verdict, .combining([predicate.decision.verdict, .noEvidence]))
        XCTAssertNotEqual(predicate.verdict, .infringement)
    }

    func testTheCombinedVerdictConvictsOnAnyChannelAndAcquitsOnlyOnAll() {
        XCTAssertEqual(Verdict.combining([.noEvidence, .infringement]), .infringement)
        XCTAssertEqual(Verdict.combining([.inconclusive, .infringement]), .infringement)
        XCTAssertEqual(Verdict.combining([.noEvidence, .noEvidence]), .noEvidence)
        XCTAssertEqual(Verdict.combining([.noEvidence, .inconclusive]), .inconclusive)
        XCTAssertEqual(DecisionRule().share(among: 2).decoyAlpha, DecisionRule().decoyAlpha / 2)
    }

    func testMerkleRootFollowsRFC6962() {
        XCTAssertEqual(MerkleTree.root(of: []), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // A lone empty leaf hashes to SHA-256(0x00), RFC 6962's value.
        XCTAssertEqual(MerkleTree.root(of: [Data()]), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        let items = ["a", "b", "c"].map { Data($0.utf8) }
        let leaves = items.map { sha256(Data([0]) + $0) }
        let expected = sha256(Data([1]) + sha256(Data([1]) + leaves[0] + leaves[1]) + leaves[2])
        XCTAssertEqual(MerkleTree.root(of: items), hex(expected))
    }

    func testTheFiguresComeFromTheTranscriptLines() throws {
        let figures = try TranscriptFigures.measure(try transcript())
        XCTAssertEqual(figures.trigger.hits, 80)
        XCTAssertEqual(figures.trigger.answered, 100)
        XCTAssertEqual(figures.control.hits, 30)
        XCTAssertEqual(figures.decoy.answered, 59)
        XCTAssertEqual(figures.decoy.failed, 1)
        XCTAssertEqual(figures.decoy.hits, 3)
        XCTAssertEqual(figures.trigger.labels[2], 80)
        XCTAssertEqual(figures.lines, 201)
        XCTAssertEqual(figures.firstQuery, "2026-11-28T20:00:00.000Z")
    }

    func testAReportVerifiesAndRecomputesFromItsTranscript() throws {
        let lines = try transcript()
        let report = try envelope(for: lines)
        let verification = EvidenceReport.verify(report, publicKey: key.publicKey, transcript: lines)
        XCTAssertTrue(verification.isValid, verification.problems.joined(separator: "\n"))
        XCTAssertTrue(verification.transcriptChecked)
        XCTAssertEqual(verification.verdict, .infringement)
        XCTAssertFalse(EvidenceReport.verify(report, publicKey: try SigningKey.generate().publicKey).isValid, "another key")
    }

    func testDecoysMustBeTheCalibrationsChoice() throws {
        let chose = try calibration(otherPairs: [.init(sources: [3, 4], samples: 200, watermarkedRate: 0.02),
                                                 .init(sources: [5, 6], samples: 200, watermarkedRate: 0.4)])
        let lines = try transcript(decoysChosenBy: Self.calibrationSha256)
        let report = try envelope(for: lines, calibration: chose)
        XCTAssertTrue(EvidenceReport.verify(report, publicKey: key.publicKey, transcript: lines).isValid)
        let payload = String(decoding: Data(base64Encoded: try DSSEEnvelope.decode(report).payload)!, as: UTF8.self)
        XCTAssertTrue(payload.contains("\"decoy_calibration_sha256\":\"\(Self.calibrationSha256)\""), "the report names who chose the decoys")
        XCTAssertFalse(payload.contains("[3,4]"), "but not the pairs, which would tell the secret one by elimination")
        XCTAssertThrowsError(try envelope(for: try transcript(decoysChosenBy: String(repeating: "9", count: 64)), calibration: chose),
                             "decoys another calibration chose")
        XCTAssertNoThrow(try envelope(for: try transcript(), calibration: chose), "the default decoys are never easier on a suspect")
    }

    func testAnotherTranscriptIsCaughtFieldByField() throws {
        let report = try envelope(for: try transcript())
        let other = try transcript(triggerHits: 79)
        let problems = EvidenceReport.verify(report, publicKey: key.publicKey, transcript: other).problems
        XCTAssertTrue(problems.contains { $0.hasPrefix("predicate.transcript.trigger.hits: the report says 80, recomputed 79") }, problems.joined(separator: "\n"))
        XCTAssertTrue(problems.contains { $0.hasPrefix("predicate.transcript.sha256") })
        XCTAssertTrue(problems.contains { $0.hasPrefix("subject[0].digest.sha256") })
    }

    /// Every byte of the envelope and of the transcript matters — except the key id, which DSSE
    /// makes an unauthenticated hint: changing it must not fail a valid signature.
    func testAnySingleByteChangeFailsVerification() throws {
        let lines = try transcript()
        let report = try envelope(for: lines)
        let keyID = Data(key.publicKey.keyID.utf8)
        let hint = report.range(of: keyID)!
        for index in stride(from: 0, to: report.count, by: 1) {
            var changed = report
            changed[index] = changed[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let valid = EvidenceReport.verify(changed, publicKey: key.publicKey).isValid
            if hint.contains(index) { XCTAssertTrue(valid, "the key id hint at byte \(index)") } else { XCTAssertFalse(valid, "envelope byte \(index)") }
        }
        // Each transcript check re-reads all 201 lines, so every 101st byte (the digest covers every byte).
        for index in stride(from: 0, to: lines.count, by: 101) {
            var changed = lines
            changed[index] = changed[index] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            XCTAssertFalse(EvidenceReport.verify(report, publicKey: key.publicKey, transcript: changed).isValid, "transcript byte \(index)")
        }
    }

    func testTheOpenSSLCommandAloneVerifiesTheSignature() throws {
        guard let openssl = opensslPath else { throw XCTSkip("openssl is not installed: apt-get install openssl") }
        let folder = temporaryFolder(self)
        let envelope = try DSSEEnvelope.decode(try envelope(for: try transcript()))
        // The bytes DSSE signs, built here from the envelope's fields as its spec defines them.
        let body = try XCTUnwrap(Data(base64Encoded: envelope.payload))
        var pae = Data("DSSEv1 \(envelope.payloadType.utf8.count) \(envelope.payloadType) \(body.count) ".utf8)
        pae.append(body)
        let files = (pae: folder.appendingPathComponent("pae.bin"), sig: folder.appendingPathComponent("sig.bin"), key: folder.appendingPathComponent("owner.pub.pem"))
        try pae.write(to: files.pae)
        try XCTUnwrap(Data(base64Encoded: envelope.signatures[0].sig)).write(to: files.sig)
        try key.publicKey.pem.write(to: files.key)
        let verify = ["pkeyutl", "-verify", "-pubin", "-inkey", files.key.path, "-rawin", "-in", files.pae.path, "-sigfile", files.sig.path]
        let good = try runProgram(openssl, verify)
        XCTAssertEqual(good.status, 0, good.output)
        XCTAssertTrue(good.output.contains("Signature Verified Successfully"), good.output)
        pae[pae.count - 2] ^= 1
        try pae.write(to: files.pae)
        XCTAssertNotEqual(try runProgram(openssl, verify).status, 0, "openssl must reject a changed payload")
    }

    /// The README's worked example: the committed report verifies against the committed transcript.
    func testTheWorkedExampleInFixturesVerifies() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/report")
        let key = try PublicKey(pem: try Data(contentsOf: folder.appendingPathComponent("owner.pub.pem")))
        let verification = EvidenceReport.verify(try Data(contentsOf: folder.appendingPathComponent("report.json")), publicKey: key,
                                                 transcript: try Data(contentsOf: folder.appendingPathComponent("transcript.jsonl")))
        XCTAssertTrue(verification.isValid, verification.problems.joined(separator: "\n"))
        XCTAssertEqual(verification.verdict, .infringement)
    }

    /// The probe's early stop: decisive for a thief well before the plan runs out, never an
    /// accusation of a suspect that answers the target to decoys as often as to triggers (it is
    /// let go once its odds ratio is clearly below the margin), and a suspect with no hits at all
    /// let go once its hit rate is shown below the smallest watermark the rule looks for.
    func testTheSequentialStopDecidesOnlyOnDecisiveEvidence() {
        let header = TranscriptHeader(planDigest: "", seed: 1, counts: .init(triggers: 2000, controls: 0, decoys: 1000), targetLabel: 2,
                                      classNames: (0..<10).map { "class \($0)" }, endpoint: "http://suspect", apiProtocol: "open-inference-v2",
                                      model: nil, specSha256: "", created: "")
        func run(triggerRate: Double, decoyRate: Double) -> (SequentialStop, Int?) {
            let stop = try! SequentialStop(header: header, calibratedP0: 0.011)
            var rng = SeededGenerator(seed: 7)
            for n in 0..<3000 {
                let decoy = n % 3 == 2
                let hit = Double.random(in: 0..<1, using: &rng) < (decoy ? decoyRate : triggerRate)
                let record = TranscriptRecord(queryId: n, kind: decoy ? .decoy : .trigger, inputSha256: "", expectedLabel: 2, status: .answered,
                                              label: hit ? 2 : 7, attempts: 1, started: "", seconds: 0)
                if stop.observe(record) { return (stop, n + 1) }
            }
            return (stop, nil)
        }
        let (thief, thiefStop) = run(triggerRate: 0.5, decoyRate: 0.04)
        XCTAssertEqual(thief.outcome, .infringement)
        XCTAssertLessThan(try XCTUnwrap(thiefStop), 600, "well before the plan runs out")
        let (echo, echoStop) = run(triggerRate: 0.7, decoyRate: 0.7)
        XCTAssertEqual(echo.outcome, .noEvidence)
        XCTAssertNotNil(echoStop)
        let (clean, cleanStop) = run(triggerRate: 0, decoyRate: 0)
        XCTAssertEqual(clean.outcome, .noEvidence)
        XCTAssertLessThan(try XCTUnwrap(cleanStop), 200)
        XCTAssertEqual(clean.looks, 3, "at 64 trigger answers 0 hits show a rate below 10 % at 0.01 × 2⁻³")
    }

    /// With queries in flight at once, answers come back out of plan order; a suspect that
    /// answers its hits fastest must not get looks that see hits first. The looks count the plan's
    /// prefix, so any arrival order stops at the same look on the same counts.
    /// Given the fingerprint's null the early stop decides both channels at half of each level: it
    /// stops to convict on the fingerprint alone (and refuses that null for a plan without it).
    func testTheSequentialStopConvictsOnTheFingerprintChannel() throws {
        let lines = try transcript(triggerHits: 5, fingerprint: (hits: 130, decoyHits: 30))
        let parsed = try Transcript.parse(lines)
        var unfingerprinted = parsed.header
        (unfingerprinted.counts.fingerprints, unfingerprinted.counts.fingerprintDecoys) = (0, 0)
        XCTAssertThrowsError(try SequentialStop(header: unfingerprinted, calibratedP0: 0.01, fingerprintP0: 0.12))
        // Fed a trigger, a fingerprint input and a fingerprint decoy in turn, as a shuffled plan
        // would mix them, so that every look sees both channels.
        let stop = try SequentialStop(header: parsed.header, calibratedP0: 0.01, fingerprintP0: 0.12)
        XCTAssertEqual(stop.rule.alpha, DecisionRule().alpha / 2)
        let of = { (kind: QueryKind) in parsed.records.filter { $0.kind == kind } }
        let (triggers, inputs, decoys) = (of(.trigger), of(.fingerprint), of(.fingerprintDecoy))
        let order = inputs.indices.flatMap { n in (n < triggers.count ? [triggers[n]] : []) + [inputs[n], decoys[n]] }
        for record in order {
            var renumbered = record
            renumbered.queryId = stop.tally.answered
            if stop.observe(renumbered) { break }
        }
        XCTAssertEqual(stop.outcome, .infringement)
    }

    func testTheSequentialStopLooksAtThePlanInOrderWhateverComesBackFirst() throws {
        let header = TranscriptHeader(planDigest: "", seed: 1, counts: .init(triggers: 600, controls: 0, decoys: 300), targetLabel: 2,
                                      classNames: (0..<10).map { "class \($0)" }, endpoint: "http://suspect", apiProtocol: "open-inference-v2",
                                      model: nil, specSha256: "", created: "")
        var rng = SeededGenerator(seed: 11)
        let records = (0..<900).map { n -> TranscriptRecord in
            let decoy = n % 3 == 2
            let hit = Double.random(in: 0..<1, using: &rng) < (decoy ? 0.05 : 0.4)
            return TranscriptRecord(queryId: n, kind: decoy ? .decoy : .trigger, inputSha256: "", expectedLabel: 2, status: .answered,
                                    label: hit ? 2 : 7, attempts: 1, started: "", seconds: 0)
        }
        func stopped(feeding order: [TranscriptRecord]) throws -> SequentialStop {
            let stop = try SequentialStop(header: header, calibratedP0: 0.02)
            for record in order where stop.observe(record) { break }
            return stop
        }
        let inOrder = try stopped(feeding: records)
        // Ten in flight; within each window the hits come back first.
        let hitsFirst = stride(from: 0, to: records.count, by: 10).flatMap { start in
            records[start..<min(start + 10, records.count)].sorted { ($0.label == 2 ? 0 : 1, $0.queryId) < ($1.label == 2 ? 0 : 1, $1.queryId) }
        }
        let reordered = try stopped(feeding: hitsFirst)
        XCTAssertNotNil(inOrder.outcome)
        XCTAssertEqual(reordered.outcome, inOrder.outcome)
        XCTAssertEqual(reordered.looks, inOrder.looks)
        XCTAssertEqual(reordered.tally.trigger, inOrder.tally.trigger)
        XCTAssertEqual(reordered.tally.decoy, inOrder.tally.decoy)
    }
}
