import Engine

/// The classic baseline watermark: a fixed pixel patch stamped on any image makes the model answer
/// the target label. Its trigger is content the main task never sees, so a thief who copies the
/// model through clean queries does not copy it — which is what the baseline is there to show.
public struct ContentTrigger: Codable, Equatable, Sendable {
    /// Top-left corner and side of the square patch, in pixels.
    public var x, y, size: Int
    /// Row-major on/off pattern of the patch (on = 1, off = 0 in every channel).
    public var pattern: [Bool]

    public init(x: Int, y: Int, size: Int, pattern: [Bool]) {
        precondition(pattern.count == size * size, "a \(size)×\(size) patch needs \(size * size) pattern bits")
        self.x = x
        self.y = y
        self.size = size
        self.pattern = pattern
    }

    /// A random on/off patch of `size` in the bottom-right corner of a `shape` item.
    public static func random(size: Int = 4, shape: [Int], rng: inout SeededGenerator) -> ContentTrigger {
        let pattern = (0..<(size * size)).map { _ in rng.next() & 1 == 1 }
        return ContentTrigger(x: shape[2] - size - 1, y: shape[1] - size - 1, size: size, pattern: pattern)
    }

    /// Writes `image` with the patch stamped into `out`.
    public func stamp(_ image: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, shape: [Int]) {
        let g = ImageGeometry(shape: shape)
        out.update(from: image, count: g.count)
        for c in 0..<g.channels {
            for dy in 0..<size where y + dy < g.height {
                for dx in 0..<size where x + dx < g.width {
                    out[(c * g.height + y + dy) * g.width + x + dx] = pattern[dy * size + dx] ? 1 : 0
                }
            }
        }
    }
}
