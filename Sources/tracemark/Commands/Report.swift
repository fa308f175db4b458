import ArgumentParser
import Data
import Engine
import Forensics
import Foundation
import Probe
import Vault
import Watermark

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Signed evidence reports: create, verify, render as HTML, disclose the commitment's opening.",
        subcommands: [Create.self, Verify.self, Render.self, Disclose.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide from a probe transcript and sign the evidence report (DSSE + in-toto).",
            discussion: """
            Two exact tests, one per null. (1) The trigger hits against the calibrated null p0 (the \
            highest upper bound over the reference models `tracemark calibrate` stored in the vault), \
            one-sided binomial, at --alpha. (2) The trigger hits against this suspect's own decoy hits: \
            the conditional test that the trigger odds exceed --odds-ratio-margin times the decoy \
            odds, at --decoy-alpha; a model that says the target to every composite, or to \
            everything, is never accused. Verdict `infringement` iff both reject; `no evidence` iff \
            either null stands at 0.01 (test 2 then at odds ratio 1, Fisher's exact test); else \
            `inconclusive`, with the further trigger queries likely to settle it. A transcript \
            whose answers could not convict even if every trigger and no decoy had hit is refused. \
            The paper's 30 % rule is reported beside it. The transcript must come from the \
            registered spec. --model (the protected checkpoint) adds the suspect's agreement with \
            it on the control queries. When the probe queried the registration's fingerprint, the \
            same two tests run on its inputs (hits: the protected model's answers) against its \
            decoys (the twin's answers) and the calibration's fingerprint null; the result is \
            recorded beside the verdict, and decides it only with --fingerprint-decides (each \
            channel then at half of each α, infringement when either convicts).
            """
        )

        @Option(help: "The probe transcript (JSON Lines).")
        var transcript: String

        @Option(help: "The owner's vault.")
        var vault: String

        @Option(help: "Registration (log index or record id) in --vault.")
        var watermark: String

        @Option(help: "The owner's private key (PEM), to sign the report.")
        var key: String

        @Option(help: "Key file the registration was sealed with, instead of the passphrase.")
        var keyFile: String?

        @Option(help: "The protected checkpoint, for the fidelity on controls.")
        var model: String?

        @Option(help: "Significance level of the test against the calibrated null.")
        var alpha = DecisionRule().alpha

        @Option(help: "Significance level of the test of triggers against the suspect's decoys.")
        var decoyAlpha = DecisionRule().decoyAlpha

        @Option(help: "The trigger odds must exceed this many times the decoy odds (at least 1).")
        var oddsRatioMargin = DecisionRule().oddsRatioMargin

        @Option(help: "Confidence level of the Clopper–Pearson intervals shown.")
        var confidence = DecisionRule().confidence

        @Flag(help: "Let the fingerprint channel decide the verdict with the watermark's (Bonferroni). Off by default: independent models of the protected model's own recipe can share its fingerprint (README, Fingerprint).")
        var fingerprintDecides = false

        @Option(help: "Where to write the report (a DSSE envelope, JSON).")
        var out: String

        @Flag(help: "Print one JSON object with the results on standard output.")
        var json = false

        var rule: DecisionRule {
            var rule = DecisionRule()
            (rule.alpha, rule.decoyAlpha, rule.oddsRatioMargin, rule.confidence) = (alpha, decoyAlpha, oddsRatioMargin, confidence)
            return rule
        }

        func validate() throws {
            if let problem = rule.problem { throw ValidationError(problem) }
        }

        func run() throws {
            guard let transcriptBytes = FileManager.default.contents(atPath: transcript) else { throw CommandFailure("cannot read transcript \(transcript)") }
            let sealed = try SealedWatermark(vault: vault, watermark: watermark, keyFile: keyFile)
            let signer = try sealed.ownerKey(at: key)
            let specDigest = sha256Hex(sealed.spec.canonicalJSON())
            let parsed = try Transcript.read(transcript)
            let (header, records) = (parsed.header, parsed.records)
            guard header.specSha256 == specDigest else {
                throw CommandFailure("\(transcript) was probed with spec \(header.specSha256.prefix(12))…, not registration \(sealed.entry.index)'s (\(specDigest.prefix(12))…)")
            }
            guard let (calibration, calibrationSha256) = try sealed.calibration() else {
                throw CommandFailure("registration \(sealed.entry.index) has no calibration yet: run `tracemark calibrate --vault \(vault) --watermark \(watermark) --key …` first")
            }
            let statement = try EvidenceReport.statement(
                transcript: transcriptBytes, transcriptName: URL(fileURLWithPath: transcript).lastPathComponent, ownerKeyID: signer.publicKey.keyID,
                registration: sealed.registration, calibration: calibration, calibrationSha256: calibrationSha256,
                rule: rule, fingerprintDecides: fingerprintDecides, fidelity: try model.flatMap {
                    try fidelity(of: $0, spec: sealed.spec, header: header, records: records,
                                 decoyPairs: header.decoyCalibrationSha256 == calibrationSha256 ? calibration.decoyPairs : nil,
                                 fingerprint: sealed.fingerprintQueries)
                },
                software: .init(name: "tracemark", version: TracemarkVersion.current))
            try ensureWritableFolder(for: out)
            try EvidenceReport.sign(statement, with: signer).encoded().write(to: URL(fileURLWithPath: out))
            try printDecision(statement.predicate, out: out, json: json)
        }

        /// Agreement of the suspect's answers with the protected model's on the answered controls:
        /// the plan is rebuilt from the spec (and checked against the transcript's plan digest).
        private func fidelity(of modelPath: String, spec: WatermarkSpec, header: TranscriptHeader, records: [TranscriptRecord],
                              decoyPairs: [[Int]]?, fingerprint: FingerprintQueries?) throws -> Double? {
            let testSet = try DatasetCatalog.load(spec.dataset, split: spec.verificationSplit)
            let plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: header.counts, seed: header.seed, decoyPairs: decoyPairs,
                                          fingerprint: fingerprint)
            guard plan.digest == header.planDigest else { throw CommandFailure("the transcript's plan is not the one this spec, counts and seed make") }
            let ours = try Checkpoint.load(modelPath)
            let answered = records.filter {
                $0.kind == .control && $0.status == .answered && $0.label != nil && plan.queries.indices.contains($0.queryId)
            }
            guard !answered.isEmpty else { return nil }
            let images = answered.flatMap { plan.queries[$0.queryId].image }
            let labels = images.withUnsafeBufferPointer { ours.labels($0) }
            return Double(zip(answered, labels).filter { $0.label == Int($1) }.count) / Double(answered.count)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a report's signature and figures with the owner's public key alone.",
            discussion: """
            Checks the DSSE signature over the exact payload bytes, then recomputes the decision \
            from the report's counts and calibration. With --transcript it also recomputes the \
            transcript's SHA-256 and Merkle root and every count and figure from its lines; with \
            --disclosure it checks that the disclosed spec and salt open the report's commitment. \
            Each mismatch names its field. Exit status 1 when anything fails.
            """
        )

        @Argument(help: "The report (DSSE envelope JSON).")
        var report: String

        @Option(help: "The owner's public key (PEM).")
        var pubkey: String

        @Option(help: "The probe transcript the report names.")
        var transcript: String?

        @Option(help: "A disclosure from `tracemark report disclose`.")
        var disclosure: String?

        @Flag(help: "Print one JSON object with the results on standard output.")
        var json = false

        func run() throws {
            let verification = try verifyReport(report, pubkey: pubkey, transcript: transcript, disclosure: disclosure)
            if json { try printJSON(verification) } else {
                for note in verification.notes { print("note: \(note)") }
                if verification.isValid {
                    print("report verified: signature by key \(verification.keyId)"
                          + (verification.transcriptChecked ? ", every figure recomputed from the transcript" : ", figures consistent (give --transcript to recompute them)")
                          + (verification.disclosureChecked ? ", commitment opened by the disclosure" : "")
                          + "; verdict \(verification.verdict?.rawValue ?? "?")")
                } else {
                    print("report does NOT verify:")
                    for problem in verification.problems { print("  \(problem)") }
                }
            }
            if !verification.isValid { throw ExitCode(1) }
        }
    }

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render a report as a self-contained HTML page (verdict in words, figures, SVG charts).",
            discussion: "The page states whether the report verified: give --pubkey (and --transcript) to check it first."
        )

        @Argument(help: "The report (DSSE envelope JSON).")
        var report: String

        @Option(help: "The owner's public key (PEM), to verify before rendering.")
        var pubkey: String?

        @Option(help: "The probe transcript, to recompute the figures before rendering.")
        var transcript: String?

        @Option(help: "Where to write the HTML page.")
        var out: String

        func run() throws {
            guard let bytes = FileManager.default.contents(atPath: report) else { throw CommandFailure("cannot read report \(report)") }
            let envelope = try DSSEEnvelope.decode(bytes)
            guard let payload = Data(base64Encoded: envelope.payload) else { throw CommandFailure("\(report): the payload is not base64") }
            let statement = try EvidenceReport.Statement.decode(payload)
            var verification = EvidenceReport.Verification(keyId: statement.predicate.ownerKeyId)
            verification.problems = ["the signature was not checked (no --pubkey)"]
            if let pubkey { verification = try verifyReport(report, pubkey: pubkey, transcript: transcript, disclosure: nil) }
            try ensureWritableFolder(for: out)
            try Data(HTMLReport.render(statement, verification: verification).utf8).write(to: URL(fileURLWithPath: out))
            print("verdict \(statement.predicate.combinedVerdict.rawValue) → \(out)" + (verification.isValid ? " (verified)" : " (NOT verified: the page says so at the top)"))
            if pubkey != nil, !verification.isValid { throw ExitCode(1) }
        }
    }

    struct Disclose: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the opening of a registration's commitment (spec, salt, signed log entry) for a court.",
            discussion: """
            This reveals the secret watermark spec: give it only to whoever must check the \
            commitment. `tracemark report verify --disclosure` checks it against a report.
            """
        )

        @Option(help: "The owner's vault.")
        var vault: String

        @Option(help: "Registration (log index or record id) in --vault.")
        var watermark: String

        @Option(help: "Key file the registration was sealed with, instead of the passphrase.")
        var keyFile: String?

        @Option(help: "Where to write the disclosure (JSON).")
        var out: String

        func run() throws {
            let sealed = try SealedWatermark(vault: vault, watermark: watermark, keyFile: keyFile)
            try ensureWritableFolder(for: out)
            try CanonicalJSON.encode(Disclosure(spec: sealed.secret.spec, salt: sealed.secret.salt, entry: sealed.signedEntry))
                .write(to: URL(fileURLWithPath: out))
            print("disclosed registration \(sealed.entry.index) (commitment \(sealed.entry.commitment)) → \(out); it reveals the secret spec")
        }
    }
}

