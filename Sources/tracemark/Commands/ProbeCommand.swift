import ArgumentParser
import Data
import Engine
import Forensics
import Foundation
import Probe
import Vault
import Watermark

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Query a suspect model's HTTP API with triggers hidden among controls and decoys.",
        discussion: """
        TARGET.json describes the API: url, protocol (open-inference-v2, tf-serving, torchserve, \
        template), model, input encoding and normalisation, concurrency, rate_limit (requests/s), \
        max_attempts, timeouts, max_response_bytes, ca_bundle, insecure, auth (a header whose \
        secret comes from an environment variable). The plan — trigger samples of the watermark, \
        clean control images and decoys (false watermarks: other source pairs combined the \
        watermark's way, only the pairs the vault's calibration chose when it has them) — is \
        shuffled with --seed. Each query's \
        final outcome is appended to --out (JSON Lines, fsync'd); running the same command again \
        resumes: queries answered before the stop are not sent again, failed ones and those in \
        flight at the stop are. When most queries fail the probe exits with status 1 and the \
        errors seen most often (the server's own words). The watermark comes from --spec, or sealed \
        from --vault with --watermark (passphrase from TRACEMARK_PASSPHRASE or the terminal). When \
        the registration holds a fingerprint, its inputs and decoys join the same shuffled plan \
        (all of them unless --fingerprints / --fingerprint-decoys say fewer).
        """
    )

    @Option(help: "The suspect's API description (JSON).")
    var target: String

    @Option(help: "The watermark spec (JSON).")
    var spec: String?

    @Option(help: "The owner's vault, with --watermark.")
    var vault: String?

    @Option(help: "Registration (log index or record id) in --vault.")
    var watermark: String?

    @Option(help: "Key file the registration was sealed with, instead of the passphrase.")
    var keyFile: String?

    @Option(help: "Where to write (or resume) the transcript (JSON Lines).")
    var out: String

    @Option(help: "Trigger queries.")
    var triggers = 1000

    @Option(help: "Control queries (clean test images).")
    var controls = 500

    @Option(help: "Decoy queries (false watermarks).")
    var decoys = 500

    @Option(help: "Fingerprint inputs to query, when the registration has a fingerprint (default: all of them; 0 for none).")
    var fingerprints: Int?

    @Option(help: "Fingerprint decoys to query (default: all of them; 0 for none).")
    var fingerprintDecoys: Int?

    @Option(help: "Most queries in all; the counts shrink in proportion to fit.")
    var budget: Int?

    @Option(help: "Seed of the plan's shuffle and of the control and decoy draws.")
    var seed: UInt64 = 1

    @Flag(help: "Stop sending once the decision's two tests are decisive, looked at after 16, 32, 64, … trigger answers (needs --vault and a calibration there).")
    var stopWhenDecisive = false

    @Flag(help: "With --stop-when-decisive: the fingerprint channel decides too, as `report create --fingerprint-decides` will.")
    var fingerprintDecides = false

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    func validate() throws {
        guard (spec == nil) != (vault == nil) else { throw ValidationError("give either --spec or --vault with --watermark") }
        guard (vault == nil) == (watermark == nil) else { throw ValidationError("--vault and --watermark go together") }
        if stopWhenDecisive, vault == nil { throw ValidationError("--stop-when-decisive needs --vault: the test starts from the calibration stored there") }
        if fingerprintDecides, !stopWhenDecisive { throw ValidationError("--fingerprint-decides goes with --stop-when-decisive (the report has its own)") }
        guard triggers >= 1, controls >= 0, decoys >= 0 else { throw ValidationError("--triggers must be ≥ 1, --controls and --decoys ≥ 0") }
        if (fingerprints ?? 0) < 0 || (fingerprintDecoys ?? 0) < 0 { throw ValidationError("--fingerprints and --fingerprint-decoys must be ≥ 0") }
        if vault == nil, (fingerprints ?? 0) + (fingerprintDecoys ?? 0) > 0 { throw ValidationError("fingerprint queries need --vault: the fingerprint is sealed there") }
        if let budget, budget < 1 { throw ValidationError("--budget must be at least 1") }
    }

    func run() throws {
        // One engine worker and one OpenBLAS thread: the plan's images are cheap to make, and idle
        // BLAS threads would only take CPU from a server on the same machine.
        Parallel.configure(workers: 1)
        let target = try Target.load(self.target)
        if target.insecure == true { printStatus("warning: TLS verification is OFF for \(target.url) (insecure: true)") }
        let sealed = try vault.map { try SealedWatermark(vault: $0, watermark: watermark!, keyFile: keyFile) }
        let watermarkSpec = try sealed?.spec ?? WatermarkSpec.load(spec!)
        let calibrated = try sealed?.calibration()
        let calibration = calibrated?.calibration
        let available = sealed?.fingerprint.map { ($0.fingerprint.inputs.count, $0.fingerprint.decoys.count) }
        if let problem = QueryPlan.Counts.fingerprintProblem(inputs: fingerprints, decoys: fingerprintDecoys, available: available) {
            throw CommandFailure("--fingerprints / --fingerprint-decoys: \(problem)")
        }
        let counts = QueryPlan.Counts(triggers: triggers, controls: controls, decoys: decoys)
            .withFingerprint(inputs: fingerprints, decoys: fingerprintDecoys, available: available).fitting(budget: budget)
        try ensureWritableFolder(for: out)
        // Best case: every trigger and no decoy answered with the target (p0 0 without a calibration).
        let fingerprinted = counts.fingerprints + counts.fingerprintDecoys > 0
        if fingerprintDecides, !fingerprinted { throw CommandFailure("--fingerprint-decides: the plan has no fingerprint queries") }
        let channels = fingerprinted ? 2 : 1
        for (channel, hits, planted, p0) in [("watermark", counts.triggers, counts.decoys, calibration?.p0),
                                            ("fingerprint", counts.fingerprints, counts.fingerprintDecoys, calibration?.fingerprintP0)].prefix(channels) {
            if let problem = Decision.problem(triggerHits: hits, triggers: hits, decoyHits: 0, decoys: planted,
                                              calibratedP0: p0 ?? 0, rule: DecisionRule().share(among: fingerprintDecides ? 2 : 1)) {
                printStatus("warning: the \(channel) channel of this plan cannot be decided: \(problem)")
            }
        }
        let probe = try ProbeRun(spec: watermarkSpec, target: target, counts: counts, seed: seed,
                                 decoys: calibrated.flatMap { $0.calibration.decoys(sha256: $0.sha256) }, fingerprint: sealed?.fingerprintQueries,
                                 transcriptPath: out, authHeader: try target.authHeader())
        let (plan, transcript) = (probe.plan, probe.transcript)
        if !transcript.resumed.isEmpty {
            printStatus("resuming \(out): \(transcript.answered.count) of \(plan.queries.count) queries already answered; failed and unsent ones are sent now")
        }
        let line = ProgressLine()
        printStatus("probing \(target.url) (\(target.protocol.rawValue)): \(counts.triggers) triggers, \(counts.controls) controls, \(counts.decoys) decoys"
                    + (channels > 1 ? ", \(counts.fingerprints) fingerprint inputs, \(counts.fingerprintDecoys) fingerprint decoys" : ""))
        let sequential = try sealed.flatMap { sealed -> SequentialStop? in
            guard stopWhenDecisive else { return nil }
            guard let calibration else {
                throw CommandFailure("--stop-when-decisive: registration \(sealed.entry.index) has no calibration yet (run `tracemark calibrate`)")
            }
            guard !fingerprintDecides || calibration.fingerprintP0 != nil else {
                throw CommandFailure("--fingerprint-decides: the calibration has no fingerprint null (run `tracemark calibrate` again)")
            }
            return try SequentialStop(header: transcript.header, calibratedP0: calibration.p0,
                                      fingerprintP0: fingerprintDecides ? calibration.fingerprintP0 : nil)
        }
        let started = Date()
        let every = max(plan.queries.count / 100, 1)
        let sentAny = try probe.run(stopWhen: sequential?.observe, progress: { p in
            // Formatting a line per query would cost more than sending it: only every 1 %.
            guard p.done % every == 0 || p.done == p.total else { return }
            line.show(stage: String(format: "%d/%d queries  %.1f q/s  %d retries  %d failed  ETA %@", p.done, p.total,
                                    p.queriesPerSecond, p.retries, p.failed, ProgressLine.duration(p.secondsRemaining)),
                      finished: p.done == p.total, every: every * 5, step: p.done)
        })
        if !sentAny, let outcome = sequential?.outcome {
            printStatus("the early stop had already decided on the transcript so far (\(outcome.rawValue)); nothing sent")
        }
        let seconds = Date().timeIntervalSince(started)
        let records = try Transcript.read(out).records
        let tally = try TranscriptTally.of(header: transcript.header, records: records)
        let sent = records.count - transcript.resumed.count
        let unanswered = plan.queries.count - tally.answered
        if let sequential, let outcome = sequential.outcome, unanswered > 0 {
            printStatus("stopped early for \(outcome.rawValue) at look \(sequential.looks - 1) (\(sequential.tally.trigger.answered) trigger and \(sequential.tally.decoy.answered) decoy answers); \(unanswered) planned queries not sent (run again without --stop-when-decisive to send them)")
        }
        let summary = ProbeSummary(tally)
        if json {
            try printJSON(ProbeReport(transcript: out, endpoint: target.url, sentThisRun: sent, seconds: seconds,
                                      queriesPerSecond: Double(sent) / max(seconds, 1e-9), earlyStop: sequential?.outcome, summary: summary))
        } else {
            for kind in QueryKind.allCases where tally[kind].planned > 0 {
                let c = tally[kind]
                let hit = kind == .control ? "correct" : kind.expectsTarget ? "said the target" : "gave the fingerprint's label"
                print("\(kind.rawValue): \(c.answered)/\(c.planned) answered, \(c.failed) failed, \(c.hits) \(hit)")
            }
            func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
            print("WSR \(percent(summary.wsr))  decoy hit rate \(percent(summary.decoyHitRate))  control accuracy \(percent(summary.controlAccuracy))"
                  + (channels > 1 ? "  fingerprint agreement \(percent(tally.fingerprint.hitRate)) vs decoys \(percent(tally.fingerprintDecoy.hitRate))" : "")
                  + "  → \(out)")
        }
        if let problem = tally.failureProblem {
            throw CommandFailure("the probe failed: \(problem) (running the same command again retries the failed queries)")
        }
    }
}

