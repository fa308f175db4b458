import Engine
import Foundation
import Vault

/// Makes and checks evidence reports: an in-toto statement with an `EvidencePredicate`,
/// signed in a DSSE envelope with the owner's Ed25519 key.
public enum EvidenceReport {
    public typealias Statement = InTotoStatement<EvidencePredicate>

    /// The statement for a transcript, from the registration the spec was sealed in and the
    /// spec's calibration. The transcript must come from the calibrated spec.
    public static func statement(transcript: Data, transcriptName: String, ownerKeyID: String,
                                 registration: EvidencePredicate.Registration, calibration: Calibration, calibrationSha256: String,
                                 rule: DecisionRule, fingerprintDecides: Bool = false, fidelity: Double?, software: EvidencePredicate.Software,
                                 now: Date = Date()) throws -> Statement {
        let figures = try TranscriptFigures.measure(transcript)
        guard figures.specSha256 == calibration.specSha256 else {
            throw ForensicsError.invalid("the transcript probed spec \(figures.specSha256.prefix(12))…, the calibration is of spec \(calibration.specSha256.prefix(12))…")
        }
        // Decoys chosen by anything but this calibration could be chosen to lower p0.
        if let chooser = figures.decoyCalibrationSha256, chooser != calibrationSha256 {
            throw ForensicsError.invalid("the transcript's decoys were chosen by calibration \(chooser.prefix(12))…, not by this one (\(calibrationSha256.prefix(12))…)")
        }
        // Each channel that decides does so at its share of the rule.
        let fingerprinted = figures.channels.contains(.fingerprint)
        let rule = rule.share(among: fingerprinted && fingerprintDecides ? 2 : 1)
        var fingerprintP0: Double?
        if fingerprinted {
            guard let digest = calibration.fingerprintSha256, digest == figures.fingerprintSha256, let p0 = calibration.fingerprintP0 else {
                throw ForensicsError.invalid("the transcript probed fingerprint \(figures.fingerprintSha256?.prefix(12) ?? "?")…, and the calibration measured \(calibration.fingerprintSha256.map { "fingerprint \($0.prefix(12))…" } ?? "no fingerprint"): calibrate again")
            }
            fingerprintP0 = p0
        }
        for channel in figures.channels where channel == .watermark || fingerprintDecides {
            if let problem = problem(channel, figures, calibratedP0: channel == .watermark ? calibration.p0 : fingerprintP0!, rule: rule) {
                throw ForensicsError.invalid("the transcript's \(channel.rawValue) figures cannot be decided: \(problem)")
            }
        }
        let null = EvidencePredicate.NullSource(
            calibrationSha256: calibrationSha256, created: calibration.created, confidence: calibration.confidence,
            referenceArchitectures: calibration.references.map(\.architecture), referenceHits: calibration.references.map(\.triggerHits),
            referenceTriggers: calibration.references.map(\.triggers),
            calibratedP0: calibration.p0)
        let fingerprint = fingerprintP0.map { p0 in
            EvidencePredicate.FingerprintEvidence(
                decides: fingerprintDecides, fingerprintSha256: calibration.fingerprintSha256!,
                referenceHits: calibration.references.compactMap(\.fingerprintHits),
                referenceInputs: calibration.references.compactMap(\.fingerprintInputs), calibratedP0: p0,
                decision: decisionIfDecidable(.fingerprint, figures, calibratedP0: p0, rule: rule))
        }
        let decision = decide(.watermark, figures, calibratedP0: null.calibratedP0, rule: rule)
        let predicate = EvidencePredicate(
            ownerKeyId: ownerKeyID, created: Vault.timestamp(now), registration: registration, null: null, transcript: figures,
            decision: decision, fingerprint: fingerprint, verdict: verdict(decision, fingerprint),
            controlAccuracy: figures.controlAccuracy, fidelity: fidelity, software: software)
        return Statement(subject: subjects(transcriptName: transcriptName, figures: figures),
                         predicateType: EvidencePredicate.predicateType, predicate: predicate)
    }

    public static func sign(_ statement: Statement, with key: SigningKey) throws -> DSSEEnvelope {
        try DSSEEnvelope.sign(try statement.encoded(), type: Statement.payloadType, with: key)
    }

    /// The verdict over the channels that decide.
    static func verdict(_ decision: Decision, _ fingerprint: EvidencePredicate.FingerprintEvidence?) -> Verdict {
        .combining([decision.verdict] + (fingerprint.flatMap { $0.decides ? $0.decision.map { [$0.verdict] } ?? [.inconclusive] : nil } ?? []))
    }

    /// Why one channel's counts cannot be decided on, or nil (`Decision.problem`).
    static func problem(_ channel: EvidenceChannel, _ figures: TranscriptFigures, calibratedP0: Double, rule: DecisionRule) -> String? {
        let c = figures.counts(channel)
        return Decision.problem(triggerHits: c.hits, triggers: c.answered, decoyHits: c.decoyHits, decoys: c.decoys, calibratedP0: calibratedP0, rule: rule)
    }

