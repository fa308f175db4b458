import Engine

/// A region of image `b` (optionally rotated first) pasted over image `a`. The region is a side
/// (`top`, `bottom`, `left`, `right`: the given `fraction` of the height or width) or a quadrant
/// (`top-left`, …: that fraction of both). `jitter` moves the cut by up to that many pixels per
/// sample; `swapsSources` swaps a and b at random per sample. MEA-Defender's released code uses the
/// bottom half with a ±3 pixel cut and random swapping.
public struct CropPaste: Codable, Equatable, Sendable {
    static let kind = "crop-paste"

    public enum Region: String, Codable, Sendable, CaseIterable {
        case top, bottom, left, right
        case topLeft = "top-left", topRight = "top-right", bottomLeft = "bottom-left", bottomRight = "bottom-right"
    }

    public let region: Region
    public let fraction: Double
    public let jitter: Int
    /// Rotation of `b` before pasting, in degrees: 0, 90, 180 or 270.
    public let rotation: Int
    public let swapsSources: Bool

    /// Twice the side of the largest catalog item: any larger and the cut lands on an edge.
    public static let jitters = 0...64
    public static let rotations = [0, 90, 180, 270]

    public init(region: Region, fraction: Double = 0.5, jitter: Int = 0, rotation: Int = 0, swapsSources: Bool = false) throws {
        guard fraction > 0 && fraction < 1 else {
            throw WatermarkError.invalid("crop-paste fraction must lie strictly between 0 and 1, got \(fraction)")
        }
        guard Self.jitters.contains(jitter) else {
            throw WatermarkError.invalid("crop-paste jitter must be \(Self.jitters.lowerBound)–\(Self.jitters.upperBound) pixels, got \(jitter)")
        }
        guard Self.rotations.contains(rotation) else {
            throw WatermarkError.invalid("crop-paste rotation must be 0, 90, 180 or 270, got \(rotation)")
        }
        self.region = region
        self.fraction = fraction
        self.jitter = jitter
        self.rotation = rotation
        self.swapsSources = swapsSources
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let region = try container.decode(Region.self, forKey: .region), fraction = try container.decode(Double.self, forKey: .fraction)
        let jitter = try container.decode(Int.self, forKey: .jitter), rotation = try container.decode(Int.self, forKey: .rotation)
        let swapsSources = try container.decode(Bool.self, forKey: .swapsSources)
        self = try decoder.validated {
            try CropPaste(region: region, fraction: fraction, jitter: jitter, rotation: rotation, swapsSources: swapsSources)
        }
    }

    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                 _ g: ImageGeometry, rng: inout SeededGenerator) {
        let swap = swapsSources && rng.next() & 1 == 1
        let base = swap ? b : a, pasted = swap ? a : b
        let shiftY = jitter > 0 ? Int(rng.next() % UInt64(2 * jitter + 1)) - jitter : 0
        let shiftX = jitter > 0 ? Int(rng.next() % UInt64(2 * jitter + 1)) - jitter : 0
        let cutY = clamp(Int((Double(g.height) * fraction).rounded()) + shiftY, 1, g.height - 1)
        let cutX = clamp(Int((Double(g.width) * fraction).rounded()) + shiftX, 1, g.width - 1)
        // The pasted region as row and column ranges.
        let rows: Range<Int>, columns: Range<Int>
        switch region {
        case .top: (rows, columns) = (0..<cutY, 0..<g.width)
        case .bottom: (rows, columns) = ((g.height - cutY)..<g.height, 0..<g.width)
        case .left: (rows, columns) = (0..<g.height, 0..<cutX)
        case .right: (rows, columns) = (0..<g.height, (g.width - cutX)..<g.width)
        case .topLeft: (rows, columns) = (0..<cutY, 0..<cutX)
        case .topRight: (rows, columns) = (0..<cutY, (g.width - cutX)..<g.width)
        case .bottomLeft: (rows, columns) = ((g.height - cutY)..<g.height, 0..<cutX)
        case .bottomRight: (rows, columns) = ((g.height - cutY)..<g.height, (g.width - cutX)..<g.width)
        }
        out.update(from: base, count: g.count)
        for c in 0..<g.channels {
            for y in rows {
                for x in columns {
                    let (sy, sx) = rotatedSource(y, x, g)
                    out[(c * g.height + y) * g.width + x] = pasted[(c * g.height + sy) * g.width + sx]
                }
            }
        }
    }

    /// The pixel of `b` that lands on (y, x) after rotating `b` by `rotation` degrees clockwise
    /// (quarter turns need square images; other shapes fall back to the half turn's symmetry).
    private func rotatedSource(_ y: Int, _ x: Int, _ g: ImageGeometry) -> (Int, Int) {
        switch rotation {
        case 90 where g.height == g.width: return (g.width - 1 - x, y)
        case 180: return (g.height - 1 - y, g.width - 1 - x)
        case 270 where g.height == g.width: return (x, g.height - 1 - y)
        default: return (y, x)
        }
    }
}

@inline(__always) func clamp(_ value: Int, _ low: Int, _ high: Int) -> Int { Swift.min(Swift.max(value, low), high) }
