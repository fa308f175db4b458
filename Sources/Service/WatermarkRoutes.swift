import Engine
import Forensics
import Foundation
import Hummingbird
import Server
import Vault
import Watermark

/// `/v1/watermarks`: a tenant registers specs (sealed in the service's vault, logged under its
/// key), lists and reads them, and stores a calibration beside one. The secret — source
/// labels, combiner, trigger set — never leaves the vault through the API.
struct WatermarkRoutes {
    let state: ServiceState

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/watermarks") { request, _ in
            let tenant = try state.tenant(of: request)
            let registration = try await state.decode(WatermarkRegistration.self, from: request, limit: state.maximumBodyBytes)
            let row = try await offloaded { try register(registration, for: tenant) }
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

    /// The caller's watermark named in the path; another tenant's is as absent as a made-up id.
    private func watermark(_ request: Request, _ context: BasicRequestContext) throws -> WatermarkRow {
        let tenant = try state.tenant(of: request)
        let id = try context.parameters.require("id")
        guard let row = try state.store.watermark(id, of: tenant) else { throw ServiceError.notFound("watermark", id) }
        return row
    }

    private func register(_ registration: WatermarkRegistration, for tenant: Tenant) throws -> WatermarkRow {
        guard (1...200).contains(registration.name.count) else { throw ServiceError.invalid("invalid_name", "name must be 1–200 characters") }
        let digest = registration.modelDigest.lowercased()
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
            throw ServiceError.invalid("invalid_model_digest", "model_digest must be the model file's SHA-256 in hex (64 characters)")
        }
        var spec = registration.spec
        if let problem = spec.problems.first { throw ServiceError.invalid("invalid_spec", problem) }
        if let named = spec.modelDigest, named != digest {
            throw ServiceError.invalid("model_digest_mismatch", "the spec was made for the model with SHA-256 \(named), not \(digest)")
        }
        var files: [String: Data] = [:]
        for (name, base64) in registration.files ?? [:] {
            guard let contents = Data(base64Encoded: base64) else { throw ServiceError.invalid("invalid_files", "files.\(name) is not base64") }
            files[name] = contents
        }
        do { try spec.attachAutoencoders(from: "in the request's files") { files[$0] } } catch {
            throw ServiceError.invalid("invalid_files", "\(error)")
        }
        guard spec.triggerSetSize <= InvestigationRequest.largestCount else {
            throw ServiceError.invalid("invalid_spec", "trigger_set_size is at most \(InvestigationRequest.largestCount) here")
        }
        let calibration = registration.calibration
        if let calibration { try check(calibration, against: spec) }
        let secret: SealedSecret
        do { secret = try SealedWatermark.secret(sealing: spec) } catch {
            throw ServiceError.invalid("invalid_spec", "cannot make the trigger set: \(error)")
        }
        let entry = try state.register(secret, modelDigest: digest)
        if let calibration { try state.attachCalibration(calibration, to: entry.recordId) }
        let row = try state.store.addWatermark(tenant: tenant, name: registration.name, dataset: spec.dataset, recordID: entry.recordId)
        state.log("tenant \(tenant.id) registered watermark \(row.id) (log entry \(entry.index))")
        return row
    }

    private func attach(_ calibration: Calibration, to row: WatermarkRow) throws {
        try check(calibration, against: try state.sealed(recordID: row.recordID).spec)
        try state.attachCalibration(calibration, to: row.recordID)
    }

    private func check(_ calibration: Calibration, against spec: WatermarkSpec) throws {
        guard calibration.format == Calibration.format else { throw ServiceError.invalid("invalid_calibration", "not a \(Calibration.format) document") }
        guard calibration.specSha256 == sha256Hex(spec.canonicalJSON()) else {
            throw ServiceError.invalid("calibration_mismatch", "the calibration is of another spec (spec_sha256 \(calibration.specSha256.prefix(12))…)")
        }
        guard !calibration.references.isEmpty else { throw ServiceError.invalid("invalid_calibration", "the calibration has no reference models") }
        let classes = 0..<spec.classNames.count
        for pair in calibration.otherPairs ?? [] {
            guard pair.sources.count == 2, pair.sources[0] != pair.sources[1], pair.sources.allSatisfy(classes.contains),
                  !pair.sources.contains(spec.targetLabel), Set(pair.sources) != Set(spec.sourceLabels) else {
                throw ServiceError.invalid("invalid_calibration", "other_pairs names \(pair.sources), which is not another source pair of this spec")
            }
        }
    }

    private func view(of row: WatermarkRow) throws -> WatermarkView {
        let entry = try state.entry(recordID: row.recordID)
        let calibration = try state.calibration(of: row.recordID).map(Calibration.decode)
        return WatermarkView(id: row.id, name: row.name, created: row.created, dataset: row.dataset, modelDigest: entry.modelDigest,
                             commitment: entry.commitment, recordId: entry.recordId, calibrated: calibration != nil, p0: calibration?.p0)
    }
}
