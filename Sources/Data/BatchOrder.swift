import Engine

/// Seeded shuffling and batching: epoch e visits the items in a permutation fixed by (seed, e).
public struct BatchOrder: Sequence {
    public let indices: [Int]
    public let batchSize: Int

    public init(count: Int, batchSize: Int, seed: UInt64, epoch: Int, shuffle: Bool = true) {
        precondition(batchSize > 0, "batch size must be positive")
        indices = shuffle ? Self.permutation(count: count, seed: seed &+ UInt64(epoch) &* 0x9E37_79B9) : Array(0..<count)
        self.batchSize = batchSize
    }

    public var batchCount: Int { Self.batchCount(items: indices.count, batchSize: batchSize) }

    /// Batches per epoch: the last one may be short.
    public static func batchCount(items: Int, batchSize: Int) -> Int { (items + batchSize - 1) / batchSize }

    public func makeIterator() -> AnyIterator<ArraySlice<Int>> {
        var start = 0
        return AnyIterator {
            guard start < indices.count else { return nil }
            defer { start += batchSize }
            return indices[start..<Swift.min(start + batchSize, indices.count)]
        }
    }

    /// Fisher–Yates with its own generator, so the order depends on the seed alone.
    public static func permutation(count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var rng = SeededGenerator(seed: seed)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        return order
    }
}
