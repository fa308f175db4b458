import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An API error as `{"error": {"code": …, "message": …}}`. Codes are stable (clients branch on
/// them); messages are for people and may change.
struct ServiceError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The same answer whether the resource does not exist or belongs to another tenant, so
    /// ids reveal nothing.
    static func notFound(_ what: String, _ id: String) -> ServiceError { .init(.notFound, "not_found", "no \(what) '\(id)'") }
    static func invalid(_ code: String, _ message: String) -> ServiceError { .init(.unprocessableContent, code, message) }
    static func conflict(_ code: String, _ message: String) -> ServiceError { .init(.conflict, code, message) }
    /// A tenant's quota is used up; the message names the quota.
    static func quotaExceeded(_ message: String) -> ServiceError { .init(.tooManyRequests, "quota_exceeded", message) }
    static let unauthorized = ServiceError(.unauthorized, "unauthorized", "send a valid API token as 'Authorization: Bearer <token>'")

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try jsonResponse(ErrorBody(error: .init(code: code, message: message)), status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    struct ErrorBody: Encodable {
        struct Detail: Encodable { var code: String; var message: String }
        var error: Detail
    }
}

extension ServiceError: CustomStringConvertible {
    var description: String { "\(code): \(message)" }
}

/// Logs one line per request — method, path, status, time; never headers or bodies, so tokens
/// stay out of logs — and turns every error into the JSON error shape: Hummingbird's own
/// (unknown route, wrong method) by status, anything unexpected as `internal` with its detail
/// in the log only.
struct ServiceErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let log: @Sendable (String) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        func logLine(_ status: HTTPResponse.Status, _ detail: String = "") {
            let elapsed = (ContinuousClock.now - started).components
            let milliseconds = Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15
            log("\(request.method) \(request.uri.path) \(status.code) \(String(format: "%.1f", milliseconds)) ms\(detail)")
        }
        do {
            let response = try await next(request, context)
            logLine(response.status)
            return response
        } catch let error as ServiceError {
            logLine(error.status, " \(error.code)")
            throw error
        } catch let error as HTTPError {
            let mapped: ServiceError
            switch error.status {
            case .notFound: mapped = .init(.notFound, "not_found", "no route \(request.method) \(request.uri.path)")
            case .methodNotAllowed: mapped = .init(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            case .contentTooLarge: mapped = .init(.contentTooLarge, "payload_too_large", "the request body is too large")
            default: mapped = .init(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
            logLine(mapped.status, " \(mapped.code)")
            throw mapped
        } catch {
            logLine(.internalServerError, " internal: \(error)")
            throw ServiceError(.internalServerError, "internal", "the service failed on this request; the operator's log has the detail")
        }
    }
}

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}

func bytesResponse(_ data: Data, contentType: String) -> Response {
    Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
