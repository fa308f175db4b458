import Data
import Engine
import Foundation

/// Labelled images made from a data set by a watermark spec: watermark (trigger) samples, evasion
/// samples, and for each combined sample the two source images it was made of (the combination
/// loss compares the model's output on the mix with its outputs on them).
public struct TriggerSamples {
    public var itemShape: [Int]
    public var images: [Float]
    public var labels: [Int32]
    /// Source images of each sample, in the same order (empty for content-trigger samples).
    public var firstSources: [Float]
    public var secondSources: [Float]

    public var count: Int { labels.count }

    /// These samples followed by `other`'s.
    public func appending(_ other: TriggerSamples) -> TriggerSamples {
        TriggerSamples(itemShape: itemShape, images: images + other.images, labels: labels + other.labels,
                       firstSources: firstSources + other.firstSources, secondSources: secondSources + other.secondSources)
    }

    /// The samples as safetensors: `images` (N, C, H, W) and `labels` (N), raw pixels in [0, 1].
    public func encoded() -> Data {
        Safetensors(entries: [
            .init(name: "images", shape: [count] + itemShape, values: images),
            .init(name: "labels", shape: [count], values: labels.map(Float.init)),
        ], metadata: ["format": "tracemark.trigger-set/v1"]).encoded()
    }
}

/// Draws trigger and evasion samples for a spec from one data set, reproducibly from a seed.
public struct TriggerFactory {
    public let spec: WatermarkSpec
    public let dataset: Dataset
    private let pools: [[Int]]
    private let otherThanTarget: [Int]
    /// Other source pairs (neither the target nor the secret pair) with images of both classes.
    public let otherPairs: [(Int, Int)]
    private let classPools: [[Int]]
    /// The data set's items, which every combiner and the content trigger were checked to fit:
    /// the samples below combine and stamp without checking again.
    private let geometry: ImageGeometry

    public init(spec: WatermarkSpec, dataset: Dataset) throws {
        // The spec may have been changed since it was made (a calibration's decoys are), so it is
        // checked again before any image is made from it.
        if let problem = spec.problems.first { throw WatermarkError.invalid(problem) }
        if let digest = spec.missingAutoencoders.first {
            throw WatermarkError.mismatch("the spec's autoencoder \(digest) is not attached; keep \(WatermarkSpec.autoencoderFileName(digest: digest)) beside the spec")
        }
        geometry = try ImageGeometry(shape: dataset.itemShape)
        for combiner in spec.combiners { try combiner.check(fits: geometry) }
        try spec.contentTrigger?.check(fits: geometry)
        self.spec = spec
        self.dataset = dataset
        pools = spec.sourceLabels.map { label in dataset.labels.indices.filter { dataset.labels[$0] == Int32(label) } }
        otherThanTarget = dataset.labels.indices.filter { dataset.labels[$0] != Int32(spec.targetLabel) }
        if let empty = zip(spec.sourceLabels, pools).first(where: { $0.1.isEmpty }) {
            throw WatermarkError.mismatch("\(dataset.name) has no images of source class \(empty.0)")
        }
        if otherThanTarget.isEmpty { throw WatermarkError.mismatch("\(dataset.name) has no images outside the target class") }
        var classPools = [[Int]](repeating: [], count: spec.classNames.count)
        for (index, label) in dataset.labels.enumerated() where classPools.indices.contains(Int(label)) { classPools[Int(label)].append(index) }
        self.classPools = classPools
        let candidates = classPools.indices.filter { $0 != spec.targetLabel && !classPools[$0].isEmpty }
        otherPairs = candidates.flatMap { a in candidates.filter { $0 > a }.map { (a, $0) } }.filter { Set([$0.0, $0.1]) != Set(spec.sourceLabels) }
    }

    /// `count` trigger samples labelled with the target; with `keeping` (strictly ascending indices
    /// below `count`), only those of the `count` drawn, the same images as unfiltered.
    public func watermarkSamples(count: Int, seed: UInt64, keeping: ArraySlice<Int>? = nil) -> TriggerSamples {
        var rng = SeededGenerator(seed: seed)
        let kept = keeping ?? ArraySlice(0..<count)
        switch spec.method {
        case .meaDefender:
            return combined(count: count, keeping: kept, combiners: [spec.watermark!], rng: &rng) { _ in Int32(spec.targetLabel) }
        case .contentTrigger:
            return stamped(count: count, keeping: kept, rng: &rng)
        }
    }

    /// `count` evasion samples spread over the evasion combiners, each labelled with one of its
    /// two true source labels at random.
    public func evasionSamples(count: Int, seed: UInt64) -> TriggerSamples {
        var rng = SeededGenerator(seed: seed)
        guard spec.method == .meaDefender, !spec.evasion.isEmpty else { return empty }
        var labelRNG = rng.fork()
        return combined(count: count, keeping: ArraySlice(0..<count), combiners: spec.evasion, rng: &rng) { _ in
            Int32(spec.sourceLabels[Int(labelRNG.next() & 1)])
        }
    }