    /// The channel's decision, or nil when its counts cannot be decided on.
    static func decisionIfDecidable(_ channel: EvidenceChannel, _ figures: TranscriptFigures, calibratedP0: Double, rule: DecisionRule) -> Decision? {
        problem(channel, figures, calibratedP0: calibratedP0, rule: rule) == nil ? decide(channel, figures, calibratedP0: calibratedP0, rule: rule) : nil
    }

    static func decide(_ channel: EvidenceChannel, _ figures: TranscriptFigures, calibratedP0: Double, rule: DecisionRule) -> Decision {
        let c = figures.counts(channel)
        return Decision(triggerHits: c.hits, triggers: c.answered, decoyHits: c.decoyHits, decoys: c.decoys, calibratedP0: calibratedP0,
                        rule: rule, channel: channel)
    }

    /// The transcript file and the endpoint (named by the SHA-256 of its URL).
    static func subjects(transcriptName: String, figures: TranscriptFigures) -> [Statement.Subject] {
        [Statement.Subject(name: transcriptName, sha256: figures.sha256),
         Statement.Subject(name: figures.endpoint, sha256: sha256Hex(Data(figures.endpoint.utf8)))]
    }

    public struct Verification: Encodable, Sendable {
        public var signatureValid = false
        public var keyId: String
        public var transcriptChecked = false
        public var disclosureChecked = false
        public var verdict: Verdict?
        /// Each names the field that does not check out; empty when the report verifies.
        public var problems: [String] = []
        /// What a reader should know that is not a failure (a non-default decision rule).
        public var notes: [String] = []
        public var isValid: Bool { signatureValid && problems.isEmpty }

        public init(keyId: String) { self.keyId = keyId }
    }

    /// Checks the signature, then every figure the report can be checked against: its own
    /// counts always, the transcript's bytes when given, the disclosed spec when given.
    public static func verify(_ envelopeBytes: Data, publicKey: PublicKey, transcript: Data? = nil, disclosure: Disclosure? = nil) -> Verification {
        var result = Verification(keyId: publicKey.keyID)
        let statement: Statement
        do {
            let envelope = try DSSEEnvelope.decode(envelopeBytes)
            guard envelope.payloadType == Statement.payloadType else {
                result.problems.append("payloadType: \(envelope.payloadType), not \(Statement.payloadType)")
                return result
            }
            let payload = try envelope.verifiedPayload(with: publicKey)
            result.signatureValid = true
            statement = try Statement.decode(payload)
        } catch {
            result.problems.append("\(error)")
            return result
        }
        let predicate = statement.predicate
        result.verdict = predicate.combinedVerdict
        if statement.predicateType != EvidencePredicate.predicateType {
            result.problems.append("predicateType: \(statement.predicateType), not \(EvidencePredicate.predicateType)")
        }
        if predicate.ownerKeyId != publicKey.keyID {
            result.problems.append("predicate.owner_key_id: the report names key \(predicate.ownerKeyId), it verifies with \(publicKey.keyID)")
        }
        let null = predicate.null
        guard null.confidence > 0, null.confidence < 1, null.referenceHits.count == null.referenceTriggers.count,
              zip(null.referenceHits, null.referenceTriggers).allSatisfy({ $1 <= Binomial.largestTrials && (0...$1).contains($0) }) else {
            result.problems.append("predicate.null: reference counts or confidence out of range")
            return result
        }
        let p0 = Calibration.nullRate(hits: null.referenceHits, triggers: null.referenceTriggers, confidence: null.confidence)
        result.problems += differences(null.calibratedP0, p0, at: "predicate.null.calibrated_p0")

        var figures = predicate.transcript
        if let transcript {
            do {
                figures = try TranscriptFigures.measure(transcript)
                result.transcriptChecked = true
                result.problems += differences(predicate.transcript, figures, at: "predicate.transcript")
                let expected = subjects(transcriptName: statement.subject.first?.name ?? "", figures: figures)
                result.problems += differences(statement.subject, expected, at: "subject")
            } catch {
                result.problems.append("transcript: \(error)")
            }
        }
        if let firstQuery = figures.firstQuery, firstQuery.prefix(19) < predicate.registration.time.prefix(19) {
            result.problems.append("predicate.registration.time: the watermark was registered (\(predicate.registration.time)) after the probe began (\(firstQuery))")
        }
        let rule = predicate.decision.rule
        if let problem = problem(.watermark, figures, calibratedP0: null.calibratedP0, rule: rule) {
            result.problems.append("predicate.decision: \(problem)")
        } else {
            result.problems += differences(predicate.decision, decide(.watermark, figures, calibratedP0: null.calibratedP0, rule: rule), at: "predicate.decision")
        }
        result.problems += fingerprintProblems(predicate, figures: figures, confidence: null.confidence)
        result.problems += differences(predicate.controlAccuracy, figures.controlAccuracy, at: "predicate.control_accuracy")
        // Every channel of the plan is reported: a report may not leave out what it found.
        if figures.channels.count != (predicate.fingerprint == nil ? 1 : 2) {
            result.problems.append("predicate.fingerprint: the transcript has \(figures.channels.count) evidence channels, the report \(predicate.fingerprint == nil ? 1 : 2)")
        }
        let channels = predicate.fingerprint?.decides == true ? 2 : 1
        let verdict = verdict(predicate.decision, predicate.fingerprint)
        if predicate.combinedVerdict != verdict || (channels > 1 && predicate.verdict == nil) {
            result.problems.append("predicate.verdict: the report says \(predicate.verdict?.rawValue ?? "nothing"), its channels give \(verdict.rawValue)")
        }
        if rule != DecisionRule().share(among: channels) {
            result.notes.append("the report's decision rule is not the default: α \(rule.alpha) against the calibration, α \(rule.decoyAlpha) against the decoys with odds-ratio margin \(rule.oddsRatioMargin), confidence \(rule.confidence)" + (channels > 1 ? " (each of \(channels) channels)" : ""))
        }
        if let disclosure {
            result.disclosureChecked = true
            result.problems += disclosure.problems(registration: predicate.registration, specSha256: figures.specSha256, owner: publicKey)
        }
        return result
    }

