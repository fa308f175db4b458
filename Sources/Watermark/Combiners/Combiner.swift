import Engine

/// A way of making one image out of two source images using only their content, so that the
/// result carries nothing but main-task features (MEA-Defender's "combining way").
///
/// Serialised as a JSON object with a `kind` and that kind's parameters, e.g.
/// `{"kind":"crop-paste","region":"bottom","fraction":0.5,"jitter":3,...}`.
public enum Combiner: Equatable, Sendable {
    case cropPaste(CropPaste)
    case pixelMerge(PixelMerge)
    case stripes(Stripes)
    case autoencoderBlend(AutoencoderBlend)

    public var kind: String {
        switch self {
        case .cropPaste: return CropPaste.kind
        case .pixelMerge: return PixelMerge.kind
        case .stripes: return Stripes.kind
        case .autoencoderBlend: return AutoencoderBlend.kind
        }
    }

    /// Combines items `a` and `b` of `shape` (C, H, W) into `out`. Random per-sample choices
    /// (a jittered cut, swapped sources) come from `rng`, so a seed fixes every sample.
    public func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                        shape: [Int], rng: inout SeededGenerator) throws {
        let geometry = try ImageGeometry(shape: shape)
        try check(fits: geometry)
        combine(a, b, into: out, geometry, rng: &rng)
    }

    /// Refuses items this combiner cannot make: an autoencoder blend needs its autoencoder
    /// attached and built for items of this shape; the pixel-level kinds take any.
    func check(fits geometry: ImageGeometry) throws {
        guard case .autoencoderBlend(let blend) = self else { return }
        guard let autoencoder = blend.autoencoder else {
            throw WatermarkError.mismatch("the autoencoder \(blend.autoencoderDigest) was never attached to the spec")
        }
        guard autoencoder.itemShape == geometry.shape else {
            throw WatermarkError.mismatch("the autoencoder takes \(autoencoder.itemShape) items, not \(geometry.shape)")
        }
    }

    /// The combination for a geometry checked with `check(fits:)`: TriggerFactory checks once
    /// for all its samples.
    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                 _ geometry: ImageGeometry, rng: inout SeededGenerator) {
        switch self {
        case .cropPaste(let c): c.combine(a, b, into: out, geometry, rng: &rng)
        case .pixelMerge(let c): c.combine(a, b, into: out, geometry)
        case .stripes(let c): c.combine(a, b, into: out, geometry)
        case .autoencoderBlend(let c): c.combine(a, b, into: out)
        }
    }

    /// A short human-readable description for logs and reports.
    public var summary: String {
        switch self {
        case .cropPaste(let c):
            return "crop-paste \(c.region.rawValue) \(c.fraction) jitter \(c.jitter) rotation \(c.rotation)\(c.swapsSources ? " swapped" : "")"
        case .pixelMerge(let c): return "pixel-merge ratio \(c.ratio)"
        case .stripes(let c): return "stripes \(c.orientation.rawValue) \(c.pattern.map { $0 ? "b" : "a" }.joined())"
        case .autoencoderBlend(let c): return "autoencoder-blend ratio \(c.ratio) (autoencoder \(c.autoencoderDigest.prefix(12)))"
        }
    }
}

/// (C, H, W) of one item, with pixel addressing. Made only from three positive dimensions whose
/// product fits in an Int, so no index computed from it within an item overflows.
struct ImageGeometry: Equatable {
    let channels, height, width, count: Int

    init(shape: [Int]) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw WatermarkError.mismatch("images must be (C, H, W) items of positive sizes, got \(shape)")
        }
        guard let count = elementCount(shape) else { throw WatermarkError.mismatch("items of shape \(shape) have more than \(Int.max) pixels") }
        (channels, height, width) = (shape[0], shape[1], shape[2])
        self.count = count
    }

    var shape: [Int] { [channels, height, width] }
}

extension Combiner: Codable {
    private enum CodingKeys: String, CodingKey { case kind }

    public init(from decoder: Decoder) throws {
        let kind = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .kind)
        switch kind {
        case CropPaste.kind: self = .cropPaste(try CropPaste(from: decoder))
        case PixelMerge.kind: self = .pixelMerge(try PixelMerge(from: decoder))
        case Stripes.kind: self = .stripes(try Stripes(from: decoder))
        case AutoencoderBlend.kind: self = .autoencoderBlend(try AutoencoderBlend(from: decoder))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.kind],
                                                    debugDescription: "unknown combiner kind '\(kind)' (known: crop-paste, pixel-merge, stripes, autoencoder-blend)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .cropPaste(let c): try c.encode(to: encoder)
        case .pixelMerge(let c): try c.encode(to: encoder)
        case .stripes(let c): try c.encode(to: encoder)
        case .autoencoderBlend(let c): try c.encode(to: encoder)
        }
    }
}
