import Foundation
import Vault

/// A Dead Simple Signing Envelope (DSSE v1): the payload's bytes in base64, their type, and
/// Ed25519 signatures over `PAE(type, payload)`. Verification checks the exact payload bytes
/// before anything parses them; the key id is a hint, never a reason to reject.
public struct DSSEEnvelope: Codable, Equatable, Sendable {
    public struct Signature: Codable, Equatable, Sendable {
        public var keyid: String
        public var sig: String
    }

    public var payload: String
    public var payloadType: String
    public var signatures: [Signature]

    public static func sign(_ body: Data, type: String, with key: SigningKey) throws -> DSSEEnvelope {
        let signature = try key.sign(preAuthenticationEncoding(type: type, body: body))
        return DSSEEnvelope(payload: body.base64EncodedString(), payloadType: type,
                            signatures: [Signature(keyid: key.publicKey.keyID, sig: signature.base64EncodedString())])
    }

    /// The payload's bytes, if one of the signatures verifies with `key`.
    public func verifiedPayload(with key: PublicKey) throws -> Data {
        guard let body = Data(base64Encoded: payload) else { throw ForensicsError.invalid("payload: not base64") }
        let message = preAuthenticationEncoding(type: payloadType, body: body)
        guard signatures.contains(where: { Data(base64Encoded: $0.sig).map { key.verify($0, of: message) } ?? false }) else {
            throw ForensicsError.invalid("signatures: none verifies with key \(key.keyID)")
        }
        return body
    }

    /// The envelope as one line of JSON with sorted keys, its field names exactly DSSE's. The
    /// form is canonical, so a file holds no byte that could change without `decode` noticing.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads an envelope, refusing any file that is not exactly its canonical form (changed
    /// whitespace or key order, or base64 with altered padding bits, which would decode to the
    /// same bytes and so slip past the signature).
    public static func decode(_ data: Data) throws -> DSSEEnvelope {
        let envelope: DSSEEnvelope
        do { envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: data) } catch {
            throw ForensicsError.invalid("not a DSSE envelope (\(error.localizedDescription))")
        }
        func canonicalBase64(_ text: String) -> Bool { Data(base64Encoded: text)?.base64EncodedString() == text }
        guard (try? envelope.encoded()) == data, canonicalBase64(envelope.payload), envelope.signatures.allSatisfy({ canonicalBase64($0.sig) }) else {
            throw ForensicsError.invalid("envelope: not in canonical form (whitespace, key order or base64 altered)")
        }
        return envelope
    }
}
