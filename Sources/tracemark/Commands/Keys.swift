import ArgumentParser
import Foundation
import Vault

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make and inspect the owner's Ed25519 signing keys.",
        subcommands: [Generate.self, ID.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new Ed25519 key pair: NAME.key.pem (PKCS#8, encrypted) and NAME.pub.pem.",
            discussion: """
            The private key is encrypted with the passphrase from TRACEMARK_PASSPHRASE (or asked \
            on the terminal) under scrypt and AES-256-CBC (PKCS#8 PBES2, as `openssl pkcs8 -topk8 \
            -v2 aes-256-cbc -scrypt` writes it) and reads with `openssl pkey -in NAME.key.pem -passin \
            env:TRACEMARK_PASSPHRASE`. The key id is the SHA-256 of the DER public key. The folder is \
            made readable by its owner only (0700); existing files are never overwritten. keys/ is \
            git-ignored: keys/README.md says how to keep, back up and rotate the private key; share \
            the public key with whoever checks reports.
            """
        )

        @Option(help: "Folder to write the key pair into (created if absent, 0700).")
        var out = "keys"

        @Option(help: "File name stem.")
        var name = "owner"

        @Flag(help: "Print one JSON object with the results on standard output.")
        var json = false

        func run() throws {
            let folder = URL(fileURLWithPath: out)
            let privatePath = folder.appendingPathComponent("\(name).key.pem").path
            let publicPath = folder.appendingPathComponent("\(name).pub.pem").path
            for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
                throw CommandFailure("\(path) exists; keys are never overwritten")
            }
            let passphrase = try Passphrase.read(prompt: "Passphrase for the new private key: ", confirm: true)
            let key = try writeNewKeyPair(privatePath: privatePath, publicPath: publicPath, passphrase: passphrase)
            let result = KeyReport(keyId: key.publicKey.keyID, privateKey: privatePath, publicKey: publicPath)
            if json { try printJSON(result) } else {
                print("key id \(result.keyId)\nprivate key \(privatePath) (encrypted)\npublic key \(publicPath)")
            }
        }
    }

    struct ID: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "id", abstract: "Print the key id (SHA-256 of the DER public key) of a public key PEM.")

        @Argument(help: "A public key PEM (NAME.pub.pem).")
        var publicKey: String

        func run() throws {
            print(try loadPublicKey(publicKey).keyID)
        }
    }
}

struct KeyReport: Encodable {
    var keyId: String
    var privateKey: String
    var publicKey: String
}

/// A new Ed25519 key pair: the private key encrypted with `passphrase`, the public key beside
/// it, both readable by their owner only. The folder holds a private key, so it is made 0700,
/// or set to 0700 when it exists (`keys/` comes out of git 0755).
func writeNewKeyPair(privatePath: String, publicPath: String, passphrase: String) throws -> SigningKey {
    let key = try SigningKey.generate()
    let folder = URL(fileURLWithPath: privatePath).deletingLastPathComponent()
    try OwnerOnlyFiles.createDirectory(at: folder)
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder.path)
    try OwnerOnlyFiles.write(try key.encryptedPEM(passphrase: passphrase), to: URL(fileURLWithPath: privatePath))
    try OwnerOnlyFiles.write(key.publicKey.pem, to: URL(fileURLWithPath: publicPath))
    return key
}

func loadPublicKey(_ path: String) throws -> PublicKey {
    guard let pem = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read public key \(path)") }
    return try PublicKey(pem: pem)
}
