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
        from --vault with --watermark (passphrase from TRACEMARK_PASSPHRASE or the terminal).
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

    @Option(help: "Most queries in all; the three counts shrink in proportion to fit.")
    var budget: Int?

    @Option(help: "Seed of the plan's shuffle and of the control and decoy draws.")
    var seed: UInt64 = 1

    @Flag(help: "Stop sending once the decision's two tests are decisive, looked at after 16, 32, 64, … trigger answers (needs --vault and a calibration there).")
    var stopWhenDecisive = false

    @Flag(help: "Print one JSON object with the results on standard output.")
    var json = false

    func validate() throws {
        guard (spec == nil) != (vault == nil) else { throw ValidationError("give either --spec or --vault with --watermark") }
        guard (vault == nil) == (watermark == nil) else { throw ValidationError("--vault and --watermark go together") }
        if stopWhenDecisive, vault == nil { throw ValidationError("--stop-when-decisive needs --vault: the test starts from the calibration stored there") }
        guard triggers >= 1, controls >= 0, decoys >= 0 else { throw ValidationError("--triggers must be ≥ 1, --controls and --decoys ≥ 0") }
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
        let counts = QueryPlan.Counts(triggers: triggers, controls: controls, decoys: decoys).fitting(budget: budget)
        try ensureWritableFolder(for: out)
        // Best case: every trigger and no decoy answered with the target (p0 0 without a calibration).
        if let problem = Decision.problem(triggerHits: counts.triggers, triggers: counts.triggers, decoyHits: 0, decoys: counts.decoys,
                                          calibratedP0: calibration?.p0 ?? 0, rule: DecisionRule()) {
            printStatus("warning: no report can be made from this plan: \(problem)")
        }
        let probe = try ProbeRun(spec: watermarkSpec, target: target, counts: counts, seed: seed,
                                 decoys: calibrated.flatMap { $0.calibration.decoys(sha256: $0.sha256) },
                                 transcriptPath: out, authHeader: try target.authHeader())
        let (plan, transcript) = (probe.plan, probe.transcript)
        if !transcript.resumed.isEmpty {
            printStatus("resuming \(out): \(transcript.answered.count) of \(plan.queries.count) queries already answered; failed and unsent ones are sent now")
        }
        let line = ProgressLine()
        printStatus("probing \(target.url) (\(target.protocol.rawValue)): \(counts.triggers) triggers, \(counts.controls) controls, \(counts.decoys) decoys")
        let sequential = try sealed.flatMap { sealed -> SequentialStop? in
            guard stopWhenDecisive else { return nil }
            guard let calibration else {
                throw CommandFailure("--stop-when-decisive: registration \(sealed.entry.index) has no calibration yet (run `tracemark calibrate`)")
            }
            return try SequentialStop(header: transcript.header, calibratedP0: calibration.p0)
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
            for (kind, c) in [(QueryKind.trigger, tally.trigger), (.control, tally.control), (.decoy, tally.decoy)] {
                print("\(kind.rawValue): \(c.answered)/\(c.planned) answered, \(c.failed) failed, \(c.hits) \(kind == .control ? "correct" : "said the target")")
            }
            func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a" }
            print("WSR \(percent(summary.wsr))  decoy hit rate \(percent(summary.decoyHitRate))  control accuracy \(percent(summary.controlAccuracy))  → \(out)")
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
    var attempts: Int
    /// Trigger hits over answered triggers.
    var wsr: Double?
    var decoyHitRate: Double?
    var controlAccuracy: Double?

    init(_ tally: TranscriptTally) {
        (trigger, control, decoy, attempts) = (tally.trigger, tally.control, tally.decoy, tally.attempts)
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
