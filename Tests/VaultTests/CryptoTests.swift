import Engine
import Foundation
import TestSupport
import XCTest
@testable import Vault

final class CryptoTests: XCTestCase {
    func testAESGCMRoundTripsAndRejectsAnyChange() throws {
        let key = Data((0..<32).map { UInt8($0) }), aad = Data("record 1".utf8)
        let box = try AESGCM.seal(Data("the secret watermark".utf8), key: key, associatedData: aad)
        XCTAssertEqual(AESGCM.open(box, key: key, associatedData: aad), Data("the secret watermark".utf8))
        XCTAssertNil(AESGCM.open(box, key: key, associatedData: Data("record 2".utf8)), "records must not be swappable")
        var wrongKey = key
        wrongKey[0] ^= 1
        XCTAssertNil(AESGCM.open(box, key: wrongKey, associatedData: aad))
        for field in 0..<3 {
            var tampered = box
            switch field {
            case 0: tampered.nonce[3] ^= 0x40
            case 1: tampered.ciphertext[5] ^= 0x01
            default: tampered.tag[15] ^= 0x80
            }
            XCTAssertNil(AESGCM.open(tampered, key: key, associatedData: aad))
        }
        XCTAssertNotEqual(try AESGCM.seal(Data("x".utf8), key: key, associatedData: aad).nonce,
                          try AESGCM.seal(Data("x".utf8), key: key, associatedData: aad).nonce)
    }

