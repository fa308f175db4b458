import Engine
import Forensics
import Foundation
import Probe

/// Runs investigations in the background, one at a time, oldest first: probe the target into
/// the investigation's transcript, then sign the report and render its page. Each step's
/// status is in the store before the step starts, so a service stopped at any point picks the
/// job up again on start — a probe resumes from its transcript without re-sending queries.
final class InvestigationRunner: @unchecked Sendable {
    private let state: ServiceState
    private let queue = DispatchQueue(label: "tracemark.investigations")
    private let lock = NSLock()
    private var live: [String: ProbeProgress] = [:]

    init(state: ServiceState) {
        self.state = state
    }

    func resumeUnfinished() throws {
        // Only one job runs at a time: the others wait their turn as queued, not running.
        try state.store.requeueRunning()
        for id in try state.store.unfinishedInvestigations() {
            state.log("resuming investigation \(id)")
            enqueue(id)
        }
    }

    func enqueue(_ id: String) {
        queue.async { self.run(id) }
    }

    /// Progress of the probe running now, fresher than the store's.
    func liveProgress(of id: String) -> ProbeProgress? {
        lock.withLock { live[id] }
    }

    private func run(_ id: String) {
        do {
            try investigate(id)
        } catch {
            state.log("investigation \(id) failed: \(error)")
            try? state.store.update(id, status: .failed, error: "\(error)")
        }
        lock.withLock { live[id] = nil }
    }

    private func investigate(_ id: String) throws {
        guard let row = try state.store.investigation(id), row.status != .done, row.status != .failed else { return }
        guard let watermark = try state.store.watermark(row.watermarkID, tenantID: row.tenantID) else {
            throw ServiceError.notFound("watermark", row.watermarkID)
        }
        let sealed = try state.sealed(recordID: watermark.recordID)
        let folder = state.folder(of: id)
        // The calibration as it was when the investigation was opened: a newer one would change
        // the decoys of a resumed probe, or the null under a finished one.
        guard let calibrationBytes = FileManager.default.contents(atPath: folder.appendingPathComponent(ServiceState.calibrationName).path) else {
            throw ServiceError(.internalServerError, "file_missing", "the investigation's calibration is missing from the service's disk")
        }
        let calibration = try Calibration.decode(calibrationBytes), calibrationSha256 = sha256Hex(calibrationBytes)
        let transcriptPath = folder.appendingPathComponent(ServiceState.transcriptName).path
        if row.status != .reporting {
            try state.targetPolicy.check(row.request.target)
            try state.store.update(id, status: .running)
            let request = row.request
            let probe = try ProbeRun(spec: sealed.spec, target: request.target, counts: request.counts, seed: request.seed ?? 1,
                                     decoys: calibration.decoys(sha256: calibrationSha256), transcriptPath: transcriptPath, authHeader: nil,
                                     allowsInternalAddresses: state.targetPolicy.allowsPrivateAddresses)
            let sequential = request.stopWhenDecisive == true
                ? SequentialStop(calibratedP0: calibration.p0, targetLabel: probe.plan.targetLabel, decoysPlanned: request.counts.decoys > 0)
                : nil
            state.log("investigation \(id): probing \(TargetPolicy.hostOnly(request.target.url)), \(probe.plan.queries.count) queries (\(probe.transcript.completed.count) already done)")
            let saved = LastSave()
            try probe.run(stopWhen: sequential?.observe) { [weak self] progress in
                guard let self else { return }
                self.lock.withLock { self.live[id] = progress }
                // The store is for restarts and other readers: once a second is enough.
                if saved.due(every: 1) {
                    try? self.state.store.updateProgress(id, done: progress.done, total: progress.total, failed: progress.failed)
                }
            }
            let records = try Transcript.read(transcriptPath).records
            try state.store.updateProgress(id, done: records.count, total: probe.plan.queries.count,
                                           failed: records.filter { $0.status != .answered }.count)
            try state.store.update(id, status: .reporting)
        }
        guard let transcript = FileManager.default.contents(atPath: transcriptPath) else { throw ServiceError.notFound("transcript of", id) }
        let statement = try EvidenceReport.statement(
            transcript: transcript, transcriptName: ServiceState.transcriptName, ownerKeyID: state.signer.publicKey.keyID,
            registration: sealed.registration, calibration: calibration, calibrationSha256: calibrationSha256,
            rule: DecisionRule(), fidelity: nil, software: .init(name: "tracemark", version: state.softwareVersion))
        let envelope = try EvidenceReport.sign(statement, with: state.signer).encoded()
        let verification = EvidenceReport.verify(envelope, publicKey: state.signer.publicKey, transcript: transcript)
        guard verification.isValid else { throw ServiceError(.internalServerError, "report_unverified", verification.problems.joined(separator: "; ")) }
        try envelope.write(to: folder.appendingPathComponent(ServiceState.reportName), options: .atomic)
        try Data(HTMLReport.render(statement, verification: verification).utf8)
            .write(to: folder.appendingPathComponent(ServiceState.reportPageName), options: .atomic)
        let verdict = statement.predicate.decision.verdict.rawValue
        try state.store.update(id, status: .done, verdict: verdict)
        state.log("investigation \(id): done, verdict \(verdict)")
    }
}

/// When a periodic save last happened; shared by the probe's worker threads.
private final class LastSave: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast

    func due(every seconds: TimeInterval) -> Bool {
        lock.withLock {
            guard Date().timeIntervalSince(last) >= seconds else { return false }
            last = Date()
            return true
        }
    }
}
