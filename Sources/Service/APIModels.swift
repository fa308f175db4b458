import Forensics
import Engine
import Foundation
import Probe
import Server
import Watermark

/// `POST /v1/watermarks`: a spec to seal (as `tracemark embed` writes it), the protected
/// model's SHA-256, the autoencoder weights the spec names (base64 by file name), optionally
/// a fingerprint of the model (base64 of `tracemark fingerprint make`'s file) and optionally
/// its calibration (as `tracemark calibrate --out` writes it).
struct WatermarkRegistration: Decodable {
    static let longestName = 200

    let name: String
    /// With the autoencoder weights from the request's files attached, and naming the
    /// fingerprint's SHA-256 when there is one.
    let spec: WatermarkSpec
    /// Lowercase hex.
    let modelDigest: String
    /// The fingerprint file's bytes, checked.
    let fingerprint: Data?
    let calibration: Calibration?

    /// Everything about a registration that can be checked before its trigger set is made.
    init(name: String, spec: WatermarkSpec, modelDigest: String, files: [String: Data], fingerprint: Data? = nil, calibration: Calibration?) throws {
        guard (1...Self.longestName).contains(name.unicodeScalars.count), !name.allSatisfy(\.isWhitespace) else {
            throw ServiceError.invalid("invalid_name", "name must be 1–\(Self.longestName) characters, not all blank")
        }
        // A NUL cuts the name short wherever it meets C strings; line breaks forge lines in logs and listings.
        let separators: [Unicode.GeneralCategory] = [.lineSeparator, .paragraphSeparator]
        if let control = name.unicodeScalars.first(where: { $0.isControlCharacter || separators.contains($0.properties.generalCategory) }) {
            throw ServiceError.invalid("invalid_name", "name must not contain control characters (it has U+\(String(format: "%04X", control.value)))")
        }
        let digest = modelDigest.lowercased()
        guard isSHA256Hex(digest) else {
            throw ServiceError.invalid("invalid_model_digest", "model_digest must be the model file's SHA-256 in hex (64 characters)")
        }
        if let named = spec.modelDigest, named != digest {
            throw ServiceError.invalid("model_digest_mismatch", "the spec was made for the model with SHA-256 \(named), not \(digest)")
        }
        guard spec.triggerSetSize <= InvestigationRequest.largestCount else {
            throw ServiceError.invalid("invalid_spec", "trigger_set_size is at most \(InvestigationRequest.largestCount) here")
        }
        var spec = spec
        do { try spec.attachAutoencoders(from: "in the request's files") { files[$0] } } catch {
            throw ServiceError.invalid("invalid_files", "\(error)")
        }
        if let fingerprint {
            do {
                let decoded = try Fingerprint(decoding: fingerprint, path: "fingerprint")
                try decoded.check(against: spec)
                guard decoded.provenance.protectedModelSha256 == digest else {
                    throw ForensicsError.invalid("the fingerprint was made from the model with SHA-256 \(decoded.provenance.protectedModelSha256), not \(digest)")
                }
            } catch { throw ServiceError.invalid("invalid_fingerprint", "\(error)") }
            spec.fingerprintSha256 = sha256Hex(fingerprint)
        }
        if let calibration { try calibration.check(against: spec) }
        self.name = name
        self.spec = spec
        self.modelDigest = digest
        self.fingerprint = fingerprint
        self.calibration = calibration
    }

    private enum CodingKeys: String, CodingKey { case name, spec, modelDigest, files, fingerprint, calibration }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var files: [String: Data] = [:]
        for (name, base64) in try container.decodeIfPresent([String: String].self, forKey: .files) ?? [:] {
            guard let contents = Data(base64Encoded: base64) else { throw ServiceError.invalid("invalid_files", "files.\(name) is not base64") }
            files[name] = contents
        }
        try self.init(name: try container.decode(String.self, forKey: .name),
                      spec: try refused(as: "invalid_spec", "spec") { try container.decode(WatermarkSpec.self, forKey: .spec) },
                      modelDigest: try container.decode(String.self, forKey: .modelDigest), files: files,
                      fingerprint: try container.decodeIfPresent(String.self, forKey: .fingerprint).map { base64 in
                          guard let bytes = Data(base64Encoded: base64) else { throw ServiceError.invalid("invalid_fingerprint", "fingerprint is not base64") }
                          return bytes
                      },
                      calibration: try refused(as: "invalid_calibration", "calibration") {
                          try container.decodeIfPresent(Calibration.self, forKey: .calibration)
                      })
    }
}

/// `POST /v1/investigations`: which watermark to look for in which API, and how many queries.
struct InvestigationRequest: Codable, Sendable {
    static let defaultCounts = QueryPlan.Counts(triggers: 1000, controls: 500, decoys: 500)
    static let largestCount = 20_000

    let watermark: String
    let target: Target
    let triggers: Int?
    let controls: Int?
    let decoys: Int?
    /// Fingerprint inputs and decoys, when the watermark has a fingerprint: all of them unless fewer are asked for.
    let fingerprints: Int?
    let fingerprintDecoys: Int?
    let seed: UInt64?
    /// Stop sending once the decision's tests are decisive (see `SequentialStop`).
    let stopWhenDecisive: Bool?

