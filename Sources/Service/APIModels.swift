import Forensics
import Foundation
import Probe
import Watermark

/// `POST /v1/watermarks`: a spec to seal (as `tracemark embed` writes it), the protected
/// model's SHA-256, the autoencoder weights the spec names (base64 by file name) and,
/// optionally, its calibration (as `tracemark calibrate --out` writes it).
struct WatermarkRegistration: Decodable {
    var name: String
    var spec: WatermarkSpec
    var modelDigest: String
    var files: [String: String]?
    var calibration: Calibration?
}

/// `POST /v1/investigations`: which watermark to look for in which API, and how many queries.
struct InvestigationRequest: Codable, Sendable {
    static let defaultCounts = QueryPlan.Counts(triggers: 1000, controls: 500, decoys: 500)
    static let largestCount = 20_000

    var watermark: String
    var target: Target
    var triggers: Int?
    var controls: Int?
    var decoys: Int?
    var seed: UInt64?
    /// Stop sending once Wald's sequential test is decisive.
    var stopWhenDecisive: Bool?

    var counts: QueryPlan.Counts {
        QueryPlan.Counts(triggers: triggers ?? Self.defaultCounts.triggers, controls: controls ?? Self.defaultCounts.controls,
                         decoys: decoys ?? Self.defaultCounts.decoys)
    }

    /// What is wrong with the request, before any job is made. Targets whose secrets or
    /// certificates would come from the service's own environment or disk are refused: a
    /// tenant must never make the service send its environment variables or read its files.
    var problems: [String] {
        var found: [String] = []
        let counts = counts
        if !(1...Self.largestCount).contains(counts.triggers) { found.append("triggers must be 1–\(Self.largestCount)") }
        if !(0...Self.largestCount).contains(counts.controls) || !(0...Self.largestCount).contains(counts.decoys) {
            found.append("controls and decoys must be 0–\(Self.largestCount)")
        }
        if let rateLimit = target.rateLimit, rateLimit < 0.5 { found.append("rate_limit must be at least 0.5 requests/s (jobs run one at a time)") }
        if (target.maxResponseBytes ?? 0) > 16 << 20 { found.append("max_response_bytes is at most 16 MiB") }
        if target.auth != nil { found.append("target.auth names an environment variable of the service; targets with auth are not supported by the service (use `tracemark probe`)") }
        if target.caBundle != nil { found.append("target.ca_bundle names a file on the service's disk; it is not supported by the service") }
        return found
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
