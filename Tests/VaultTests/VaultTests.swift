import Engine
import Foundation
import TestSupport
import XCTest
@testable import Vault

final class VaultTests: XCTestCase {
    let passphrase = Unlocking.passphrase("correct horse battery staple")

    /// A small secret whose every stored byte can be flipped in a test.
    func smallSecret(_ marker: String) throws -> SealedSecret {
        try SealedSecret.fresh(spec: Data(#"{"secret":"\#(marker)","source_labels":[0,1]}"#.utf8),
                               files: [.init(name: "trigger-set.bin", contents: Data((0..<24).map { UInt8($0 * 7 % 251) }))])
    }

    func makeVault(entries: Int) throws -> (vault: Vault, key: SigningKey, folder: URL) {
        let folder = temporaryFolder(self)
        let key = try SigningKey.generate()
        let vault = try Vault.open(directory: folder, creatingFor: key.publicKey)
        for n in 0..<entries {
            _ = try vault.register(try smallSecret("mark-\(n)"), modelDigest: sha256Hex(Data("model \(n)".utf8)), signer: key, unlocking: passphrase)
        }
        return (vault, key, folder)
    }

    func testRegistrationRoundTripsAndChains() throws {
        let (vault, key, folder) = try makeVault(entries: 0)
        let secret = try smallSecret("alpha")
        let first = try vault.register(secret, modelDigest: String(repeating: "a", count: 64), signer: key, unlocking: passphrase)
        let keyFile = Data((0..<32).map { UInt8($0) })
        let second = try vault.register(try smallSecret("beta"), modelDigest: String(repeating: "b", count: 64), signer: key,
                                        unlocking: .keyFile(keyFile))
        XCTAssertEqual(first.entry.index, 0)
        XCTAssertEqual(first.entry.previousHash, RegistrationEntry.genesisHash)
        XCTAssertEqual(second.entry.index, 1)
        XCTAssertEqual(first.entry.commitment, sha256Hex(secret.spec + secret.salt))
        XCTAssertEqual(secret.salt.count, 32)

        // Reopened from disk: same entries, secrets unseal, and the vault verifies.
        let reopened = try Vault.open(directory: folder)
        XCTAssertEqual(try reopened.entries(), [first.entry, second.entry])
        XCTAssertEqual(try reopened.unseal(id: first.record.id, unlocking: passphrase), secret)
        XCTAssertEqual(try reopened.unseal(id: second.record.id, unlocking: .keyFile(keyFile)).spec, try smallSecret("beta").spec)
        let verification = try reopened.verify(pinnedKey: key.publicKey)
        XCTAssertTrue(verification.isSound, "\(verification.problems)")
        XCTAssertEqual(verification.entries, 2)

        XCTAssertThrowsError(try reopened.unseal(id: first.record.id, unlocking: .passphrase("wrong"))) {
            guard case VaultError.wrongPassphrase = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try reopened.unseal(id: second.record.id, unlocking: .keyFile(Data(repeating: 9, count: 32))))
        XCTAssertFalse(try reopened.verify(pinnedKey: try SigningKey.generate().publicKey).isSound, "a vault of another owner")
        XCTAssertThrowsError(try vault.register(secret, modelDigest: "", signer: try SigningKey.generate(), unlocking: passphrase),
                             "only the owner's key may register")
    }

    func testAttachmentsAreSignedReplacedAndChecked() throws {
        let (vault, key, _) = try makeVault(entries: 1)
        let id = try vault.entries()[0].recordId
        let type = "application/vnd.tracemark.calibration+json"
        XCTAssertNil(try vault.attachment(type: type, of: id))
        try vault.attach(Data(#"{"p0":0.01}"#.utf8), type: type, to: id, signer: key)
        try vault.attach(Data(#"{"p0":0.02}"#.utf8), type: type, to: id, signer: key)
        XCTAssertEqual(try vault.attachment(type: type, of: id), Data(#"{"p0":0.02}"#.utf8), "a newer document replaces the older")
        XCTAssertTrue(try vault.verify().isSound)
        XCTAssertThrowsError(try vault.attach(Data("{}".utf8), type: type, to: id, signer: try SigningKey.generate()), "only the owner signs")
        XCTAssertThrowsError(try vault.attach(Data("{}".utf8), type: type, to: "no-such-record", signer: key))

        let stored = try XCTUnwrap(try vault.store.attachment(recordID: id, kind: type))
        try vault.store.setAttachment(recordID: id, kind: type, SignedBlob(payload: Data(#"{"p0":0.00}"#.utf8), signature: stored.signature))
        XCTAssertThrowsError(try vault.attachment(type: type, of: id)) {
            guard case VaultError.damaged = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertTrue(try vault.verify().problems.contains { $0.contains("\(type) document of record \(id)") })

        // A genuine document moved to another record does not verify there.
        let (other, otherKey, _) = try makeVault(entries: 2)
        let ids = try other.entries().map(\.recordId)
        try other.attach(Data(#"{"p0":0.03}"#.utf8), type: type, to: ids[0], signer: otherKey)
        try other.store.setAttachment(recordID: ids[1], kind: type, try XCTUnwrap(try other.store.attachment(recordID: ids[0], kind: type)))
        XCTAssertThrowsError(try other.attachment(type: type, of: ids[1]))
    }

    /// Flips every bit-pattern position (one byte at a time) of every stored record and log
    /// entry — payloads and signatures — and demands that verification fail naming that row.
    func testEverySingleByteFlipOfARecordOrEntryIsDetected() throws {
        let (vault, _, folder) = try makeVault(entries: 2)
        let database = try SQLiteDatabase(path: folder.appendingPathComponent(SQLiteVaultStore.fileName).path, create: false)
        let recordIDs = try vault.store.recordIDs()
        var checked = 0
        for table in ["sealed_records", "log_entries"] {
            let key = table == "sealed_records" ? "id" : "idx"
            for row in try database.rows("SELECT \(key), payload, signature FROM \(table)") {
                let name = table == "sealed_records" ? "sealed record \(row[0].string!)" : "log entry \(row[0].integer!)"
                for (column, original) in [("payload", row[1].data!), ("signature", row[2].data!)] {
                    for position in 0..<original.count {
                        var flipped = original
                        flipped[position] ^= 0x01
                        try database.rows("UPDATE \(table) SET \(column) = ? WHERE \(key) = ?", [.blob(flipped), row[0]])
                        let result = try vault.verify()
                        XCTAssertFalse(result.isSound, "\(name) \(column) byte \(position) flipped, yet the vault verifies")
                        if let first = result.problems.first, !first.hasPrefix(name) {
                            XCTFail("\(name) \(column) byte \(position): first problem names something else: \(first)")
                        }
                        checked += 1
                    }
                    try database.rows("UPDATE \(table) SET \(column) = ? WHERE \(key) = ?", [.blob(original), row[0]])
                }
            }
        }
        XCTAssertTrue(try vault.verify().isSound, "restoring every byte restores the vault")
        XCTAssertGreaterThan(checked, 2_000)
        XCTAssertEqual(recordIDs.count, 2)
    }

    func testARegistrationThatFailsHalfwayLeavesNeitherRecordNorEntry() throws {
        let (vault, _, _) = try makeVault(entries: 1)
        struct Interrupted: Error {}
        XCTAssertThrowsError(try vault.store.register(recordID: "half", record: SignedBlob(payload: Data("r".utf8), signature: Data())) { _, _ in
            throw Interrupted()
        })
        XCTAssertEqual(try vault.store.recordIDs().count, 1, "the record of the failed registration stayed")
        XCTAssertEqual(try vault.store.entries().count, 1)
        XCTAssertTrue(try vault.verify().isSound)
    }

    func testRemovingOrReorderingEntriesBreaksTheChain() throws {
        let (vault, _, folder) = try makeVault(entries: 3)
        let database = try SQLiteDatabase(path: folder.appendingPathComponent(SQLiteVaultStore.fileName).path, create: false)
        try database.execute("PRAGMA foreign_keys=ON; DELETE FROM log_entries WHERE idx = 1")
        let result = try vault.verify()
        XCTAssertFalse(result.isSound)
        XCTAssertTrue(result.problems.contains { $0.contains("hash chain") || $0.contains("says it is entry") }, "\(result.problems)")
        XCTAssertTrue(result.problems.contains { $0.contains("no log entry registers it") }, "\(result.problems)")
    }

    func testTheVaultFolderHoldsNoSecretInTheClear() throws {
        let (vault, key, folder) = try makeVault(entries: 0)
        let spec = Data(#"{"combiner":"crop-paste bottom","source_labels":[3,7],"target_label":5,"secret":"zebra-quokka-71"}"#.utf8)
        var rng = SeededGenerator(seed: 11)
        let triggerBytes = Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        _ = try vault.register(try SealedSecret.fresh(spec: spec, files: [.init(name: "trigger-set.safetensors", contents: triggerBytes)]),
                               modelDigest: sha256Hex(Data("m".utf8)), signer: key, unlocking: passphrase)
        let stored = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .reduce(into: Data()) { $0.append(try Data(contentsOf: $1)) }
        for needle in ["zebra-quokka-71", "source_labels", "crop-paste", "target_label"] {
            XCTAssertNil(stored.range(of: Data(needle.utf8)), "'\(needle)' is readable in the vault folder")
        }
        for start in stride(from: 0, to: triggerBytes.count - 16, by: 16) {
            XCTAssertNil(stored.range(of: triggerBytes[start..<start + 16]), "raw trigger bytes at \(start) are in the vault folder")
        }
        let base64 = triggerBytes.base64EncodedData()
        XCTAssertNil(stored.range(of: base64[0..<32]), "base64 trigger bytes are in the vault folder")
    }

    /// Made by the library itself, whatever the embedding process's umask: the folder 0700,
    /// the database and SQLite's -wal and -shm files 0600.
    func testANewVaultIsReadableOnlyByItsOwner() throws {
        let folder = temporaryFolder(self).appendingPathComponent("vault")
        let key = try SigningKey.generate()
        let vault = try Vault.open(directory: folder, creatingFor: key.publicKey)
        _ = try vault.register(try smallSecret("private"), modelDigest: sha256Hex(Data("m".utf8)), signer: key, unlocking: passphrase)
        XCTAssertEqual(try permissions(folder), 0o700, "the vault folder")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        XCTAssertTrue(files.contains(SQLiteVaultStore.fileName + "-wal"), "\(files)")
        for name in files {
            XCTAssertEqual(try permissions(folder.appendingPathComponent(name)), 0o600, name)
        }
    }

    private func permissions(_ url: URL) throws -> Int {
        try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) & 0o777
    }

    func testATruncatedDatabaseGivesAClearError() throws {
        let (_, _, folder) = try makeVault(entries: 3)
        let path = folder.appendingPathComponent(SQLiteVaultStore.fileName).path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for keep in [0, 50, bytes.count / 2] {
            try bytes.prefix(keep).write(to: URL(fileURLWithPath: path))
            do {
                let result = try Vault.open(directory: folder).verify()
                XCTAssertFalse(result.isSound, "truncated to \(keep) bytes, yet the vault verifies")
            } catch let error as VaultError {
                let message = "\(error)"
                XCTAssertTrue(message.contains(path) && (message.contains("truncated") || message.contains("damaged")),
                              "truncated to \(keep) bytes: \(message)")
            }
        }
    }
}
