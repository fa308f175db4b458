import Foundation

/// The one scorer of transcript records: per query kind, how many were planned, answered, failed
/// and hit (answered with the expected label: the target for triggers and decoys, the true label
/// for controls, the fingerprint's label for fingerprint queries), and the answers per class. The probe's summary, the early stop and the
/// evidence report all count with it.
///
/// A query may have several records: a resumed probe sends failed queries again, so a failure
/// is replaced by a later record of the same query. A query answered twice, a record whose kind
/// changed, a trigger or decoy expecting anything but the target, or a fingerprint query expecting
/// no class is refused: the transcript was not written by a probe.
public struct TranscriptTally: Sendable {
    public struct Kind: Codable, Equatable, Sendable {
        public var planned = 0
        public var answered = 0
        /// Queries whose every record failed.
        public var failed = 0
        public var hits = 0
        /// Answers per class, in class order.
        public var labels: [Int]

        public var hitRate: Double? { answered > 0 ? Double(hits) / Double(answered) : nil }
    }

    public private(set) var trigger: Kind
    public private(set) var control: Kind
    public private(set) var decoy: Kind
    public private(set) var fingerprint: Kind
    public private(set) var fingerprintDecoy: Kind
    public let targetLabel: Int
    /// Attempts over every record (retries included; each record's at most `largestCount`, so the
    /// sum of a transcript's records cannot overflow).
    public private(set) var attempts = 0
    private let total: Int
    /// The kind of every query with a record; those not in `lastErrors` were answered.
    private var kindOfQuery: [Int: QueryKind] = [:]
    /// The last error of each query that has only failed so far.
    private var lastErrors: [Int: String] = [:]

    /// Answered queries of every kind.
    public var answered: Int { QueryKind.allCases.map { self[$0].answered }.reduce(0, +) }
    /// Queries of every kind whose every record failed.
    public var failed: Int { lastErrors.count }

    /// The most queries a transcript's header may plan, per kind: far above any probe's, far
    /// below the sums' overflow.
    public static let largestCount = 1_000_000

    /// Refuses a header whose planned counts are negative or absurd (a forged file may say anything).
    public init(header: TranscriptHeader) throws {
        let counts = header.counts.all
        guard counts.allSatisfy({ (0...Self.largestCount).contains($0) }) else {
            throw ProbeError.transcript("the header plans \(counts) queries; each count must lie between 0 and \(Self.largestCount)")
        }
        let empty = Kind(labels: Array(repeating: 0, count: header.classNames.count))
        (trigger, control, decoy, fingerprint, fingerprintDecoy) = (empty, empty, empty, empty, empty)
        targetLabel = header.targetLabel
        total = header.counts.total
        for kind in QueryKind.allCases { self[kind].planned = header.counts[kind] }
    }

    public subscript(kind: QueryKind) -> Kind {
        get {
            switch kind {
            case .trigger: trigger
            case .control: control
            case .decoy: decoy
            case .fingerprint: fingerprint
            case .fingerprintDecoy: fingerprintDecoy
            }
        }
        set {
            switch kind {
            case .trigger: trigger = newValue
            case .control: control = newValue
            case .decoy: decoy = newValue
            case .fingerprint: fingerprint = newValue
            case .fingerprintDecoy: fingerprintDecoy = newValue
            }
        }
    }

    /// Counts one record; returns true when it is a new answer (so the evidence changed).
    @discardableResult
    public mutating func count(_ record: TranscriptRecord) throws -> Bool {
        let id = record.queryId
        guard id >= 0, id < total else { throw ProbeError.transcript("query \(id) is not in the plan's \(total) queries") }
        guard (0...Self.largestCount).contains(record.attempts) else { throw ProbeError.transcript("query \(id) claims \(record.attempts) attempts") }
        if let kind = kindOfQuery[id] {
            guard kind == record.kind else {
                throw ProbeError.transcript("query \(id) is a \(kind.rawValue) in one record and a \(record.kind.rawValue) in another")
            }
            guard lastErrors[id] != nil else { throw ProbeError.transcript("query \(id) was answered twice") }
        }
        if record.kind.expectsTarget, let expected = record.expectedLabel, expected != targetLabel {
            throw ProbeError.transcript("query \(id) expects label \(expected) of a \(record.kind.rawValue), the target is \(targetLabel)")
        }
        if record.kind == .fingerprint || record.kind == .fingerprintDecoy, !trigger.labels.indices.contains(record.expectedLabel ?? -1) {
            throw ProbeError.transcript("query \(id), a \(record.kind.rawValue), expects no class of the \(trigger.labels.count)")
        }
        kindOfQuery[id] = record.kind
        attempts += record.attempts
        guard record.status == .answered, let label = record.label else {
            if lastErrors.updateValue(record.error ?? "no answer", forKey: id) == nil { self[record.kind].failed += 1 }
            return false
        }
        if lastErrors.removeValue(forKey: id) != nil { self[record.kind].failed -= 1 }
        self[record.kind].answered += 1
        if self[record.kind].labels.indices.contains(label) { self[record.kind].labels[label] += 1 }
        // Records from before expected labels were written expect the target (controls: nothing).
        if label == record.expectedLabel ?? (record.kind.expectsTarget ? targetLabel : nil) { self[record.kind].hits += 1 }
        return true
    }

    /// Every record of a transcript, in order.
    public static func of(header: TranscriptHeader, records: [TranscriptRecord]) throws -> TranscriptTally {
        var tally = try TranscriptTally(header: header)
        for record in records { try tally.count(record) }
        return tally
    }

    /// Why the probe cannot be trusted when most of its queries failed: how many, and the
    /// errors seen most often (the server's own words included); nil otherwise.
    public var failureProblem: String? {
        guard failed > answered else { return nil }
        var errors: [String: Int] = [:]
        for error in lastErrors.values { errors[error, default: 0] += 1 }
        let common = errors.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3)
        return "\(failed) of \(failed + answered) queries failed; most often: "
            + common.map { "\($0.value)× \($0.key)" }.joined(separator: "; ")
    }
}

extension TranscriptTally: Equatable {
    public static func == (a: TranscriptTally, b: TranscriptTally) -> Bool {
        QueryKind.allCases.allSatisfy { a[$0] == b[$0] } && a.targetLabel == b.targetLabel && a.attempts == b.attempts
    }
}
