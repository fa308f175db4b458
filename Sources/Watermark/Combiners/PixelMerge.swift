/// Every pixel a weighted average of the two sources: `ratio·a + (1 − ratio)·b`.
public struct PixelMerge: Codable, Equatable, Sendable {
    static let kind = "pixel-merge"
    public var ratio: Double

    public init(ratio: Double) {
        precondition(ratio > 0 && ratio < 1, "pixel-merge ratio must lie strictly between 0 and 1")
        self.ratio = ratio
    }

    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ g: ImageGeometry) {
        let r = Float(ratio)
        for i in 0..<g.count { out[i] = r * a[i] + (1 - r) * b[i] }
    }
}
