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
    public var ratio: Double
    public var autoencoderDigest: String
    /// The loaded weights; absent until attached, and not part of the spec's JSON or equality.
    public var autoencoder: Autoencoder?

    public init(ratio: Double, autoencoder: Autoencoder) {
        precondition(ratio > 0 && ratio < 1, "autoencoder-blend ratio must lie strictly between 0 and 1")
        self.ratio = ratio
        self.autoencoderDigest = autoencoder.digest
        self.autoencoder = autoencoder
    }

    private enum CodingKeys: String, CodingKey { case ratio, autoencoderDigest }

    public static func == (lhs: AutoencoderBlend, rhs: AutoencoderBlend) -> Bool {
        lhs.ratio == rhs.ratio && lhs.autoencoderDigest == rhs.autoencoderDigest
    }

    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let autoencoder else { preconditionFailure("autoencoder \(autoencoderDigest) was never attached to the spec") }
        autoencoder.blend(a, b, ratio: Float(ratio), into: out)
    }
}

extension WatermarkSpec {
    /// The file beside a spec that holds the autoencoder with this digest.
    public static func autoencoderFileName(digest: String) -> String { "autoencoder-\(digest.prefix(16)).safetensors" }

    private var combiners: [Combiner] { (watermark.map { [$0] } ?? []) + evasion }

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
