/// The image cut into `pattern.count` equal stripes (columns when `vertical`, rows when
/// `horizontal`); stripe k comes from `b` where `pattern[k]` is true, else from `a`. The pattern is
/// part of the secret.
public struct Stripes: Codable, Equatable, Sendable {
    static let kind = "stripes"
    public enum Orientation: String, Codable, Sendable { case vertical, horizontal }

    public var orientation: Orientation
    public var pattern: [Bool]

    public init(orientation: Orientation, pattern: [Bool]) {
        precondition(pattern.count >= 2, "stripes need at least two stripes")
        precondition(pattern.contains(true) && pattern.contains(false), "a stripe pattern must take from both sources")
        self.orientation = orientation
        self.pattern = pattern
    }

    /// k stripes taken alternately, starting with `a`.
    public static func alternating(_ orientation: Orientation, count: Int) -> Stripes {
        Stripes(orientation: orientation, pattern: (0..<count).map { $0 % 2 == 1 })
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
