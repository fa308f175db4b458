import Engine
import Foundation

/// The first line of a transcript: what was probed, with which plan.
public struct TranscriptHeader: Codable, Equatable, Sendable {
    public static let format = "tracemark.transcript/v1"
    public var type = "header"
    public var format = TranscriptHeader.format
    public var planDigest: String
    public var seed: UInt64
    public var counts: QueryPlan.Counts
    public var targetLabel: Int
    public var classNames: [String]
    /// The endpoint (URL, protocol, model); never credentials.
    public var endpoint: String
    public var apiProtocol: String
    public var model: String?
    /// SHA-256 of the canonical spec the triggers came from.
    public var specSha256: String
    public var created: String
    /// SHA-256 of the calibration whose decoy pairs the decoys combine, when one chose them.
    /// Not the pairs: with the target and the class names they would tell the secret source
    /// pair by elimination.
    public var decoyCalibrationSha256: String?
    /// SHA-256 of the fingerprint file the fingerprint queries came from, when the plan has any.
    public var fingerprintSha256: String?

    public init(planDigest: String, seed: UInt64, counts: QueryPlan.Counts, targetLabel: Int, classNames: [String], endpoint: String,
                apiProtocol: String, model: String?, specSha256: String, created: String, decoyCalibrationSha256: String? = nil,
                fingerprintSha256: String? = nil) {
        self.planDigest = planDigest
        self.seed = seed
        self.counts = counts
        self.targetLabel = targetLabel
        self.classNames = classNames
        self.endpoint = endpoint
        self.apiProtocol = apiProtocol
        self.model = model
        self.specSha256 = specSha256
        self.created = created
        self.decoyCalibrationSha256 = decoyCalibrationSha256
        self.fingerprintSha256 = fingerprintSha256
    }
}

/// One query's final outcome.
public struct TranscriptRecord: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable { case answered, failed }
    public var type = "query"
    public var queryId: Int
    public var kind: QueryKind
    public var inputSha256: String
    /// The answer that counts as a hit: the target label for triggers and decoys, the true label
    /// for controls — so a transcript can be scored without the spec.
    public var expectedLabel: Int?
    public var status: Status
    public var httpStatus: Int?
    public var responseSha256: String?
    public var label: Int?
    public var probabilities: [Double]?
    public var attempts: Int
    /// Why the last attempt failed (for `failed`; retried faults are counted in `attempts`).
    public var error: String?
    public var started: String
    public var seconds: Double
}

extension TranscriptRecord {
    /// The record's canonical JSON (sorted keys, absent optionals left out, numbers as
    /// `CanonicalJSON` writes them), by hand: JSONEncoder took a tenth of the probe's CPU time.
    /// A test holds it byte-identical to `CanonicalJSON.encode(record)`.
    func canonicalJSON() throws -> Data {
        var fields: [String] = ["\"attempts\":\(attempts)"]
        if let error { fields.append("\"error\":" + String(decoding: try CanonicalJSON.encode(error), as: UTF8.self)) }
        if let expectedLabel { fields.append("\"expected_label\":\(expectedLabel)") }
        if let httpStatus { fields.append("\"http_status\":\(httpStatus)") }
        fields.append("\"input_sha256\":\"\(inputSha256)\"")
        fields.append("\"kind\":\"\(kind.rawValue)\"")
        if let label { fields.append("\"label\":\(label)") }
        if let probabilities { fields.append("\"probabilities\":[" + probabilities.map(Self.number).joined(separator: ",") + "]") }
        fields.append("\"query_id\":\(queryId)")
        if let responseSha256 { fields.append("\"response_sha256\":\"\(responseSha256)\"") }
        fields.append("\"seconds\":" + Self.number(seconds))
        // `started` is an RFC 3339 time and `type` a fixed word: nothing in them needs escaping.
        fields.append("\"started\":\"\(started)\"")
        fields.append("\"status\":\"\(status.rawValue)\"")
        fields.append("\"type\":\"\(type)\"")
        return Data(("{" + fields.joined(separator: ",") + "}").utf8)
    }

