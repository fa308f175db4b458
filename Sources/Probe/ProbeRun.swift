import Data
import Engine
import Foundation
import Watermark

/// One probe of a suspect, as the command line and the forensic service run it: the plan made
/// from the spec, the transcript opened (or resumed) under a header naming the plan, the target
/// and the spec, and a prober over the target's adapter.
public final class ProbeRun {
    public let plan: QueryPlan
    public let transcript: TranscriptWriter
    let prober: Prober

    /// `authHeader` is the whole header line (`Name: value`), already read from wherever the
    /// caller keeps the secret; `decoys` come from the watermark's calibration, `fingerprint` from
    /// its registration.
    /// `allowsInternalAddresses` is false where someone else chose the target (see
    /// `TransportSettings.allowsInternalAddresses`).
    public init(spec: WatermarkSpec, target: Target, counts: QueryPlan.Counts, seed: UInt64, decoys: DecoyPairs?,
                fingerprint: FingerprintQueries? = nil, transcriptPath: String, authHeader: String?, allowsInternalAddresses: Bool = true,
                now: Date = Date()) throws {
        let testSet = try DatasetCatalog.load(spec.dataset, split: spec.verificationSplit)
        let decoys = counts.decoys > 0 && spec.method == .meaDefender ? decoys : nil
        let fingerprint = counts.fingerprints + counts.fingerprintDecoys > 0 ? fingerprint : nil
        plan = try QueryPlan.make(spec: spec, testSet: testSet, counts: counts, seed: seed, decoyPairs: decoys?.pairs, fingerprint: fingerprint)
        let header = TranscriptHeader(planDigest: plan.digest, seed: seed, counts: counts, targetLabel: plan.targetLabel,
                                      classNames: plan.classNames, endpoint: target.url, apiProtocol: target.protocol.rawValue,
                                      model: target.model, specSha256: sha256Hex(spec.canonicalJSON()),
                                      created: ISO8601DateFormatter().string(from: now),
                                      decoyCalibrationSha256: decoys?.calibrationSha256, fingerprintSha256: fingerprint?.sha256)
        transcript = try TranscriptWriter(path: transcriptPath, header: header)
        let context = ProbeContext(itemShape: plan.itemShape, classNames: plan.classNames, headers: authHeader.map { [$0] } ?? [])
        var settings = target.transport
        settings.allowsInternalAddresses = allowsInternalAddresses
        prober = Prober(adapter: try makeAdapter(for: target, context: context), settings: settings, options: ProbeOptions(target: target))
    }

    /// Sends every query the transcript does not hold answered (see `Prober.run`). A resumed
    /// transcript's records go through `stopWhen` first, in file order: when they already stop
    /// the probe nothing is sent, and this returns false. Once `isCancelled` answers true
    /// nothing more is sent, and requests in flight, rate-limit waits and backoffs end within
    /// about a second.
    @discardableResult
    public func run(stopWhen: ((TranscriptRecord) -> Bool)? = nil, isCancelled: @escaping @Sendable () -> Bool = { false },
                    progress: @escaping @Sendable (ProbeProgress) -> Void = { _ in }) throws -> Bool {
        if let stopWhen, transcript.resumed.contains(where: stopWhen) { return false }
        try prober.run(plan, transcript: transcript, stopWhen: stopWhen, isCancelled: isCancelled, progress: progress)
        return true
    }
}

/// The other source pairs a calibration chose for decoys, and that calibration's SHA-256.
public struct DecoyPairs: Sendable {
    public var pairs: [[Int]]
    public var calibrationSha256: String

    public init(pairs: [[Int]], calibrationSha256: String) {
        self.pairs = pairs
        self.calibrationSha256 = calibrationSha256
    }
}