    /// RFC 7914 section 12, second vector (N = 1024, r = 8, p = 16), first 32 bytes.
    func testScryptMatchesTheRFCVector() throws {
        let parameters = ScryptParameters(n: 1024, r: 8, p: 16, salt: Data("NaCl".utf8))
        XCTAssertEqual(hex(try parameters.deriveKey(from: "password")),
                       "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    }

    func testPreAuthenticationEncodingMatchesTheDSSEVector() {
        XCTAssertEqual(String(decoding: preAuthenticationEncoding(type: "http://example.com/HelloWorld", body: Data("hello world".utf8)), as: UTF8.self),
                       "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    func testKeysRoundTripThroughEncryptedPEMAndSignaturesVerify() throws {
        let key = try SigningKey.generate()
        let pem = try key.encryptedPEM(passphrase: "correct horse")
        XCTAssertTrue(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        let reloaded = try SigningKey(pem: pem, passphrase: "correct horse")
        XCTAssertEqual(reloaded.publicKey.keyID, key.publicKey.keyID)
        XCTAssertThrowsError(try SigningKey(pem: pem, passphrase: "wrong")) {
            guard case VaultError.wrongPassphrase = $0 else { return XCTFail("\($0)") }
        }
        let publicKey = try PublicKey(pem: key.publicKey.pem)
        XCTAssertEqual(publicKey.keyID, sha256Hex(publicKey.der))
        let message = Data("registration".utf8)
        let signature = try reloaded.sign(message)
        XCTAssertEqual(signature.count, 64)
        XCTAssertTrue(publicKey.verify(signature, of: message))
        XCTAssertFalse(publicKey.verify(signature, of: Data("registratioN".utf8)))
        XCTAssertFalse(try SigningKey.generate().publicKey.verify(signature, of: message))
        XCTAssertThrowsError(try PublicKey(pem: Data("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".utf8)))
    }

    /// The owner key under PBES2 with scrypt, as `openssl pkcs8 -topk8 -v2 aes-256-cbc -scrypt`
    /// writes it, not OpenSSL's default PBKDF2 of 2,048 iterations.
    func testOwnerKeysAreEncryptedWithScryptThatOpenSSLReads() throws {
        guard let openssl = opensslPath else { throw XCTSkip("openssl is not installed: apt-get install openssl") }
        let folder = temporaryFolder(self)
        let key = try SigningKey.generate()
        let file = folder.appendingPathComponent("owner.key.pem")
        try key.encryptedPEM(passphrase: "pass phrase").write(to: file)

        let structure = try runProgram(openssl, ["asn1parse", "-in", file.path])
        XCTAssertEqual(structure.status, 0, structure.output)
        XCTAssertTrue(structure.output.contains(":PBES2"), structure.output)
        XCTAssertTrue(structure.output.contains(":scrypt"), "the key is not encrypted under scrypt:\n\(structure.output)")
        XCTAssertTrue(structure.output.contains(":aes-256-cbc"), structure.output)
        XCTAssertFalse(structure.output.contains("PBKDF2"), structure.output)

        let environment = ["TM_TEST_PASS": "pass phrase", "TM_WRONG_PASS": "pass phrasE"]
        let exported = try runProgram(openssl, ["pkey", "-in", file.path, "-passin", "env:TM_TEST_PASS", "-pubout"], environment: environment)
        XCTAssertEqual(exported.status, 0, exported.output)
        XCTAssertEqual(try PublicKey(pem: Data(exported.output.utf8)).keyID, key.publicKey.keyID)
        XCTAssertNotEqual(try runProgram(openssl, ["pkey", "-in", file.path, "-passin", "env:TM_WRONG_PASS", "-noout"], environment: environment).status, 0,
                          "openssl must refuse a wrong passphrase")
        XCTAssertThrowsError(try SigningKey(pem: try Data(contentsOf: file), passphrase: "pass phrasE")) {
            guard case VaultError.wrongPassphrase = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try SigningKey(pem: try Data(contentsOf: file), passphrase: "pass phrase").publicKey.keyID, key.publicKey.keyID)
    }

    /// Keys written before scrypt (PBES2 with PBKDF2, `openssl pkcs8 -topk8 -v2 aes-256-cbc`) still load.
    func testOwnerKeysEncryptedWithPBKDF2StillLoad() throws {
        let legacy = Data("""
            -----BEGIN ENCRYPTED PRIVATE KEY-----
            MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgV7yNqszfx5AICCAAw
            DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEFjdKd5pt0RKAFWGLvl6YPAEQMAM
            rx5MlqpA3R21wAtQAN3PCQ6bxhiqoGvsnOrZad+T4+RgrHFxfkQUk0s/OOlpECrk
            jk5GTCBoxL6o8EHCtBc=
            -----END ENCRYPTED PRIVATE KEY-----

            """.utf8)
        XCTAssertEqual(try SigningKey(pem: legacy, passphrase: "legacy pass").publicKey.keyID,
                       "ca81173b99364f911b42ef73822572bc99bb09d758bec1426faebf1820b6ca7b")
        XCTAssertThrowsError(try SigningKey(pem: legacy, passphrase: "legacy pasS"))
    }

    func testKeysInteroperateWithTheOpenSSLCommand() throws {
        guard let openssl = opensslPath else { throw XCTSkip("openssl is not installed: apt-get install openssl") }
        let folder = temporaryFolder(self)
        let environment = ["TM_TEST_PASS": "pass phrase"]

        // Ours, read by openssl: same public key.
        let ours = try SigningKey.generate()
        let ourKey = folder.appendingPathComponent("ours.key.pem")
        try ours.encryptedPEM(passphrase: "pass phrase").write(to: ourKey)
        let exported = try runProgram(openssl, ["pkey", "-in", ourKey.path, "-passin", "env:TM_TEST_PASS", "-pubout"], environment: environment)
        XCTAssertEqual(exported.status, 0, exported.output)
        XCTAssertEqual(try PublicKey(pem: Data(exported.output.utf8)).keyID, ours.publicKey.keyID)

        // openssl's key, read by us; key ids agree with the DER hash openssl prints.
        let theirs = folder.appendingPathComponent("theirs.key.pem").path
        XCTAssertEqual(try runProgram(openssl, ["genpkey", "-algorithm", "ed25519", "-out", theirs]).status, 0)
        let key = try SigningKey(pem: try Data(contentsOf: URL(fileURLWithPath: theirs)), passphrase: nil)
        let der = folder.appendingPathComponent("theirs.pub.der").path
        XCTAssertEqual(try runProgram(openssl, ["pkey", "-in", theirs, "-pubout", "-outform", "DER", "-out", der]).status, 0)
        XCTAssertEqual(key.publicKey.keyID, sha256Hex(try Data(contentsOf: URL(fileURLWithPath: der))))
    }

    func testOurSignatureVerifiesWithOpenSSLPkeyutl() throws {
        guard let openssl = opensslPath else { throw XCTSkip("openssl is not installed: apt-get install openssl") }
        let folder = temporaryFolder(self)
        let key = try SigningKey.generate()
        let pae = preAuthenticationEncoding(type: RegistrationEntry.payloadType, body: Data(#"{"index":0}"#.utf8))
        let files = (pub: folder.appendingPathComponent("owner.pub.pem"), pae: folder.appendingPathComponent("pae.bin"),
                     sig: folder.appendingPathComponent("sig.bin"))
        try key.publicKey.pem.write(to: files.pub)
        try pae.write(to: files.pae)
        try key.sign(pae).write(to: files.sig)
        let verify = ["pkeyutl", "-verify", "-pubin", "-inkey", files.pub.path, "-rawin", "-in", files.pae.path, "-sigfile", files.sig.path]
        let good = try runProgram(openssl, verify)
        XCTAssertEqual(good.status, 0, good.output)
        XCTAssertTrue(good.output.contains("Signature Verified Successfully"), good.output)
        var tampered = pae
        tampered[tampered.count - 2] ^= 1
        try tampered.write(to: files.pae)
        XCTAssertNotEqual(try runProgram(openssl, verify).status, 0, "openssl must reject a changed message")
    }
}
