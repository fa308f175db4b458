import ArgumentParser
import Engine
import Foundation
import Vault

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault",
        abstract: "List, show, verify and disclose the registrations in an owner's vault.",
        subcommands: [List.self, Show.self, Verify.self, Export.self]
    )

    struct VaultOption: ParsableArguments {
        @Option(help: "The vault folder.")
        var vault: String

        func open() throws -> Vault { try Vault.open(directory: URL(fileURLWithPath: vault)) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per registration: index, time, record, commitment, model.")
        @OptionGroup var location: VaultOption
        @Flag(help: "Print JSON on standard output.") var json = false

        func run() throws {
            let entries = try location.open().entries()
            if json { try printJSON(entries); return }
            if entries.isEmpty { print("no registrations in \(location.vault)") }
            for entry in entries {
                print("\(entry.index)  \(entry.time)  record \(entry.recordId)  commitment \(entry.commitment.prefix(16))…  model \(entry.modelDigest.prefix(16))…")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The public facts of one registration (nothing secret).")
        @OptionGroup var location: VaultOption
        @Argument(help: "Record id (or a unique prefix) or log index.") var id: String
        @Flag(help: "Print JSON on standard output.") var json = false

        func run() throws {
            let vault = try location.open()
            let entry = try findEntry(id, in: vault)
            let record = try vault.record(id: entry.recordId)
            let shown = ShownRegistration(entry: entry, cipher: "AES-256-GCM", keyWrap: record.keyWrap.method.rawValue,
                                          scrypt: record.keyWrap.scrypt.map { "N=\($0.n) r=\($0.r) p=\($0.p)" },
                                          sealedBytes: record.contents.ciphertext.count)
            if json { try printJSON(shown); return }
            print("""
                entry \(entry.index) registered \(entry.time)
                record       \(entry.recordId)
                commitment   \(entry.commitment)
                model        \(entry.modelDigest)
                owner key    \(entry.ownerKeyId)
                previous     \(entry.previousHash)
                sealed       \(shown.sealedBytes) bytes, AES-256-GCM; data key wrapped by \(shown.keyWrap)\(shown.scrypt.map { " \($0)" } ?? "")
                """)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-check every signature, the hash chain and the database; name the first bad entry.",
            discussion: "Needs no passphrase. With --key, the vault's owner key must also be that public key. Exit status 1 when anything fails.")
        @OptionGroup var location: VaultOption
        @Option(help: "The owner's public key (PEM) the vault must belong to.") var key: String?
        @Flag(help: "Print JSON on standard output.") var json = false

        func run() throws {
            let result = try location.open().verify(pinnedKey: try key.map(loadPublicKey))
            if json { try printJSON(result) } else if result.isSound {
                print("vault sound: \(result.entries) entries, \(result.records) sealed records, hash chain intact, owner key \(result.ownerKeyId)")
            } else {
                print("vault FAILED verification (\(result.problems.count) problems); first: \(result.problems[0])")
                for problem in result.problems.dropFirst() { print("  \(problem)") }
            }
            if !result.isSound { throw ExitCode.failure }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disclose one registration's opening (spec, salt, trigger set) for a court.",
            discussion: """
            Writes spec.json, salt.bin, the trigger set and any autoencoder weights, and \
            opening.json into --out. Anyone can then check the commitment in the signed log: \
            `cat spec.json salt.bin | sha256sum`. This reveals the secret watermark: do it only when \
            disclosure is required.
            """)
        @OptionGroup var location: VaultOption
        @Option(help: "Record id (or a unique prefix) or log index to disclose.") var disclose: String
        @Option(help: "Folder to write the opening into (must not exist yet, or be empty).") var out: String
        @Option(help: "Key file the record was sealed with, instead of the passphrase.") var keyFile: String?
        @Flag(help: "Print JSON on standard output.") var json = false

        func run() throws {
            let vault = try location.open()
            let entry = try findEntry(disclose, in: vault)
            let secret = try vault.unseal(id: entry.recordId, unlocking: try Passphrase.unlocking(keyFile: keyFile))
            let folder = URL(fileURLWithPath: out)
            if let existing = try? FileManager.default.contentsOfDirectory(atPath: out), !existing.isEmpty {
                throw CommandFailure("\(out) is not empty; choose a new folder for the opening")
            }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let opening = Opening(recordId: entry.recordId, index: entry.index, commitment: entry.commitment,
                                  salt: hex(secret.salt), specSha256: sha256Hex(secret.spec), modelDigest: entry.modelDigest,
                                  files: ["spec.json", "salt.bin"] + secret.files.map(\.name))
            var writes = [("spec.json", secret.spec), ("salt.bin", secret.salt), ("opening.json", try CanonicalJSON.encode(opening))]
            writes += secret.files.map { ($0.name, $0.contents) }
            for (name, contents) in writes {
                try contents.write(to: folder.appendingPathComponent(name), options: .atomic)
            }
            if json { try printJSON(opening) } else {
                print("disclosed entry \(entry.index) (record \(entry.recordId)) into \(out)")
                print("check: cat \(out)/spec.json \(out)/salt.bin | sha256sum  →  \(entry.commitment)")
            }
        }
    }
}

struct ShownRegistration: Encodable {
    var entry: RegistrationEntry
    var cipher: String
    var keyWrap: String
    var scrypt: String?
    var sealedBytes: Int
}

/// What a disclosure hands over: enough to recompute the logged commitment.
struct Opening: Codable {
    var recordId: String
    var index: Int
    var commitment: String
    var salt: String
    var specSha256: String
    var modelDigest: String
    var files: [String]
}

/// An entry by log index, record id or unique record-id prefix.
func findEntry(_ reference: String, in vault: Vault) throws -> RegistrationEntry {
    let entries = try vault.entries()
    if let index = Int(reference), let entry = entries.first(where: { $0.index == index }) { return entry }
    let matches = entries.filter { $0.recordId.hasPrefix(reference.lowercased()) }
    guard matches.count == 1 else {
        throw CommandFailure(matches.isEmpty ? "no registration \(reference) in this vault" : "\(reference) matches \(matches.count) records; give more of the id")
    }
    return matches[0]
}
