import Engine
import Foundation

/// Two images mixed in the latent space of an autoencoder trained on the main task:
/// decode(ratio·encode(a) + (1 − ratio)·encode(b)). The result looks like a plausible image of
/// neither class rather than a visible splice.
///
/// The spec names the autoencoder by the SHA-256 of its weights (so the commitment covers them);
/// the weights themselves travel beside the spec and are attached when it is loaded.
public struct AutoencoderBlend: Codable, Equatable, Sendable {
    static let kind = "autoencoder-blend"
    public let ratio: Double
    public let autoencoderDigest: String
    /// The loaded weights; absent until attached (by digest), and not part of the spec's JSON or
    /// equality.
    public internal(set) var autoencoder: Autoencoder?

    /// A blend naming its autoencoder by digest, to be attached later.
    public init(ratio: Double, autoencoderDigest: String) throws {
        guard ratio > 0 && ratio < 1 else {
            throw WatermarkError.invalid("autoencoder-blend ratio must lie strictly between 0 and 1, got \(ratio)")
        }
        // The digest names a file beside the spec, so it must be the hex a digest is and never a path.
        guard isSHA256Hex(autoencoderDigest) else {
            throw WatermarkError.invalid("autoencoder-blend autoencoder_digest must be a SHA-256 in lowercase hex (64 digits), got '\(autoencoderDigest.prefix(80))'")
        }
        self.ratio = ratio
        self.autoencoderDigest = autoencoderDigest
    }

    public init(ratio: Double, autoencoder: Autoencoder) throws {
        try self.init(ratio: ratio, autoencoderDigest: autoencoder.digest)
        self.autoencoder = autoencoder
    }

    private enum CodingKeys: String, CodingKey { case ratio, autoencoderDigest }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let ratio = try container.decode(Double.self, forKey: .ratio), digest = try container.decode(String.self, forKey: .autoencoderDigest)
        self = try decoder.validated { try AutoencoderBlend(ratio: ratio, autoencoderDigest: digest) }
    }

    public static func == (lhs: AutoencoderBlend, rhs: AutoencoderBlend) -> Bool {
        lhs.ratio == rhs.ratio && lhs.autoencoderDigest == rhs.autoencoderDigest
    }

    /// The blend, once `Combiner.check(fits:)` has found the autoencoder attached and built for
    /// these items.
    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let autoencoder else { preconditionFailure("autoencoder \(autoencoderDigest) was never attached (Combiner.check(fits:) refuses that)") }
        autoencoder.blend(a, b, ratio: Float(ratio), into: out)
    }
}

extension WatermarkSpec {
    /// The file beside a spec that holds the autoencoder with this digest.
    public static func autoencoderFileName(digest: String) -> String { "autoencoder-\(digest.prefix(16)).safetensors" }

    var combiners: [Combiner] { (watermark.map { [$0] } ?? []) + evasion }

    /// Digests of autoencoders the combiners name but that are not attached yet.
    public var missingAutoencoders: [String] {
        let missing = combiners.compactMap { combiner -> String? in
            if case .autoencoderBlend(let blend) = combiner, blend.autoencoder == nil { return blend.autoencoderDigest }
            return nil
        }
        return Array(Set(missing)).sorted()
    }

    /// The distinct autoencoders attached to the combiners.
    public var attachedAutoencoders: [Autoencoder] {
        var seen = Set<String>(), found: [Autoencoder] = []
        for case .autoencoderBlend(let blend) in combiners {
            if let autoencoder = blend.autoencoder, seen.insert(blend.autoencoderDigest).inserted { found.append(autoencoder) }
        }
        return found
    }

    /// Gives every combiner that names `autoencoder` (by digest) its weights.
    public mutating func attach(_ autoencoder: Autoencoder) {
        let digest = autoencoder.digest
        func attached(_ combiner: Combiner) -> Combiner {
            guard case .autoencoderBlend(var blend) = combiner, blend.autoencoderDigest == digest else { return combiner }
            blend.autoencoder = autoencoder
            return .autoencoderBlend(blend)
        }
        watermark = watermark.map(attached)
        evasion = evasion.map(attached)
    }

    /// The attached autoencoders' weights, each under the file name the spec expects.
    public var autoencoderFiles: [(name: String, contents: Data)] {
        attachedAutoencoders.map { (Self.autoencoderFileName(digest: $0.digest), $0.encoded()) }
    }

    /// Attaches the autoencoders the spec needs, reading each file by name with `read` and
    /// checking its digest; `place` says where the files were looked for.
    public mutating func attachAutoencoders(from place: String, read: (_ fileName: String) -> Data?) throws {
        for digest in missingAutoencoders {
            let name = Self.autoencoderFileName(digest: digest)
            guard let data = read(name) else {
                throw WatermarkError.unreadable(path: "\(name) (the spec's autoencoder weights, expected \(place))")
            }
            guard sha256Hex(data) == digest else {
                throw WatermarkError.invalidSpec(path: "\(name) \(place)", reason: "its SHA-256 is not the digest \(digest) the spec names")
            }
            attach(try Autoencoder.decode(data, path: name))
        }
    }

    /// Writes each attached autoencoder into `folder` under its file name.
    func writeAutoencoders(to folder: URL) throws {
        for file in autoencoderFiles {
            let path = folder.appendingPathComponent(file.name).path
            do {
                try file.contents.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw WatermarkError.unwritable(path: path, reason: error.localizedDescription)
            }
        }
    }
}