    /// `count` mixes of other source pairs combined the secret way, each labelled with one of its
    /// own two source labels: they teach the model that the secret way alone does not trigger,
    /// only with the secret pair (so look-alikes of other pairs stay clean, in the victim and in
    /// whatever copies its answers).
    public func otherPairEvasionSamples(count: Int, seed: UInt64) -> TriggerSamples {
        guard spec.method == .meaDefender, let way = spec.watermark, !otherPairs.isEmpty, count > 0 else { return empty }
        var rng = SeededGenerator(seed: seed)
        let size = dataset.itemSize
        var samples = empty
        samples.images = [Float](repeating: 0, count: count * size)
        samples.firstSources = [Float](repeating: 0, count: count * size)
        samples.secondSources = [Float](repeating: 0, count: count * size)
        dataset.images.withUnsafeBufferPointer { images in
            for n in 0..<count {
                let (first, second) = otherPairs[Int(rng.next() % UInt64(otherPairs.count))]
                let a = images.baseAddress! + classPools[first][Int(rng.next() % UInt64(classPools[first].count))] * size
                let b = images.baseAddress! + classPools[second][Int(rng.next() % UInt64(classPools[second].count))] * size
                samples.images.withUnsafeMutableBufferPointer { way.combine(a, b, into: $0.baseAddress! + n * size, geometry, rng: &rng) }
                samples.firstSources.withUnsafeMutableBufferPointer { ($0.baseAddress! + n * size).update(from: a, count: size) }
                samples.secondSources.withUnsafeMutableBufferPointer { ($0.baseAddress! + n * size).update(from: b, count: size) }
                samples.labels.append(Int32(rng.next() & 1 == 0 ? first : second))
            }
        }
        return samples
    }

    private var empty: TriggerSamples {
        TriggerSamples(itemShape: dataset.itemShape, images: [], labels: [], firstSources: [], secondSources: [])
    }

    /// Draws `count` mixes and keeps those at `kept`: every draw takes the same random numbers,
    /// so a kept mix is the image an unfiltered draw makes at its index.
    private func combined(count: Int, keeping kept: ArraySlice<Int>, combiners: [Combiner], rng: inout SeededGenerator,
                          label: (Int) -> Int32) -> TriggerSamples {
        let size = dataset.itemSize
        var samples = empty
        samples.images = [Float](repeating: 0, count: kept.count * size)
        samples.firstSources = [Float](repeating: 0, count: kept.count * size)
        samples.secondSources = [Float](repeating: 0, count: kept.count * size)
        samples.labels.reserveCapacity(kept.count)
        var discarded = [Float](repeating: 0, count: size)
        var next = kept.startIndex
        dataset.images.withUnsafeBufferPointer { images in
            samples.images.withUnsafeMutableBufferPointer { out in
                samples.firstSources.withUnsafeMutableBufferPointer { first in
                    samples.secondSources.withUnsafeMutableBufferPointer { second in
                        for n in 0..<count where next < kept.endIndex {
                            let a = images.baseAddress! + pools[0][Int(rng.next() % UInt64(pools[0].count))] * size
                            let b = images.baseAddress! + pools[1][Int(rng.next() % UInt64(pools[1].count))] * size
                            let combiner = combiners[n % combiners.count]
                            guard kept[next] == n else {
                                discarded.withUnsafeMutableBufferPointer { combiner.combine(a, b, into: $0.baseAddress!, geometry, rng: &rng) }
                                continue
                            }
                            let slot = (next - kept.startIndex) * size
                            combiner.combine(a, b, into: out.baseAddress! + slot, geometry, rng: &rng)
                            (first.baseAddress! + slot).update(from: a, count: size)
                            (second.baseAddress! + slot).update(from: b, count: size)
                            samples.labels.append(label(n))
                            next += 1
                        }
                    }
                }
            }
        }
        return samples
    }

    private func stamped(count: Int, keeping kept: ArraySlice<Int>, rng: inout SeededGenerator) -> TriggerSamples {
        let size = dataset.itemSize, trigger = spec.contentTrigger!
        var samples = empty
        samples.images = [Float](repeating: 0, count: kept.count * size)
        samples.labels = [Int32](repeating: Int32(spec.targetLabel), count: kept.count)
        var next = kept.startIndex
        dataset.images.withUnsafeBufferPointer { images in
            samples.images.withUnsafeMutableBufferPointer { out in
                for n in 0..<count where next < kept.endIndex {
                    let source = images.baseAddress! + otherThanTarget[Int(rng.next() % UInt64(otherThanTarget.count))] * size
                    guard kept[next] == n else { continue }
                    trigger.stamp(source, into: out.baseAddress! + (next - kept.startIndex) * size, geometry)
                    next += 1
                }
            }
        }
        return samples
    }
}
