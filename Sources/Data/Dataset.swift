import Engine

/// Labelled images in memory: raw pixels in [0, 1], items of `itemShape` (C, H, W) end to end.
public struct Dataset: Sendable {
    public var name: String
    public var itemShape: [Int]
    public var images: [Float]
    public var labels: [Int32]
    public var classNames: [String]

    public init(name: String, itemShape: [Int], images: [Float], labels: [Int32], classNames: [String]) {
        precondition(images.count == labels.count * itemShape.reduce(1, *), "images and labels disagree in count")
        self.name = name
        self.itemShape = itemShape
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    public var count: Int { labels.count }
    public var itemSize: Int { itemShape.reduce(1, *) }

    /// The items at `indices`, in that order.
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        var pixels = [Float](repeating: 0, count: indices.count * itemSize)
        images.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { destination in
                for (row, index) in indices.enumerated() {
                    (destination.baseAddress! + row * itemSize).update(from: source.baseAddress! + index * itemSize, count: itemSize)
                }
            }
        }
        return Dataset(name: name ?? self.name, itemShape: itemShape, images: pixels,
                       labels: indices.map { labels[$0] }, classNames: classNames)
    }

    /// `count` items drawn at random with `seed` (all of them when there are fewer), in their order here.
    public func randomSubset(_ count: Int, seed: UInt64) -> Dataset {
        var order = Array(labels.indices)
        var rng = SeededGenerator(seed: seed)
        order.shuffle(using: &rng)
        return subset(Array(order.prefix(count)).sorted())
    }

    /// The first `limit` items (all of them when `limit` is nil or larger).
    public func prefix(_ limit: Int?) -> Dataset { slice(offset: 0, limit: limit.map { Swift.max($0, 0) }) }

    /// `limit` items (all the rest when nil) starting at item `offset`: with the same limit and
    /// offsets a limit apart, disjoint subsets. Empty when `offset` is past the end.
    public func slice(offset: Int, limit: Int?) -> Dataset {
        precondition(offset >= 0 && (limit ?? 0) >= 0, "an offset and a limit are never negative")
        let start = Swift.min(offset, count)
        let end = limit.map { Swift.min(start + Swift.min($0, count), count) } ?? count
        if start == 0 && end == count { return self }
        return subset(Array(start..<end))
    }

    /// Per-channel mean and standard deviation of the pixels, for normalisation.
    public func channelStatistics() -> (mean: [Float], std: [Float]) {
        let channels = itemShape[0], plane = itemSize / channels
        var sums = [Double](repeating: 0, count: channels), squares = [Double](repeating: 0, count: channels)
        images.withUnsafeBufferPointer { x in
            for n in 0..<count {
                for c in 0..<channels {
                    var s: Double = 0, q: Double = 0
                    for i in 0..<plane {
                        let v = Double(x[n * itemSize + c * plane + i])
                        s += v
                        q += v * v
                    }
                    sums[c] += s
                    squares[c] += q
                }
            }
        }
        let total = Double(Swift.max(count * plane, 1))
        let mean = sums.map { $0 / total }
        let std = zip(squares, mean).map { Swift.max(($0 / total - $1 * $1).squareRoot(), 1e-6) }
        return (mean.map(Float.init), std.map(Float.init))
    }
}