/// A probe's counts per query kind, as the transcript's tally gives them.
struct ProbeSummary: Encodable {
    var trigger: TranscriptTally.Kind
    var control: TranscriptTally.Kind
    var decoy: TranscriptTally.Kind
    /// Absent when the plan had no fingerprint queries.
    var fingerprint: TranscriptTally.Kind?
    var fingerprintDecoy: TranscriptTally.Kind?
    var attempts: Int
    /// Trigger hits over answered triggers.
    var wsr: Double?
    var decoyHitRate: Double?
    var controlAccuracy: Double?

    init(_ tally: TranscriptTally) {
        (trigger, control, decoy, attempts) = (tally.trigger, tally.control, tally.decoy, tally.attempts)
        let fingerprinted = tally.fingerprint.planned + tally.fingerprintDecoy.planned > 0
        (fingerprint, fingerprintDecoy) = fingerprinted ? (tally.fingerprint, tally.fingerprintDecoy) : (nil, nil)
        (wsr, decoyHitRate, controlAccuracy) = (tally.trigger.hitRate, tally.decoy.hitRate, tally.control.hitRate)
    }
}

struct ProbeReport: Encodable {
    var transcript: String
    var endpoint: String
    /// Queries sent by this run (a resume skips those already answered).
    var sentThisRun: Int
    var seconds: Double
    var queriesPerSecond: Double
    /// With --stop-when-decisive: the verdict it stopped for (absent if the plan ran out first).
    var earlyStop: Verdict?
    var summary: ProbeSummary
}
