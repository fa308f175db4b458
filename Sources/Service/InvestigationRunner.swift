import Engine
import Forensics
import Foundation
import Probe

/// Runs investigations in the background: probe the target into the investigation's
/// transcript, then sign the report and render its page. Up to `runningInvestigations` run at
/// once, at most a tenant's quota of investigations of one tenant, oldest first otherwise, so
/// one tenant's job against a slow or silent target never holds up the others.
///
/// Each step's status is in the store before the step starts, so a service stopped at any point
/// picks the job up again on start — a probe resumes from its transcript. A job that crashed the
/// process is not resumed into the same crash: the crash marker names the jobs that were running,
/// and a job started `maximumStarts` times without ending is failed whatever stopped it.
final class InvestigationRunner: @unchecked Sendable {
    static let maximumStarts = 3

    private struct Waiting {
        var id: String
        var tenantID: String
    }

    /// A job with a thread of its own until that thread ends — after a cancellation too, about a
    /// second later, when its requests in flight and its waits have noticed — so it counts
    /// against the limits until then.
    private final class Running: @unchecked Sendable {
        let tenantID: String
        /// Runs alone: it was one of several running when the process crashed.
        let isSuspect: Bool
        private let lock = NSLock()
        private var cancelled = false

        init(tenantID: String, isSuspect: Bool) {
            self.tenantID = tenantID
            self.isSuspect = isSuspect
        }

        var isCancelled: Bool { lock.withLock { cancelled } }
        func cancel() { lock.withLock { cancelled = true } }
    }

    private let state: ServiceState
    private let crashMarker: CrashMarker
    private let lock = NSLock()
    private var waiting: [Waiting] = []
    private var running: [String: Running] = [:]
    /// Jobs that were running together when the process crashed; each runs alone until it ends,
    /// so a crash while it runs names it alone.
    private var suspects: Set<String> = []
    private var live: [String: ProbeProgress] = [:]

    init(state: ServiceState) {
        self.state = state
        crashMarker = CrashMarker(directory: state.directory)
    }

    /// Fails the jobs that crashed the last run (one that ran alone then) or were started too
    /// often, and queues the other unfinished ones, the crash's suspects first.
    func resumeUnfinished() throws {
        let crashed = Set(crashMarker.crashedInvestigations())
        // Only the jobs running now are marked running: the others wait their turn as queued.
        try state.store.requeueRunning()
        let unfinished = try state.store.unfinishedInvestigations()
        let named = unfinished.filter { crashed.contains($0.id) }
        var resumed: [Waiting] = []
        for job in unfinished {
            if named.count == 1, named[0].id == job.id {
                fail(job.id, "the service crashed while running this investigation; it is not run again")
            } else if job.starts >= Self.maximumStarts {
                fail(job.id, "the investigation was started \(job.starts) times without finishing (the service stopped or crashed each time); it is not run again")
            } else {
                state.log("resuming investigation \(job.id)" + (crashed.contains(job.id) ? " (alone: it was running when the service crashed)" : ""))
                resumed.append(Waiting(id: job.id, tenantID: job.tenantID))
            }
        }
        try crashMarker.clear()
        crashMarker.install()
        lock.withLock {
            if named.count > 1 { suspects = Set(named.map(\.id)) }
            waiting = resumed.filter { suspects.contains($0.id) } + resumed.filter { !suspects.contains($0.id) }
        }
        startWaiting()
    }

    func enqueue(_ id: String, tenantID: String) {
        lock.withLock { waiting.append(Waiting(id: id, tenantID: tenantID)) }
        startWaiting()
    }

    /// Ends an unfinished investigation as cancelled at once: a queued one never starts, a
    /// running one sends no further query. False when it had ended already.
    func cancel(_ id: String) throws -> Bool {
        let cancelled = try state.store.cancel(id)
        lock.withLock {
            waiting.removeAll { $0.id == id }
            running[id]?.cancel()
        }
        return cancelled
    }

    /// Progress of a probe running now, fresher than the store's.
    func liveProgress(of id: String) -> ProbeProgress? {
        lock.withLock { live[id] }
    }

