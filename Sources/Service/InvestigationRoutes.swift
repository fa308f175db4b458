import Foundation
import Hummingbird
import Vault

/// `/v1/investigations`: a tenant asks for one of its watermarks to be looked for in a suspect's
/// API; the probe runs in the background; status, progress, the signed report, its page and
/// the transcript (to check the report offline) are read here once ready; DELETE cancels.
struct InvestigationRoutes {
    let state: ServiceState
    let runner: InvestigationRunner

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/investigations") { request, _ in
            let tenant = try state.tenant(of: request)
            let body = try await state.decode(InvestigationRequest.self, from: request, limit: ForensicService.smallBodyBytes)
            guard let watermark = try state.store.watermark(body.watermark, of: tenant) else { throw ServiceError.notFound("watermark", body.watermark) }
            let row = try await offloaded { () throws -> InvestigationRow in
                guard let calibration = try state.calibration(of: watermark.recordID) else {
                    throw ServiceError.conflict("watermark_not_calibrated",
                                                "watermark \(watermark.id) has no calibration: PUT one to /v1/watermarks/\(watermark.id)/calibration first")
                }
                try state.targetPolicy.check(body.target)
                let counts = try body.counts(fingerprint: try state.sealed(recordID: watermark.recordID).fingerprint?.fingerprint)
                let limit = state.quotas.investigations
                guard let row = try state.store.addInvestigation(tenant: tenant, watermark: watermark, request: body, total: counts.total,
                                                                 limit: limit) else {
                    throw ServiceError.quotaExceeded("tenant \(tenant.name) has \(limit) investigations queued or running, its quota of concurrent investigations; wait for one to end or cancel one")
                }
                try OwnerOnlyFiles.createDirectory(at: state.folder(of: row.id))
                try state.write(calibration, named: ServiceState.calibrationName, of: row.id)
                return row
            }
            state.log("tenant \(tenant.id) opened investigation \(row.id) of watermark \(watermark.id)")
            runner.enqueue(row.id, tenantID: tenant.id)
            return try jsonResponse(view(of: row), status: .accepted)
        }
        router.delete("/v1/investigations/{id}") { request, context in
            let tenant = try state.tenant(of: request)
            let id = try investigation(request, context).id
            if try runner.cancel(id) { state.log("tenant \(tenant.id) cancelled investigation \(id)") }
            let row = try investigation(request, context)
            guard row.status == .cancelled else {
                throw ServiceError.conflict("investigation_finished", "investigation \(row.id) is \(row.status.rawValue); only queued and running ones can be cancelled")
            }
            return try jsonResponse(view(of: row))
        }
        router.get("/v1/investigations") { request, _ in
            let tenant = try state.tenant(of: request)
            return try jsonResponse(ListBody(items: try state.store.investigations(of: tenant).map(view)))
        }
        router.get("/v1/investigations/{id}") { request, context in
            try jsonResponse(view(of: try investigation(request, context)))
        }
        router.get("/v1/investigations/{id}/report") { request, context in
            bytesResponse(try finishedFile(ServiceState.reportName, request, context), contentType: "application/json")
        }
        router.get("/v1/investigations/{id}/report.html") { request, context in
            bytesResponse(try finishedFile(ServiceState.reportPageName, request, context), contentType: "text/html; charset=utf-8")
        }
        router.get("/v1/investigations/{id}/transcript") { request, context in
            bytesResponse(try finishedFile(ServiceState.transcriptName, request, context), contentType: "application/x-ndjson")
        }
    }

    /// The caller's investigation named in the path; another tenant's is as absent as a made-up id.
    private func investigation(_ request: Request, _ context: BasicRequestContext) throws -> InvestigationRow {
        let tenant = try state.tenant(of: request)
        let id = try context.parameters.require("id")
        guard let row = try state.store.investigation(id, of: tenant) else { throw ServiceError.notFound("investigation", id) }
        return row
    }

    private func finishedFile(_ name: String, _ request: Request, _ context: BasicRequestContext) throws -> Data {
        let row = try investigation(request, context)
        guard row.status == .done else {
            throw ServiceError.conflict("report_not_ready", "investigation \(row.id) is \(row.status.rawValue)" + (row.error.map { ": \($0)" } ?? ""))
        }
        guard let data = FileManager.default.contents(atPath: state.folder(of: row.id).appendingPathComponent(name).path) else {
            throw ServiceError(.internalServerError, "file_missing", "investigation \(row.id) is done but its \(name) is missing from the service's disk")
        }
        return data
    }

    private func view(of row: InvestigationRow) -> InvestigationView {
        let live = row.status == .running ? runner.liveProgress(of: row.id) : nil
        let base = "/v1/investigations/\(row.id)"
        var links = ["self": base]
        if row.status == .done {
            links["report"] = base + "/report"
            links["report_html"] = base + "/report.html"
            links["transcript"] = base + "/transcript"
        }
        return InvestigationView(id: row.id, watermark: row.watermarkID, status: row.status, created: row.created, updated: row.updated,
                                 target: row.request.target.url,
                                 progress: .init(done: live?.done ?? row.done, total: live?.total ?? row.total, failed: live?.failed ?? row.failed),
                                 verdict: row.verdict, error: row.error, links: links)
    }
}
