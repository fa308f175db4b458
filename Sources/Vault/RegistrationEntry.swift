import Engine
import Foundation

/// One entry of the append-only registration log, signed by the owner. Each entry names the
/// hash of the one before, so removing, reordering or editing any entry breaks the chain.
public struct RegistrationEntry: Codable, Equatable, Sendable {
    public static let format = "tracemark.registration/v1"
    public static let payloadType = "application/vnd.tracemark.registration+json"
    /// The `previousHash` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)

    public var format = RegistrationEntry.format
    public var index: Int
    /// UTC, RFC 3339 (`2026-11-28T17:40:00Z`).
    public var time: String
    public var commitment: String
    public var modelDigest: String
    public var ownerKeyId: String
    public var recordId: String
    public var previousHash: String

    /// What the next entry names: SHA-256 of this entry's signed payload followed by its signature.
    public static func hash(of entry: SignedBlob) -> String { sha256Hex(entry.payload + entry.signature) }
}