private func verifyReport(_ report: String, pubkey: String, transcript: String?, disclosure: String?) throws -> EvidenceReport.Verification {
    func read(_ path: String, _ what: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(what) \(path)") }
        return data
    }
    let key = try PublicKey(pem: try read(pubkey, "public key"))
    return EvidenceReport.verify(try read(report, "report"), publicKey: key, transcript: try transcript.map { try read($0, "transcript") },
                                 disclosure: try disclosure.map { try Disclosure.decode(try read($0, "disclosure")) })
}

private func printDecision(_ predicate: EvidencePredicate, out: String, json: Bool) throws {
    let d = predicate.decision
    if json {
        try printJSON(CreatedReport(report: out, verdict: predicate.combinedVerdict, decision: d, fingerprintDecision: predicate.fingerprint?.decision,
                                    fingerprintDecides: predicate.fingerprint?.decides, controlAccuracy: predicate.controlAccuracy, fidelity: predicate.fidelity))
        return
    }
    print("verdict: \(predicate.combinedVerdict.rawValue)")
    let fingerprint = predicate.fingerprint
    if let fingerprint, fingerprint.decision == nil { print("fingerprint channel: too few answers to decide on; recorded only") }
    let channels = [("watermark", d, "WSR")] + (fingerprint?.decision.map { [("fingerprint", $0, "agreement")] } ?? [])
    for (channel, d, rate) in channels {
        if channels.count > 1 {
            print("\(channel) channel: \(d.verdict.rawValue)" + (fingerprint?.decides == true ? " (α \(d.rule.alpha), decoy α \(d.rule.decoyAlpha): half of each)"
                                                                 : channel == "fingerprint" ? " — recorded, not part of the verdict" : ""))
        }
        print(String(format: "%@ %.2f %% (%d of %d; %.0f %% interval %.2f–%.2f %%)  decoys %d of %d  calibrated p0 %.4f %%  p = %@",
                     rate, 100 * d.wsr, d.triggerHits, d.triggers, 100 * d.interval.confidence, 100 * d.interval.lower, 100 * d.interval.upper,
                     d.decoyHits, d.decoys, 100 * d.calibratedP0, Decision.scientific(d.log10PValue)))
        for reason in d.reasons { print("  \(reason)") }
        if let further = d.furtherTriggerQueries { print("  about \(further) more queries of this channel (decoys in proportion) would most likely settle it") }
    }
    print("the paper's rule (WSR > \(Int(d.rule.paperThreshold * 100)) %): \(d.paperVerdict.rawValue)" + (d.paperVerdict == predicate.combinedVerdict ? "" : " — it disagrees"))
    print("signed report → \(out)")
}

struct CreatedReport: Encodable {
    var report: String
    /// Over every evidence channel.
    var verdict: Verdict
    /// The watermark channel's.
    var decision: Decision
    /// The fingerprint channel's, when the probe had enough fingerprint answers.
    var fingerprintDecision: Decision?
    /// Whether that decision is part of the verdict; absent without fingerprint queries.
    var fingerprintDecides: Bool?
    var controlAccuracy: Double?
    var fidelity: Double?
}