    /// A finite Double as JSONEncoder writes it: the shortest round-trip form, `.0` dropped.
    private static func number(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}

/// A JSON Lines transcript, appended one line per finished query with a direct write(2), so a
/// killed process loses at most the line being written (which a resume cuts off). fsync is a
/// group commit: at most every `syncInterval` seconds and when the probe ends, because an fsync
/// per line (milliseconds on this disk) would cap the probe far below the server's rate. A
/// power cut can lose the last interval's lines; those queries are simply sent again on resume.
public final class TranscriptWriter: @unchecked Sendable {
    public static let syncInterval = 0.1
    public let path: String
    public let header: TranscriptHeader
    /// Records already in the file when it was opened (a resume), in file order.
    public private(set) var resumed: [TranscriptRecord] = []
    /// Queries answered in those records: a resume does not send them again (failed ones it does).
    public private(set) var answered = Set<Int>()
    private let handle: FileHandle
    private let lock = NSLock()
    private var lastSync = Date()

    /// Opens `path` for `header`'s plan: creates it, or resumes it when it holds the same plan.
    public init(path: String, header: TranscriptHeader) throws {
        self.path = path
        if FileManager.default.fileExists(atPath: path) {
            let existing = try Transcript.read(path, cuttingPartialLine: true)
            guard existing.header.planDigest == header.planDigest else {
                throw ProbeError.transcript("\(path) belongs to another plan (digest \(existing.header.planDigest.prefix(12))…, this one \(header.planDigest.prefix(12))…); use a new --out or the same spec, counts and seed")
            }
            self.header = existing.header
            resumed = existing.records
            answered = Set(existing.records.filter { $0.status == .answered }.map(\.queryId))
        } else {
            self.header = header
            let line = try Transcript.line(header)
            guard FileManager.default.createFile(atPath: path, contents: line) else { throw ProbeError.transcript("cannot create \(path)") }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ProbeError.transcript("cannot open \(path) for writing") }
        self.handle = handle
        try handle.seekToEnd()
        try handle.synchronize()
    }

    deinit {
        try? handle.synchronize()
        try? handle.close()
    }

    public func append(_ record: TranscriptRecord) throws {
        let line = try record.canonicalJSON() + Data("\n".utf8)
        lock.lock()
        let now = Date()
        let due = now.timeIntervalSince(lastSync) >= Self.syncInterval
        if due { lastSync = now }
        do { try handle.write(contentsOf: line) } catch {
            lock.unlock()
            throw ProbeError.transcript("cannot write \(path): \(error.localizedDescription)")
        }
        lock.unlock()
        if due { try handle.synchronize() }
    }

    /// Makes every line written so far durable.
    public func synchronize() throws { try handle.synchronize() }
}

public enum Transcript {
    static func line<T: Encodable>(_ value: T) throws -> Data {
        try CanonicalJSON.encode(value) + Data("\n".utf8)
    }

    /// A transcript's bytes, split and decoded: the one reader of transcripts. `lines` are the
    /// complete lines without their newlines (what the Merkle root is over); bytes after the
    /// last newline (a crash mid-write) are left out and counted in `partialBytes`.
    public struct Parsed: Sendable {
        public var header: TranscriptHeader
        public var records: [TranscriptRecord]
        public var lines: [Data]
        public var partialBytes: Int
    }

    public static func parse(_ data: Data) throws -> Parsed {
        let complete = data.lastIndex(of: UInt8(ascii: "\n")).map { data.prefix(through: $0) } ?? Data()
        let lines = complete.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Data($0) }
        guard let first = lines.first, let header = try? CanonicalJSON.decode(TranscriptHeader.self, from: first),
              header.format == TranscriptHeader.format else {
            throw ProbeError.transcript("no \(TranscriptHeader.format) header")
        }
        var records: [TranscriptRecord] = []
        for (number, line) in lines.dropFirst().enumerated() {
            guard let record = try? CanonicalJSON.decode(TranscriptRecord.self, from: line) else {
                throw ProbeError.transcript("line \(number + 2) is not a query record")
            }
            records.append(record)
        }
        return Parsed(header: header, records: records, lines: lines, partialBytes: data.count - complete.count)
    }

    /// Reads a transcript file. A last line without its newline is ignored, and with
    /// `cuttingPartialLine` also removed from the file.
    public static func read(_ path: String, cuttingPartialLine: Bool = false) throws -> Parsed {
        guard let data = FileManager.default.contents(atPath: path) else { throw ProbeError.transcript("cannot read \(path)") }
        let parsed: Parsed
        do { parsed = try parse(data) } catch ProbeError.transcript(let reason) { throw ProbeError.transcript("\(path): \(reason)") }
        if cuttingPartialLine && parsed.partialBytes > 0 {
            guard let handle = FileHandle(forWritingAtPath: path) else { throw ProbeError.transcript("cannot open \(path)") }
            try handle.truncate(atOffset: UInt64(data.count - parsed.partialBytes))
            try handle.close()
        }
        return parsed
    }
}