    /// The fingerprint channel's figures recomputed: its null from the reference counts, its
    /// decision from the transcript's counts at the watermark channel's rule.
    static func fingerprintProblems(_ predicate: EvidencePredicate, figures: TranscriptFigures, confidence: Double) -> [String] {
        guard let evidence = predicate.fingerprint else { return [] }
        guard evidence.referenceHits.count == evidence.referenceInputs.count, !evidence.referenceInputs.isEmpty,
              zip(evidence.referenceHits, evidence.referenceInputs).allSatisfy({ $1 <= Binomial.largestTrials && (0...$1).contains($0) }) else {
            return ["predicate.fingerprint: reference counts out of range"]
        }
        var problems: [String] = []
        if evidence.fingerprintSha256 != figures.fingerprintSha256 {
            problems.append("predicate.fingerprint.fingerprint_sha256: the report names \(evidence.fingerprintSha256), the transcript \(figures.fingerprintSha256 ?? "none")")
        }
        let p0 = Calibration.nullRate(hits: evidence.referenceHits, triggers: evidence.referenceInputs, confidence: confidence)
        problems += differences(evidence.calibratedP0, p0, at: "predicate.fingerprint.calibrated_p0")
        let rule = predicate.decision.rule
        if let decision = evidence.decision, decision.rule != rule {
            problems.append("predicate.fingerprint.decision.rule: the channels were decided by different rules")
        }
        problems += differences(evidence.decision, decisionIfDecidable(.fingerprint, figures, calibratedP0: p0, rule: rule),
                                at: "predicate.fingerprint.decision")
        return problems
    }

    /// Where two values' canonical JSON differ, each as "path: the report says A, recomputed B";
    /// numbers within 1e-9 relative agree.
    static func differences<T: Encodable>(_ claimed: T, _ recomputed: T, at path: String) -> [String] {
        func tree(_ value: T) -> Any? {
            (try? CanonicalJSON.encode(value)).flatMap { try? JSONSerialization.jsonObject(with: $0, options: [.fragmentsAllowed]) }
        }
        var found: [String] = []
        func text(_ value: Any?) -> String {
            guard let value else { return "nothing" }
            return (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        }
        func compare(_ a: Any?, _ b: Any?, _ path: String) {
            if let a = a as? [String: Any], let b = b as? [String: Any] {
                // The reasons are prose about the figures compared here; a later wording is no mismatch.
                for key in Set(a.keys).union(b.keys).sorted() where key != "reasons" { compare(a[key], b[key], "\(path).\(key)") }
            } else if let a = a as? [Any], let b = b as? [Any], a.count == b.count {
                for index in a.indices { compare(a[index], b[index], "\(path)[\(index)]") }
            } else if let x = (a as? NSNumber)?.doubleValue, let y = (b as? NSNumber)?.doubleValue {
                // Recomputed on another platform's libm, a p-value may differ in its last digits.
                if abs(x - y) > 1e-9 * max(abs(x), abs(y)) { found.append("\(path): the report says \(text(a)), recomputed \(text(b))") }
            } else if !((a as? NSObject)?.isEqual(b) ?? (a == nil && b == nil)) {
                found.append("\(path): the report says \(text(a)), recomputed \(text(b))")
            }
        }
        compare(tree(claimed), tree(recomputed), path)
        return found
    }
}
