/// The image cut into `pattern.count` equal stripes (columns when `vertical`, rows when
/// `horizontal`); stripe k comes from `b` where `pattern[k]` is true, else from `a`. The pattern is
/// part of the secret.
public struct Stripes: Codable, Equatable, Sendable {
    static let kind = "stripes"
    public enum Orientation: String, Codable, Sendable { case vertical, horizontal }

    public let orientation: Orientation
    public let pattern: [Bool]

    /// Up to one stripe per pixel row of an item eight times the largest catalog item's side.
    public static let counts = 2...256

    public init(orientation: Orientation, pattern: [Bool]) throws {
        guard Self.counts.contains(pattern.count) else {
            throw WatermarkError.invalid("stripes need \(Self.counts.lowerBound)–\(Self.counts.upperBound) stripes, got \(pattern.count)")
        }
        guard pattern.contains(true) && pattern.contains(false) else {
            throw WatermarkError.invalid("a stripes pattern must take from both sources")
        }
        self.orientation = orientation
        self.pattern = pattern
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let orientation = try container.decode(Orientation.self, forKey: .orientation), pattern = try container.decode([Bool].self, forKey: .pattern)
        self = try decoder.validated { try Stripes(orientation: orientation, pattern: pattern) }
    }

    /// k stripes taken alternately, starting with `a`.
    public static func alternating(_ orientation: Orientation, count: Int) throws -> Stripes {
        try Stripes(orientation: orientation, pattern: (0..<count).map { $0 % 2 == 1 })
    }

    func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ g: ImageGeometry) {
        let extent = orientation == .vertical ? g.width : g.height
        for c in 0..<g.channels {
            for y in 0..<g.height {
                for x in 0..<g.width {
                    let position = orientation == .vertical ? x : y
                    let i = (c * g.height + y) * g.width + x
                    out[i] = pattern[position * pattern.count / extent] ? b[i] : a[i]
                }
            }
        }
    }
}
