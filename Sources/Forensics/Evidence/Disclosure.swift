import Engine
import Foundation
import Vault

/// The opening of a registration's commitment, for a court: the canonical spec, the salt, and
/// the owner-signed log entry that committed to them. Anyone can check that SHA-256(spec ‖ salt)
/// is the commitment the report names, that the owner signed that entry, and that the spec is the
/// one whose triggers the transcript used.
public struct Disclosure: Codable, Equatable, Sendable {
    public static let format = "tracemark.disclosure/v1"
    public var format = Disclosure.format
    /// The canonical spec JSON, base64.
    public var spec: String
    /// The 32-byte salt, base64.
    public var salt: String
    /// The signed registration entry: its canonical payload (base64) and signature (base64).
    public var entryPayload: String
    public var entrySignature: String

    public init(spec: Data, salt: Data, entry: SignedBlob) {
        self.spec = spec.base64EncodedString()
        self.salt = salt.base64EncodedString()
        entryPayload = entry.payload.base64EncodedString()
        entrySignature = entry.signature.base64EncodedString()
    }

    public static func decode(_ data: Data) throws -> Disclosure {
        let disclosure = try CanonicalJSON.decode(Disclosure.self, from: data)
        guard disclosure.format == format else { throw ForensicsError.invalid("not a \(format) document") }
        return disclosure
    }

    func problems(registration: EvidencePredicate.Registration, specSha256: String, owner: PublicKey) -> [String] {
        guard let spec = Data(base64Encoded: spec), let salt = Data(base64Encoded: salt),
              let payload = Data(base64Encoded: entryPayload), let signature = Data(base64Encoded: entrySignature) else {
            return ["disclosure: a field is not base64"]
        }
        var problems: [String] = []
        let commitment = SealedSecret.commitment(spec: spec, salt: salt)
        if commitment != registration.commitment {
            problems.append("disclosure: SHA-256(spec ‖ salt) is \(commitment), the report's commitment is \(registration.commitment)")
        }
        if sha256Hex(spec) != specSha256 { problems.append("disclosure: the spec's SHA-256 is not the one the transcript probed with") }
        if !owner.verify(signature, of: preAuthenticationEncoding(type: RegistrationEntry.payloadType, body: payload)) {
            problems.append("disclosure: the registration entry's signature does not verify")
        } else if let entry = try? CanonicalJSON.decode(RegistrationEntry.self, from: payload) {
            if entry.commitment != registration.commitment || entry.index != registration.index || entry.time != registration.time
                || entry.modelDigest != registration.modelDigest || entry.recordId != registration.recordId
                || RegistrationEntry.hash(of: SignedBlob(payload: payload, signature: signature)) != registration.entrySha256 {
                problems.append("disclosure: the signed registration entry is not the one the report names")
            }
        } else {
            problems.append("disclosure: the registration entry does not parse")
        }
        return problems
    }
}
