import Engine
import Forensics
import Foundation
import HTTPTypes
import Hummingbird
import Server
import Vault
import Watermark

/// `/v1/watermarks`: a tenant registers specs (sealed in the service's vault, logged under its
/// key), lists and reads them, and stores a calibration beside one. The secret — source
/// labels, combiner, trigger set — never leaves the vault through the API.
struct WatermarkRoutes {
    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    let state: ServiceState

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/watermarks") { request, _ in
            let tenant = try state.tenant(of: request)
            let key = try idempotencyKey(of: request)
            let body = try await state.body(of: request, limit: state.maximumBodyBytes)
            let row = try await state.registrationWorkers.run {
                guard let key else { return try register(body, for: tenant, idempotency: nil) }
                return try state.withIdempotencyKey(key, of: tenant) {
                    let bodySha256 = sha256Hex(body)
                    // A retry of a registration that was made: the same watermark, nothing registered twice.
                    if let earlier = try state.store.watermark(idempotencyKey: key, of: tenant) {
                        guard earlier.requestSha256 == bodySha256 else {
                            throw ServiceError.invalid("idempotency_key_reused", "this Idempotency-Key was used for another request body; use a new key for a new registration")
                        }
                        return earlier.row
                    }
                    return try register(body, for: tenant, idempotency: (key, bodySha256))
                }
            }
            return try jsonResponse(try view(of: row), status: .created)
        }
        router.get("/v1/watermarks") { request, _ in
            let tenant = try state.tenant(of: request)
            return try jsonResponse(ListBody(items: try await offloaded { try state.store.watermarks(of: tenant).map(view) }))
        }
        router.get("/v1/watermarks/{id}") { request, context in
            let row = try watermark(request, context)
            return try jsonResponse(try await offloaded { try view(of: row) })
        }
        router.put("/v1/watermarks/{id}/calibration") { request, context in
            let row = try watermark(request, context)
            let body = try await state.body(of: request, limit: ForensicService.smallBodyBytes)
            let calibration: Calibration
            do { calibration = try Calibration.decode(body) } catch {
                throw ServiceError.invalid("invalid_calibration", "not a \(Calibration.format) document: \(describeDecodingError(error))")
            }
            return try jsonResponse(try await offloaded {
                try attach(calibration, to: row)
                return try view(of: row)
            })
        }
    }

    /// The request's `Idempotency-Key`, nil when it has none: 1–255 printable ASCII characters.
    private func idempotencyKey(of request: Request) throws -> String? {
        guard let key = request.headers[Self.idempotencyKeyHeader] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ServiceError.invalid("invalid_idempotency_key", "Idempotency-Key must be 1–255 printable ASCII characters without spaces")
        }
        return key
    }

    /// The caller's watermark named in the path; another tenant's is as absent as a made-up id.
    private func watermark(_ request: Request, _ context: BasicRequestContext) throws -> WatermarkRow {
        let tenant = try state.tenant(of: request)
        let id = try context.parameters.require("id")
        guard let row = try state.store.watermark(id, of: tenant) else { throw ServiceError.notFound("watermark", id) }
        return row
    }

    /// Decodes and registers `body` within the tenant's quotas, and keeps its idempotency key
    /// with the watermark. On a registration worker.
    private func register(_ body: Data, for tenant: Tenant, idempotency: (key: String, requestSha256: String)?) throws -> WatermarkRow {
        let registration = try state.decode(WatermarkRegistration.self, from: body)
        let quotas = state.quotas
        let usage = try state.store.watermarkUsage(of: tenant)
        guard usage.watermarks < quotas.watermarks else {
            throw ServiceError.quotaExceeded("tenant \(tenant.name) has \(usage.watermarks) watermarks, its quota of watermarks")
        }
        guard usage.sealedBytes < quotas.triggerSetBytes else {
            throw ServiceError.quotaExceeded("tenant \(tenant.name) keeps \(usage.sealedBytes) trigger-set bytes, its quota is \(quotas.triggerSetBytes)")
        }
        let secret: SealedSecret
        do { secret = try SealedWatermark.secret(sealing: registration.spec, fingerprint: registration.fingerprint) } catch {
            throw ServiceError.invalid("invalid_spec", "cannot make the trigger set: \(error)")
        }
        let sealedBytes = secret.files.reduce(secret.spec.count) { $0 + $1.contents.count }
        guard sealedBytes <= quotas.triggerSetBytes - usage.sealedBytes else {
            throw ServiceError.quotaExceeded("this watermark's \(sealedBytes) trigger-set bytes would bring tenant \(tenant.name) to \(usage.sealedBytes + sealedBytes), over its quota of \(quotas.triggerSetBytes)")
        }
        let entry = try state.register(secret, modelDigest: registration.modelDigest)
        if let calibration = registration.calibration { try state.attachCalibration(calibration, to: entry.recordId) }
        let row = try state.store.addWatermark(tenant: tenant, name: registration.name, dataset: registration.spec.dataset,
                                               recordID: entry.recordId, sealedBytes: sealedBytes, idempotency: idempotency)
        state.log("tenant \(tenant.id) registered watermark \(row.id) (log entry \(entry.index))")
        return row
    }

    private func attach(_ calibration: Calibration, to row: WatermarkRow) throws {
        try calibration.check(against: try state.sealed(recordID: row.recordID).spec)
        try state.attachCalibration(calibration, to: row.recordID)
    }

    private func view(of row: WatermarkRow) throws -> WatermarkView {
        let entry = try state.entry(recordID: row.recordID)
        let calibration = try state.calibration(of: row.recordID).map(Calibration.decode)
        return WatermarkView(id: row.id, name: row.name, created: row.created, dataset: row.dataset, modelDigest: entry.modelDigest,
                             commitment: entry.commitment, recordId: entry.recordId, sealedBytes: row.sealedBytes, calibrated: calibration != nil,
                             p0: calibration?.p0)
    }
}

extension Calibration {
    /// Refuses a calibration that is not of `spec`, or names pairs `spec` does not have.
    func check(against spec: WatermarkSpec) throws {
        guard format == Calibration.format else { throw ServiceError.invalid("invalid_calibration", "not a \(Calibration.format) document") }
        guard specSha256 == sha256Hex(spec.canonicalJSON()) else {
            throw ServiceError.invalid("calibration_mismatch", "the calibration is of another spec (spec_sha256 \(specSha256.prefix(12))…)")
        }
        guard !references.isEmpty else { throw ServiceError.invalid("invalid_calibration", "the calibration has no reference models") }
        guard fingerprintSha256 == spec.fingerprintSha256 else {
            throw ServiceError.invalid("calibration_mismatch", spec.fingerprintSha256 == nil ? "the calibration measured a fingerprint this watermark does not have"
                                                                                            : "the calibration did not measure this watermark's fingerprint (calibrate with it)")
        }
        let classes = 0..<spec.classNames.count
        for pair in otherPairs ?? [] {
            guard pair.sources.count == 2, pair.sources[0] != pair.sources[1], pair.sources.allSatisfy(classes.contains),
                  !pair.sources.contains(spec.targetLabel), Set(pair.sources) != Set(spec.sourceLabels) else {
                throw ServiceError.invalid("invalid_calibration", "other_pairs names \(pair.sources), which is not another source pair of this spec")
            }
        }
    }
}
