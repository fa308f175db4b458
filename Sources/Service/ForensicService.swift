import Engine
import Forensics
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import NIOCore
import Server
import Vault

/// The forensic service: a REST API over one directory that holds the service's vault (every
/// tenant's spec sealed under the service's key), the store of tenants, watermarks and
/// investigations, and each investigation's transcript, signed report and page.
public final class ForensicService: Sendable {
    /// What one tenant may hold; beyond it requests answer 429 `quota_exceeded`.
    public struct Quotas: Sendable {
        public var watermarks = 100
        /// Bytes the vault keeps sealed for the tenant's watermarks: specs, trigger sets (a
        /// 20,000-trigger set is about 100–200 MB) and autoencoder weights.
        public var triggerSetBytes = 1 << 30
        /// Investigations queued or running at once; also how many of the tenant's run at once.
        public var investigations = 2

        public init() {}
    }

    public struct Configuration: Sendable {
        public var directory: URL
        /// Signs registrations, calibrations and reports; the vault belongs to it.
        public var signer: SigningKey
        /// Seals and unseals the tenants' specs.
        public var unlocking: Unlocking
        public var softwareVersion: String
        /// Largest request body; a registration carries the spec and any autoencoder weights.
        public var maximumBodyBytes = 32 << 20
        /// Probe hosts on loopback, private and link-local addresses too (tests, closed networks).
        public var allowsPrivateTargets = false
        public var quotas = Quotas()
        /// Investigations probed at once, all tenants together.
        public var runningInvestigations = 4
        /// Registrations made at once: making and sealing a 20,000-trigger set takes about 0.5 GB.
        /// With more than one, one tenant's registrations at once can pass its quotas together.
        public var concurrentRegistrations = 1
        public var log: @Sendable (String) -> Void

        public init(directory: URL, signer: SigningKey, unlocking: Unlocking, softwareVersion: String, log: @escaping @Sendable (String) -> Void) {
            self.directory = directory
            self.signer = signer
            self.unlocking = unlocking
            self.softwareVersion = softwareVersion
            self.log = log
        }
    }

    /// The largest body any route other than registration takes.
    static let smallBodyBytes = 256 << 10
    let state: ServiceState
    let runner: InvestigationRunner

    /// Opens (or creates, for the configuration's key) the service directory and queues the
    /// investigations a previous run left unfinished, failing those that crashed it.
    public init(_ configuration: Configuration) throws {
        state = try ServiceState(configuration)
        try state.lockDirectory()
        runner = InvestigationRunner(state: state)
        try runner.resumeUnfinished()
    }

    /// Adds a tenant to the service in `directory`; the token is shown only here.
    public static func addTenant(directory: URL, name: String) throws -> (id: String, token: String) {
        guard (1...100).contains(name.count), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ServiceError.invalid("invalid_name", "a tenant name is 1–100 letters, digits, '-', '_' or '.'")
        }
        try OwnerOnlyFiles.createDirectory(at: directory)
        let (tenant, token) = try ServiceStore(directory: directory).addTenant(name: name)
        return (tenant.id, token)
    }

    public static func tenants(directory: URL) throws -> [(id: String, name: String, created: String)] {
        try ServiceStore(directory: directory).tenants().map { ($0.id, $0.name, $0.created) }
    }

    public func application(host: String, port: Int, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: ServiceErrorMiddleware(log: state.log))
        router.get("/openapi.json") { _, _ in bytesResponse(Data(OpenAPIDocument.json.utf8), contentType: "application/json") }
        router.get("/v1/health") { _, _ in try jsonResponse(["status": "ok"]) }
        router.get("/v1/signing-key") { [state] _, _ in
            try jsonResponse(SigningKeyView(keyId: state.signer.publicKey.keyID, pem: String(decoding: state.signer.publicKey.pem, as: UTF8.self)))
        }
        WatermarkRoutes(state: state).add(to: router)
        InvestigationRoutes(state: state, runner: runner).add(to: router)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tracemark"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) })
    }
}

/// What the routes and the job runner share. The vault's SQLite connection is one, and a
/// registration is a transaction on it: vault calls go through `withVault`, one at a time.
final class ServiceState: @unchecked Sendable {
    static let transcriptName = "transcript.jsonl"
    static let reportName = "report.dsse.json"
    static let reportPageName = "report.html"
    static let calibrationName = "calibration.json"

    let directory: URL
    let signer: SigningKey
    let unlocking: Unlocking
    let softwareVersion: String
    let maximumBodyBytes: Int
    let targetPolicy: TargetPolicy
    let quotas: ForensicService.Quotas
    let runningInvestigations: Int
    let log: @Sendable (String) -> Void
    let store: ServiceStore
    private let vault: Vault
    private let vaultLock = NSLock()
    let registrationWorkers: RegistrationWorkers
    private let idempotencyLock = NSLock()
    /// Idempotency keys of registrations in progress, as "tenant id NUL key".
    private var idempotencyKeysInUse: Set<String> = []

