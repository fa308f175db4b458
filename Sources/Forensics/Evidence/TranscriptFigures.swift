import Engine
import Foundation
import Probe

/// Everything a report states about its transcript, measured from the transcript's bytes alone
/// (records carry their expected label), so a verifier recomputes each figure.
public struct TranscriptFigures: Codable, Equatable, Sendable {
    public struct Kind: Codable, Equatable, Sendable {
        public var planned = 0
        public var answered = 0
        public var failed = 0
        /// Answers equal to the expected label: target hits for triggers and decoys, correct
        /// answers for controls.
        public var hits = 0
        /// Answers per class, in class order.
        public var labels: [Int]
    }

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

    public var controlAccuracy: Double? { control.answered > 0 ? Double(control.hits) / Double(control.answered) : nil }

    public static func measure(_ data: Data) throws -> TranscriptFigures {
        guard data.last == UInt8(ascii: "\n") else { throw ForensicsError.invalid("transcript: the last line is incomplete") }
        let lines = data.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Data($0) }
        guard let first = lines.first, let header = try? CanonicalJSON.decode(TranscriptHeader.self, from: first),
              header.format == TranscriptHeader.format else {
            throw ForensicsError.invalid("transcript: no \(TranscriptHeader.format) header")
        }
        let classes = header.classNames.count
        var kinds: [QueryKind: Kind] = Dictionary(uniqueKeysWithValues: QueryKind.allCases.map { ($0, Kind(labels: Array(repeating: 0, count: classes))) })
        kinds[.trigger]!.planned = header.counts.triggers
        kinds[.control]!.planned = header.counts.controls
        kinds[.decoy]!.planned = header.counts.decoys
        var seen = Set<Int>()
        var times: [String] = []
        for (number, line) in lines.dropFirst().enumerated() {
            guard let record = try? CanonicalJSON.decode(TranscriptRecord.self, from: line) else {
                throw ForensicsError.invalid("transcript: line \(number + 2) is not a query record")
            }
            guard seen.insert(record.queryId).inserted else { throw ForensicsError.invalid("transcript: query \(record.queryId) appears twice") }
            times.append(record.started)
            guard record.status == .answered, let label = record.label else {
                kinds[record.kind]!.failed += 1
                continue
            }
            kinds[record.kind]!.answered += 1
            if (0..<classes).contains(label) { kinds[record.kind]!.labels[label] += 1 }
            if record.kind != .control, let expected = record.expectedLabel, expected != header.targetLabel {
                throw ForensicsError.invalid("transcript: line \(number + 2) expects label \(expected) of a \(record.kind.rawValue), the target is \(header.targetLabel)")
            }
            let expected = record.expectedLabel ?? (record.kind == .control ? nil : header.targetLabel)
            if label == expected { kinds[record.kind]!.hits += 1 }
        }
        return TranscriptFigures(
            sha256: sha256Hex(data), merkleRoot: MerkleTree.root(of: lines), lines: lines.count, planDigest: header.planDigest,
            specSha256: header.specSha256, endpoint: header.endpoint, apiProtocol: header.apiProtocol, model: header.model,
            targetLabel: header.targetLabel, classNames: header.classNames, firstQuery: times.min(), lastQuery: times.max(),
            trigger: kinds[.trigger]!, control: kinds[.control]!, decoy: kinds[.decoy]!,
            decoyCalibrationSha256: header.decoyCalibrationSha256)
    }
}
