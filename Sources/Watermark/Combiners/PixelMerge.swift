/// Every pixel a weighted average of the two sources: `ratio·a + (1 − ratio)·b`.
public struct PixelMerge: Codable, Equatable, Sendable {
    static let kind = "pixel-merge"
    public let ratio: Double

    public init(ratio: Double) throws {
        guard ratio > 0 && ratio < 1 else { throw WatermarkError.invalid("pixel-merge ratio must lie strictly between 0 and 1, got \(ratio)") }
        self.ratio = ratio
    }

    public init(from decoder: Decoder) throws {
        let ratio = try decoder.container(keyedBy: CodingKeys.self).decode(Double.self, forKey: .ratio)
        self = try decoder.validated { try PixelMerge(ratio: ratio) }
    }

    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ g: ImageGeometry) {
        let r = Float(ratio)
        for i in 0..<g.count { out[i] = r * a[i] + (1 - r) * b[i] }
    }
}
