import ArgumentParser
import Foundation
import Service
import Vault

struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "The forensic service: a REST API for teams to register watermarks and run investigations.",
        subcommands: [Run.self, Tenant.self],
        defaultSubcommand: Run.self
    )

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the forensic API over the service directory --vault.",
            discussion: """
            Tenants authenticate with API tokens (`tracemark service tenant add`), stored only as \
            SHA-256. Routes: POST/GET /v1/watermarks (seal a spec, its model digest and optionally \
            its calibration in the service's vault), GET /v1/watermarks/ID, PUT \
            /v1/watermarks/ID/calibration, POST/GET /v1/investigations (probe a target in the \
            background), GET /v1/investigations/ID (status, progress), …/report (signed DSSE), \
            …/report.html, …/transcript, DELETE /v1/investigations/ID (cancel), GET \
            /v1/signing-key, GET /openapi.json (the full description). Another tenant's ids answer 404. \
            Targets that resolve to internal addresses (any range of IANA's special-purpose \
            registries: loopback, private, link-local, …) are refused, when the investigation is \
            opened and again when libcurl connects, unless \
            --allow-private-targets. Up to --running-investigations probe at once, at most \
            --quota-investigations of one tenant. Each tenant has quotas (--quota-*); beyond one a \
            request answers 429 with the code quota_exceeded and a message naming the quota. \
            POST /v1/watermarks takes an Idempotency-Key header: a retry with the same key and \
            body returns the watermark made the first time. Jobs are in the store: a restarted \
            service resumes them, a probe from its transcript, except a job that crashed the \
            service (failed with that reason) and one started three times without finishing. \
            Everything in the directory is readable by the service's user only (0600/0700). The \
            service's Ed25519 key signs \
            registrations and reports: --key, or DIR/service.key.pem, made on first start (its \
            passphrase, TRACEMARK_PASSPHRASE or the terminal, also seals the specs unless \
            --key-file is given). The log names requests, never tokens. With --port 0 a free port \
            is chosen; the line 'listening on http://HOST:PORT' on standard output names it.
            """
        )

        @Option(help: "The service directory: vault, store, investigations (created on first start).")
        var vault: String

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on (0: any free port).")
        var port: Int

        @Option(help: "The service's private key (PEM); default DIR/service.key.pem, made on first start.")
        var key: String?

        @Option(help: "Seal the specs under this key file (≥ 32 random bytes) instead of the passphrase.")
        var keyFile: String?

        @Option(help: "Largest request body accepted, in bytes (a registration carries the spec and its autoencoder weights).")
        var maxBodyBytes = 32 << 20

        @Flag(help: "Let tenants probe hosts on internal addresses: loopback, private, link-local, … (closed networks, tests).")
        var allowPrivateTargets = false

        @Option(help: "Investigations probed at once, all tenants together.")
        var runningInvestigations = 4

        @Option(help: "Per tenant: investigations queued or running at once; also how many of one tenant's run at once.")
        var quotaInvestigations = ForensicService.Quotas().investigations

        @Option(help: "Per tenant: watermarks registered.")
        var quotaWatermarks = ForensicService.Quotas().watermarks

        @Option(help: "Per tenant: bytes the vault keeps sealed for its watermarks — specs, trigger sets (100–200 MB for 20,000 triggers), autoencoder weights.")
        var quotaTriggerSetBytes = ForensicService.Quotas().triggerSetBytes

        @Option(help: "Registrations made at once, all tenants together (making a 20,000-trigger set takes about 0.5 GB of memory).")
        var concurrentRegistrations = 1

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
            guard maxBodyBytes >= 64 << 10 else { throw ValidationError("--max-body-bytes must be at least 65536") }
            guard (1...256).contains(runningInvestigations) else { throw ValidationError("--running-investigations must be 1–256") }
            guard (1...64).contains(concurrentRegistrations) else { throw ValidationError("--concurrent-registrations must be 1–64") }
            guard quotaInvestigations >= 1, quotaWatermarks >= 1, quotaTriggerSetBytes >= 1 else {
                throw ValidationError("--quota-investigations, --quota-watermarks and --quota-trigger-set-bytes must be at least 1")
            }
        }

        func run() throws {
            let directory = URL(fileURLWithPath: vault)
            let (signer, passphrase) = try serviceKey(in: directory)
            let unlocking: Unlocking = try keyFile == nil ? .passphrase(passphrase) : Passphrase.unlocking(keyFile: keyFile)
            var configuration = ForensicService.Configuration(
                directory: directory, signer: signer, unlocking: unlocking,
                softwareVersion: TracemarkVersion.current, log: { printStatus("\(Vault.timestamp(Date())) \($0)") })
            configuration.maximumBodyBytes = maxBodyBytes
            configuration.allowsPrivateTargets = allowPrivateTargets
            configuration.runningInvestigations = runningInvestigations
            configuration.concurrentRegistrations = concurrentRegistrations
            configuration.quotas.investigations = quotaInvestigations
            configuration.quotas.watermarks = quotaWatermarks
            configuration.quotas.triggerSetBytes = quotaTriggerSetBytes
            let service = try ForensicService(configuration)
            let host = self.host
            let application = service.application(host: host, port: port) { port in
                print("listening on http://\(host):\(port) (service directory \(directory.path))")
                fflush(stdout)
            }
            try runUntilDone { try await application.runService() }
        }

        /// --key, or the key in the service directory, and the passphrase that unlocks it; a new
        /// directory gets a new key pair.
        private func serviceKey(in directory: URL) throws -> (SigningKey, String) {
            let privatePath = key ?? directory.appendingPathComponent("service.key.pem").path
            if let pem = FileManager.default.contents(atPath: privatePath) {
                let passphrase = try Passphrase.read(prompt: "Service passphrase: ")
                return (try SigningKey(pem: pem, passphrase: passphrase), passphrase)
            }
            let vaultExists = FileManager.default.fileExists(atPath: directory.appendingPathComponent(SQLiteVaultStore.fileName).path)
            guard key == nil, !vaultExists else { throw CommandFailure("cannot read the service's private key \(privatePath)") }
            let passphrase = try Passphrase.read(prompt: "Passphrase for the service's new key: ", confirm: true)
            let publicPath = directory.appendingPathComponent("service.pub.pem").path
            let signer = try writeNewKeyPair(privatePath: privatePath, publicPath: publicPath, passphrase: passphrase)
            printStatus("made the service's signing key \(signer.publicKey.keyID.prefix(16))…: \(privatePath) (encrypted), \(publicPath)")
            return (signer, passphrase)
        }
    }

    struct Tenant: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add and list the service's tenants.",
            subcommands: [Add.self, List.self]
        )

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Add a tenant and print its API token — the only time it is shown; the service keeps its SHA-256.")

            @Option(help: "The service directory.")
            var vault: String

            @Option(help: "The tenant's name (letters, digits, '-', '_', '.').")
            var name: String

            @Flag(help: "Print one JSON object with the results on standard output.")
            var json = false

            func run() throws {
                let (id, token) = try ForensicService.addTenant(directory: URL(fileURLWithPath: vault), name: name)
                if json { try printJSON(["id": id, "name": name, "token": token]) } else {
                    print("tenant \(name) (\(id)); its API token, shown only now — send it as 'Authorization: Bearer <token>':\n\(token)")
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "One line per tenant: id, name, created.")

            @Option(help: "The service directory.")
            var vault: String

            @Flag(help: "Print JSON on standard output.")
            var json = false

            func run() throws {
                let tenants = try ForensicService.tenants(directory: URL(fileURLWithPath: vault))
                if json { try printJSON(tenants.map { ["id": $0.id, "name": $0.name, "created": $0.created] }); return }
                if tenants.isEmpty { print("no tenants in \(vault)") }
                for tenant in tenants { print("\(tenant.id)  \(tenant.name)  \(tenant.created)") }
            }
        }
    }
}