    init(_ configuration: ForensicService.Configuration) throws {
        directory = configuration.directory
        signer = configuration.signer
        unlocking = configuration.unlocking
        softwareVersion = configuration.softwareVersion
        maximumBodyBytes = configuration.maximumBodyBytes
        targetPolicy = TargetPolicy(allowsPrivateAddresses: configuration.allowsPrivateTargets)
        quotas = configuration.quotas
        runningInvestigations = configuration.runningInvestigations
        registrationWorkers = RegistrationWorkers(count: configuration.concurrentRegistrations)
        log = configuration.log
        try OwnerOnlyFiles.createDirectory(at: directory.appendingPathComponent("investigations"))
        vault = try Vault.open(directory: directory, creatingFor: signer.publicKey)
        store = try ServiceStore(directory: directory)
    }

    /// Two services on one directory would run the same jobs into the same transcripts: the
    /// second one is refused. The lock goes with the process.
    func lockDirectory() throws {
        let path = directory.appendingPathComponent("service.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT, 0o600)
        guard descriptor >= 0, flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw ServiceError(.conflict, "directory_in_use", "another tracemark service is running on \(directory.path)")
        }
    }

    func withVault<T>(_ body: () throws -> T) throws -> T {
        try vaultLock.withLock(body)
    }

    /// Runs `body` while no other request of the tenant with the same idempotency key runs; a
    /// second one meanwhile is refused (409), as its outcome depends on the first.
    func withIdempotencyKey<T>(_ key: String, of tenant: Tenant, _ body: () throws -> T) throws -> T {
        let claim = tenant.id + "\u{0}" + key
        guard idempotencyLock.withLock({ idempotencyKeysInUse.insert(claim).inserted }) else {
            throw ServiceError.conflict("idempotency_key_in_use", "a request with this Idempotency-Key is still being processed; retry when it has answered")
        }
        defer { idempotencyLock.withLock { _ = idempotencyKeysInUse.remove(claim) } }
        return try body()
    }

    func register(_ secret: SealedSecret, modelDigest: String) throws -> RegistrationEntry {
        try withVault { try vault.register(secret, modelDigest: modelDigest, signer: signer, unlocking: unlocking).entry }
    }

    func entry(recordID: String) throws -> RegistrationEntry {
        guard let entry = try withVault({ try vault.entries() }).first(where: { $0.recordId == recordID }) else {
            throw VaultError.notFound("the registration of record \(recordID)")
        }
        return entry
    }

    func sealed(recordID: String) throws -> SealedWatermark {
        let entry = try entry(recordID: recordID)
        return try withVault { try SealedWatermark(vault: vault, entry: entry, unlocking: unlocking) }
    }

    func attachCalibration(_ calibration: Calibration, to recordID: String) throws {
        try withVault { try vault.attach(try calibration.encoded(), type: Calibration.payloadType, to: recordID, signer: signer) }
    }

    /// The stored calibration's canonical bytes, nil when there is none.
    func calibration(of recordID: String) throws -> Data? {
        try withVault { try vault.attachment(type: Calibration.payloadType, of: recordID) }
    }

    func folder(of investigation: String) -> URL {
        directory.appendingPathComponent("investigations").appendingPathComponent(investigation)
    }

    /// Writes a file of an investigation's folder, 0600.
    func write(_ data: Data, named name: String, of investigation: String) throws {
        try OwnerOnlyFiles.write(data, to: folder(of: investigation).appendingPathComponent(name))
    }

    /// The tenant whose token the request carries; 401 for a missing or unknown token.
    func tenant(of request: Request) throws -> Tenant {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              let tenant = try store.tenant(token: String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)) else {
            throw ServiceError.unauthorized
        }
        return tenant
    }

    /// The request body, at most `limit` bytes.
    func body(of request: Request, limit: Int) async throws -> Data {
        do { return Data(buffer: try await request.body.collect(upTo: limit)) } catch {
            throw ServiceError(.contentTooLarge, "payload_too_large", "the request body is larger than \(limit) bytes")
        }
    }

    /// The request body as `T`, at most `limit` bytes.
    func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        try decode(T.self, from: try await body(of: request, limit: limit))
    }

    /// `body` as `T`: a body that is not JSON of the expected shape answers 400 `invalid_json`;
    /// content `T` refuses as it decodes, 422 with `T`'s code.
    func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        do { return try CanonicalJSON.decode(T.self, from: body) } catch let error as ServiceError { throw error } catch {
            throw ServiceError(.badRequest, "invalid_json", "the body is not the expected JSON: \(describeDecodingError(error))")
        }
    }
}

/// Runs blocking work (sealing, scrypt, dataset loading) off Swift concurrency's few threads.
func offloaded<T>(_ body: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