    /// Refuses what the service will not run, before any job is made. The target bounds its own
    /// timeouts and backoffs (so every investigation ends); the service is stricter on rate and
    /// answer size, and refuses targets whose secrets or certificates would come from its own
    /// environment or disk: a tenant must never make the service send its environment variables
    /// or read its files.
    init(watermark: String, target: Target, triggers: Int? = nil, controls: Int? = nil, decoys: Int? = nil, fingerprints: Int? = nil,
         fingerprintDecoys: Int? = nil, seed: UInt64? = nil, stopWhenDecisive: Bool? = nil) throws {
        self.watermark = watermark
        self.target = target
        self.triggers = triggers
        self.controls = controls
        self.decoys = decoys
        self.fingerprints = fingerprints
        self.fingerprintDecoys = fingerprintDecoys
        self.seed = seed
        self.stopWhenDecisive = stopWhenDecisive
        var problems: [String] = []
        if !(1...100).contains(watermark.count) { problems.append("watermark must be a watermark id") }
        if !(1...Self.largestCount).contains(triggers ?? Self.defaultCounts.triggers) { problems.append("triggers must be 1–\(Self.largestCount)") }
        if ![controls, decoys, fingerprints, fingerprintDecoys].allSatisfy({ (0...Self.largestCount).contains($0 ?? 0) }) {
            problems.append("controls, decoys, fingerprints and fingerprint_decoys must be 0–\(Self.largestCount)")
        }
        if let rateLimit = target.rateLimit, !(rateLimit >= 0.5) { problems.append("rate_limit must be at least 0.5 requests/s") }
        if let bytes = target.maxResponseBytes, !(1...(16 << 20)).contains(bytes) { problems.append("max_response_bytes must be 1 byte – 16 MiB") }
        if target.auth != nil { problems.append("target.auth names an environment variable of the service; targets with auth are not supported by the service (use `tracemark probe`)") }
        if target.caBundle != nil { problems.append("target.ca_bundle names a file on the service's disk; it is not supported by the service") }
        if let problem = problems.first { throw ServiceError.invalid("invalid_investigation", problem) }
    }

    private enum CodingKeys: String, CodingKey { case watermark, target, triggers, controls, decoys, fingerprints, fingerprintDecoys, seed, stopWhenDecisive }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(watermark: try container.decode(String.self, forKey: .watermark),
                      target: try refused(as: "invalid_investigation", "target") { try container.decode(Target.self, forKey: .target) },
                      triggers: try container.decodeIfPresent(Int.self, forKey: .triggers),
                      controls: try container.decodeIfPresent(Int.self, forKey: .controls),
                      decoys: try container.decodeIfPresent(Int.self, forKey: .decoys),
                      fingerprints: try container.decodeIfPresent(Int.self, forKey: .fingerprints),
                      fingerprintDecoys: try container.decodeIfPresent(Int.self, forKey: .fingerprintDecoys),
                      seed: try container.decodeIfPresent(UInt64.self, forKey: .seed),
                      stopWhenDecisive: try container.decodeIfPresent(Bool.self, forKey: .stopWhenDecisive))
    }

    /// The plan's counts for a watermark sealed with `fingerprint` (or none): all its inputs and
    /// decoys unless the request asks for fewer; more than it has, or any without one, is refused.
    func counts(fingerprint: Fingerprint?) throws -> QueryPlan.Counts {
        let available = fingerprint.map { ($0.inputs.count, $0.decoys.count) }
        if let problem = QueryPlan.Counts.fingerprintProblem(inputs: fingerprints, decoys: fingerprintDecoys, available: available) {
            throw ServiceError.invalid("invalid_investigation", "fingerprints / fingerprint_decoys: \(problem)")
        }
        return QueryPlan.Counts(triggers: triggers ?? Self.defaultCounts.triggers, controls: controls ?? Self.defaultCounts.controls,
                                decoys: decoys ?? Self.defaultCounts.decoys)
            .withFingerprint(inputs: fingerprints, decoys: fingerprintDecoys, available: available)
    }
}

/// Decodes a document nested in a request (a spec, a calibration, a target). The body already
/// parsed as JSON, so any refusal here — a wrong shape or the document's own checks — is of
/// its content: 422 with `code`.
private func refused<T>(as code: String, _ field: String, _ decode: () throws -> T) throws -> T {
    do { return try decode() } catch let error as ServiceError { throw error } catch {
        throw ServiceError.invalid(code, "\(field): \(describeDecodingError(error))")
    }
}

struct WatermarkView: Encodable {
    var id: String
    var name: String
    var created: String
    var dataset: String
    var modelDigest: String
    var commitment: String
    var recordId: String
    /// What counts against the tenant's quota of trigger-set bytes.
    var sealedBytes: Int
    var calibrated: Bool
    var p0: Double?
}

struct InvestigationView: Encodable {
    struct Progress: Encodable {
        var done: Int
        var total: Int
        var failed: Int
    }

    var id: String
    var watermark: String
    var status: InvestigationStatus
    var created: String
    var updated: String
    var target: String
    var progress: Progress
    var verdict: String?
    var error: String?
    var links: [String: String]
}

struct ListBody<Item: Encodable>: Encodable {
    var items: [Item]
}

struct SigningKeyView: Encodable {
    var keyId: String
    var pem: String
}
