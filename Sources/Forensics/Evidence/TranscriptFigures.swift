import Engine
import Foundation
import Probe

/// Everything a report states about its transcript, measured from the transcript's bytes alone
/// (records carry their expected label), so a verifier recomputes each figure.
public struct TranscriptFigures: Codable, Equatable, Sendable {
    public typealias Kind = TranscriptTally.Kind

    public var sha256: String
    public var merkleRoot: String
    public var lines: Int
    public var planDigest: String
    public var specSha256: String
    public var endpoint: String
    public var apiProtocol: String
    public var model: String?
    public var targetLabel: Int
    public var classNames: [String]
    /// The first and last query's start time: the window the suspect was probed in.
    public var firstQuery: String?
    public var lastQuery: String?
    public var trigger: Kind
    public var control: Kind
    public var decoy: Kind
    /// SHA-256 of the calibration that chose the decoys' source pairs; absent when the decoys
    /// are every other pair and the other combining ways.
    public var decoyCalibrationSha256: String?
    /// The fingerprint channel's queries and the fingerprint file's SHA-256; absent when the
    /// plan had no fingerprint queries.
    public var fingerprint: Kind?
    public var fingerprintDecoy: Kind?
    public var fingerprintSha256: String?

    public var controlAccuracy: Double? { control.hitRate }

    /// The channels the plan gathered evidence on: the watermark always, the fingerprint when it
    /// had fingerprint queries.
    public var channels: [EvidenceChannel] { fingerprint == nil ? [.watermark] : [.watermark, .fingerprint] }

    /// A channel's answered queries and hits, and its decoys'.
    public func counts(_ channel: EvidenceChannel) -> (hits: Int, answered: Int, decoyHits: Int, decoys: Int) {
        guard channel == .fingerprint else { return (trigger.hits, trigger.answered, decoy.hits, decoy.answered) }
        return (fingerprint?.hits ?? 0, fingerprint?.answered ?? 0, fingerprintDecoy?.hits ?? 0, fingerprintDecoy?.answered ?? 0)
    }

    public static func measure(_ data: Data) throws -> TranscriptFigures {
        let transcript: Transcript.Parsed
        do {
            transcript = try Transcript.parse(data)
            guard transcript.partialBytes == 0 else { throw ProbeError.transcript("the last line is incomplete") }
        } catch ProbeError.transcript(let reason) {
            throw ForensicsError.invalid("transcript: \(reason)")
        }
        let header = transcript.header
        let tally: TranscriptTally
        do { tally = try TranscriptTally.of(header: header, records: transcript.records) } catch ProbeError.transcript(let reason) {
            throw ForensicsError.invalid("transcript: \(reason)")
        }
        let times = transcript.records.map(\.started)
        let planned = header.counts.fingerprints + header.counts.fingerprintDecoys > 0
        guard !planned || header.fingerprintSha256.map(isSHA256Hex) == true else {
            throw ForensicsError.invalid("transcript: the plan has fingerprint queries, and the header names no fingerprint_sha256")
        }
        return TranscriptFigures(
            sha256: sha256Hex(data), merkleRoot: MerkleTree.root(of: transcript.lines), lines: transcript.lines.count, planDigest: header.planDigest,
            specSha256: header.specSha256, endpoint: header.endpoint, apiProtocol: header.apiProtocol, model: header.model,
            targetLabel: header.targetLabel, classNames: header.classNames, firstQuery: times.min(), lastQuery: times.max(),
            trigger: tally.trigger, control: tally.control, decoy: tally.decoy, decoyCalibrationSha256: header.decoyCalibrationSha256,
            fingerprint: planned ? tally.fingerprint : nil, fingerprintDecoy: planned ? tally.fingerprintDecoy : nil,
            fingerprintSha256: planned ? header.fingerprintSha256 : nil)
    }
}
