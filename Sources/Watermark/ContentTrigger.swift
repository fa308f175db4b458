import Engine

/// The classic baseline watermark: a fixed pixel patch stamped on any image makes the model answer
/// the target label. Its trigger is content the main task never sees, so a thief who copies the
/// model through clean queries does not copy it — which is what the baseline is there to show.
public struct ContentTrigger: Codable, Equatable, Sendable {
    /// Top-left corner and side of the square patch, in pixels.
    public let x, y, size: Int
    /// Row-major on/off pattern of the patch (on = 1, off = 0 in every channel).
    public let pattern: [Bool]

    /// Up to twice the side of the largest catalog item (a spec also refuses a patch that does
    /// not fit inside its data set's items).
    public static let sizes = 1...64

    public init(x: Int, y: Int, size: Int, pattern: [Bool]) throws {
        guard Self.sizes.contains(size) else {
            throw WatermarkError.invalid("content_trigger size must be \(Self.sizes.lowerBound)–\(Self.sizes.upperBound) pixels, got \(size)")
        }
        guard x >= 0, y >= 0 else { throw WatermarkError.invalid("content_trigger x and y must be 0 or more, got (\(x), \(y))") }
        guard pattern.count == size * size else {
            throw WatermarkError.invalid("content_trigger pattern has \(pattern.count) bits; a \(size)×\(size) patch needs \(size * size)")
        }
        self.x = x
        self.y = y
        self.size = size
        self.pattern = pattern
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let x = try container.decode(Int.self, forKey: .x), y = try container.decode(Int.self, forKey: .y)
        let size = try container.decode(Int.self, forKey: .size), pattern = try container.decode([Bool].self, forKey: .pattern)
        self = try decoder.validated { try ContentTrigger(x: x, y: y, size: size, pattern: pattern) }
    }

    /// A random on/off patch of `size` in the bottom-right corner of a `shape` item, one pixel in
    /// from each edge.
    public static func random(size: Int = 4, shape: [Int], rng: inout SeededGenerator) throws -> ContentTrigger {
        let geometry = try ImageGeometry(shape: shape)
        let pattern = (0..<(size * size)).map { _ in rng.next() & 1 == 1 }
        return try ContentTrigger(x: geometry.width - size - 1, y: geometry.height - size - 1, size: size, pattern: pattern)
    }

    /// Whether the patch lies inside items of `geometry` (x and y are never negative).
    func fits(_ geometry: ImageGeometry) -> Bool { x <= geometry.width - size && y <= geometry.height - size }

    func check(fits geometry: ImageGeometry) throws {
        guard fits(geometry) else {
            throw WatermarkError.mismatch("content_trigger (\(size)×\(size) at x \(x), y \(y)) does not fit in \(geometry.height)×\(geometry.width) items")
        }
    }

    /// Writes `image` with the patch stamped into `out`; both hold one item of `shape`.
    public func stamp(_ image: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, shape: [Int]) throws {
        let geometry = try ImageGeometry(shape: shape)
        try check(fits: geometry)
        stamp(image, into: out, geometry)
    }

    /// The stamp for a geometry the patch was checked to fit (`check(fits:)`): TriggerFactory
    /// checks once for all its samples.
    func stamp(_ image: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ g: ImageGeometry) {
        out.update(from: image, count: g.count)
        for c in 0..<g.channels {
            for dy in 0..<size {
                for dx in 0..<size {
                    out[(c * g.height + y + dy) * g.width + x + dx] = pattern[dy * size + dx] ? 1 : 0
                }
            }
        }
    }
}
