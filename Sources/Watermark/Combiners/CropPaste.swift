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

    public var region: Region
    public var fraction: Double
    public var jitter: Int
    /// Rotation of `b` before pasting, in degrees: 0, 90, 180 or 270.
    public var rotation: Int
    public var swapsSources: Bool

    public init(region: Region, fraction: Double = 0.5, jitter: Int = 0, rotation: Int = 0, swapsSources: Bool = false) {
        precondition(fraction > 0 && fraction < 1, "crop-paste fraction must lie strictly between 0 and 1")
        precondition([0, 90, 180, 270].contains(rotation), "crop-paste rotation must be 0, 90, 180 or 270")
        self.region = region
        self.fraction = fraction
        self.jitter = jitter
        self.rotation = rotation
        self.swapsSources = swapsSources
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