    /// Starts waiting jobs while there is room: oldest first, skipping tenants at their quota; a
    /// suspect of a crash starts only when nothing else runs, and nothing starts beside it.
    private func startWaiting() {
        let starting: [(id: String, job: Running)] = lock.withLock {
            var started: [(id: String, job: Running)] = []
            var index = 0
            while index < waiting.count, running.count < state.runningInvestigations, !running.values.contains(where: \.isSuspect) {
                let candidate = waiting[index]
                let isSuspect = suspects.contains(candidate.id)
                if isSuspect && !running.isEmpty { break }
                if running.values.filter({ $0.tenantID == candidate.tenantID }).count >= state.quotas.investigations {
                    index += 1
                    continue
                }
                waiting.remove(at: index)
                let job = Running(tenantID: candidate.tenantID, isSuspect: isSuspect)
                running[candidate.id] = job
                started.append((candidate.id, job))
            }
            if !started.isEmpty { crashMarker.update(running: Array(running.keys)) }
            return started
        }
        for (id, job) in starting {
            // A thread of its own: a job blocks on its target for as long as the target makes it.
            Thread.detachNewThread { self.run(id, job) }
        }
    }

    private func run(_ id: String, _ job: Running) {
        do {
            try investigate(id, job)
        } catch {
            if job.isCancelled {
                state.log("investigation \(id): cancelled")
            } else {
                fail(id, "\(error)")
            }
        }
        lock.withLock {
            running[id] = nil
            live[id] = nil
            suspects.remove(id)
            crashMarker.update(running: Array(running.keys))
        }
        startWaiting()
    }

    private func fail(_ id: String, _ reason: String) {
        state.log("investigation \(id) failed: \(reason)")
        try? state.store.update(id, status: .failed, error: reason)
    }

    private func investigate(_ id: String, _ job: Running) throws {
        // Counted before any work, so a job that keeps killing the process is given up.
        guard let status = try state.store.start(id), let row = try state.store.investigation(id) else { return }
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
        if status != .reporting {
            try state.targetPolicy.check(row.request.target)
            try state.store.update(id, status: .running)
            let request = row.request
            let counts = try request.counts(fingerprint: sealed.fingerprint?.fingerprint)
            let probe = try ProbeRun(spec: sealed.spec, target: request.target, counts: counts, seed: request.seed ?? 1,
                                     decoys: calibration.decoys(sha256: calibrationSha256), fingerprint: sealed.fingerprintQueries,
                                     transcriptPath: transcriptPath, authHeader: nil, allowsInternalAddresses: state.targetPolicy.allowsPrivateAddresses)
            // The fingerprint channel is recorded, not decided (`EvidencePredicate.FingerprintEvidence.decides`).
            let sequential = request.stopWhenDecisive == true ? try SequentialStop(header: probe.transcript.header, calibratedP0: calibration.p0) : nil
            state.log("investigation \(id): probing \(request.target.requestURL.host), \(probe.plan.queries.count) queries (\(probe.transcript.answered.count) already answered)")
            let saved = LastSave()
            try probe.run(stopWhen: sequential?.observe, isCancelled: { job.isCancelled }) { [weak self] progress in
                guard let self else { return }
                self.lock.withLock { self.live[id] = progress }
                // The store is for restarts and other readers: once a second is enough.
                if saved.due(every: 1) {
                    try? self.state.store.updateProgress(id, done: progress.done, total: progress.total, failed: progress.failed)
                }
            }
            guard !job.isCancelled else {
                state.log("investigation \(id): cancelled")
                return
            }
            let records = try Transcript.read(transcriptPath).records
            let tally = try TranscriptTally.of(header: probe.transcript.header, records: records)
            try state.store.updateProgress(id, done: tally.answered + tally.failed, total: probe.plan.queries.count, failed: tally.failed)
            if let problem = tally.failureProblem { throw ServiceError(.badGateway, "probe_failed", "the probe failed: \(problem)") }
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
        try state.write(envelope, named: ServiceState.reportName, of: id)
        try state.write(Data(HTMLReport.render(statement, verification: verification).utf8), named: ServiceState.reportPageName, of: id)
        let verdict = statement.predicate.combinedVerdict.rawValue
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
